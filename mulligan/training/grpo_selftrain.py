"""``mulligan selftrain --method grpo``: an iteration is one epoch of GRPO over the training tasks.

Where the other methods collect, export and fine-tune, GRPO collects inside its trainer: each optimizer
step plays ``samples`` episodes (G) of a few training tasks with the current weights. One iteration
plays every training task G times, the same episode budget as one iteration of ``star`` (``train_tasks``
x ``samples``), and continues from the previous iteration's checkpoint (RL has no dataset to re-fit from
the bootstrap, so ``init`` does not apply). The episodes are kept in ``iter-K/model/rollouts.jsonl`` and
give the iteration's collection metrics (pass@1, pass@k, diversity, recovery); the mean reward of each
step is in ``iter-K/model/train_log.json`` and in the stage's ``reward_curve`` (``won_curve``: the
share of each step's episodes won).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from mulligan.records import Trajectory, read_jsonl
from mulligan.training.iteration_metrics import recovery, sampling_metrics
from mulligan.training.methods import SelfTrainConfig


def grpo_options(config: SelfTrainConfig, run_name: str | None = None) -> dict[str, Any]:
    """The :func:`~mulligan.training.grpo.train_grpo` options of one iteration (``config.grpo`` on top)."""
    g = config.samples
    options: dict[str, Any] = dict(
        env=config.env, split=config.train_split, tasks=config.train_tasks, start=config.train_start,
        num_generations=g, temperature=config.temperature, max_tokens=config.max_tokens,
        max_env_steps=config.max_steps, concurrency=config.concurrency, seed=config.seed, epochs=1.0,
        # One task's G episodes per forward pass (multi-turn sequences are long), ``batch_size`` episodes a step.
        batch_size=g, gradient_accumulation_steps=max(1, config.batch_size // g), progress=False,
        report_to=list(config.report_to), run_name=run_name,
    )
    if config.admissible != "off":
        options["agent_options"] = {"admissible": config.admissible}
    return {**options, **config.grpo}


def reward_curve(log_history: list[dict[str, Any]], episodes_per_step: int) -> list[list[float]]:
    """``[episodes played so far, mean reward of the step]`` for each logged step (the weighted rewards)."""
    return [[float(e["step"] * episodes_per_step), float(e["reward"])] for e in log_history if "reward" in e]


def won_curve(trajs: list[Trajectory]) -> list[list[float]]:
    """``[episodes played so far, share of the step's episodes won]`` for each rollout, in order."""
    steps: dict[int, list[bool]] = {}
    for t in trajs:
        steps.setdefault(int(t.iteration or 0), []).append(t.success)
    out, played = [], 0
    for step in sorted(steps):
        played += len(steps[step])
        out.append([float(played), sum(steps[step]) / len(steps[step])])
    return out


def grpo_iteration(config: SelfTrainConfig, policy: Path, folder: Path, console: Console | None = None) -> dict:
    """Train ``policy`` with one epoch of GRPO into ``folder/model``; returns the stage's result."""
    import json

    from mulligan.training.grpo import train_grpo
    from mulligan.training.grpo_rollout import ROLLOUTS

    model = folder / "model"
    shutil.rmtree(model, ignore_errors=True)
    options = grpo_options(config, run_name=f"{folder.parent.name}/{folder.name}")
    result = train_grpo(str(policy), model, lora=config.lora, **options)
    trajs = read_jsonl(model / ROLLOUTS, Trajectory)
    log = json.loads((model / "train_log.json").read_text())
    losses = [e["loss"] for e in log if "loss" in e]
    sampling = sampling_metrics(trajs, options["num_generations"])
    metrics = {
        "collect_success": sum(t.success for t in trajs) / len(trajs) if trajs else None,
        "pass@1": sampling["pass@1"], "pass@k": sampling[f"pass@{sampling['k']}"], "k": sampling["k"],
        "diversity": sampling["diversity"], "collect_recovery": recovery(trajs)["rate"], "cl": None, "cs": None,
        "rows": len(trajs), "trained": True, "loss": losses[-1] if losses else None,
    }
    episodes_per_step = result.episodes // max(1, result.steps)
    if console is not None:
        console.print(f"  grpo: {result.steps} steps, {result.episodes} episodes ({result.success:.1%} won), "
                      f"{result.wall_s:.0f} s", highlight=False)
    return {"trained": True, "rows": result.episodes, "loss": metrics["loss"], "metrics": metrics,
            "reward_curve": reward_curve(log, episodes_per_step), "won_curve": won_curve(trajs)}
