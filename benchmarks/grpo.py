"""GRPO on the household: why token ids must not be re-tokenized, and what a GRPO step costs.

1. Re-tokenization: the default policy plays ``--episodes`` sampled episodes on ``train`` at each
   ``--temperatures``; for every reply, does tokenizing its text give back the ids it generated?
   Where it does not, a trainer that re-tokenizes the transcript trains on tokens nobody sampled
   (mulligan trains on the recorded ids, so this is what it avoids, not what it suffers).
2. GRPO: ``--steps`` optimizer steps of ``--tasks-per-step`` tasks x G episodes (admissible actions
   ``nearest``); per step, seconds in the rollout and in the update, the mean reward, the share of
   turns trained (the rest were replaced by the constraint), and the tokens trained per episode.

    python benchmarks/grpo.py                       # 64 episodes per temperature, 4 GRPO steps
    python benchmarks/grpo.py --episodes 8 --steps 1 --max-steps 5    # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run_suite
from mulligan.training.finetune import load_tokenizer, resolve_checkpoint
from mulligan.training.grpo import grpo_config, make_trainer
from mulligan.training.grpo_rollout import EnvRollout
from mulligan.training.sft import _load_model

console = Console(width=120)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="Checkpoint folder, or 'default'.")
    parser.add_argument("--episodes", type=int, default=64, help="Episodes per temperature (part 1).")
    parser.add_argument("--temperatures", default="0.3,1.0")
    parser.add_argument("--steps", type=int, default=4, help="GRPO optimizer steps (part 2).")
    parser.add_argument("--tasks-per-step", type=int, default=2)
    parser.add_argument("--generations", type=int, default=4, help="G: episodes per task.")
    parser.add_argument("--max-steps", type=int, default=None, help="Env step cap (default: the env's).")
    parser.add_argument("--lr", type=float, default=1e-5)
    return parser.parse_args()


def retokenization(model: Path, tokenizer, temperature: float, episodes: int, max_steps: int | None) -> dict:
    """Replies of sampled episodes whose text does not tokenize back to the ids generated."""
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(split="train", tasks=episodes, model=f"transformers:{model}", concurrency=32,
                           max_steps=max_steps, out=tmp,
                           agent_options={"params": {"temperature": temperature, "max_tokens": 64}})
        started = time.perf_counter()
        asyncio.run(run_suite(config))
        wall = time.perf_counter() - started
        trajs = RunDir(tmp).trajectories()
    eos = {tokenizer.eos_token_id}
    replies = differ = 0
    for traj in trajs:
        for step in traj.steps:
            if not step.token_ids:
                continue
            generated = [t for t in step.token_ids if t not in eos]
            replies += 1
            differ += tokenizer(step.raw, add_special_tokens=False)["input_ids"] != generated
    return {"temperature": temperature, "episodes": len(trajs), "replies": replies, "differ": differ, "wall_s": wall}


class TimedRollout(EnvRollout):
    """The rollout, timed, keeping every batch of episodes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds: list[float] = []
        self.batches: list[list] = []

    def __call__(self, prompts, trainer):
        started = time.perf_counter()
        out = super().__call__(prompts, trainer)
        self.seconds.append(time.perf_counter() - started)
        self.batches.append(list(self.last))
        return out


def grpo_steps(model: Path, tokenizer, args: argparse.Namespace) -> list[dict]:
    g, tasks = args.generations, args.tasks_per_step
    with tempfile.TemporaryDirectory() as tmp:
        config = grpo_config(tmp, lr=args.lr, batch_size=g, progress=False, gradient_accumulation_steps=tasks,
                             tasks=tasks * args.steps, num_generations=g, max_env_steps=args.max_steps,
                             agent_options={"admissible": "nearest"}, rewards={"won": 1.0, "invalid": -0.05})
        rollout = TimedRollout(config, tokenizer)
        trainer = make_trainer(config, _load_model(model), tokenizer, rollout=rollout)
        trainer.train()
    logs = [e for e in trainer.state.log_history if "reward" in e]
    rows = []
    for k, (entry, batch) in enumerate(zip(logs, rollout.batches)):
        rollout_s = rollout.seconds[k]
        trained = sum(sum(seq.env_mask) for _, seq in batch)
        rows.append({
            "step": k + 1, "episodes": len(batch), "rollout_s": rollout_s, "update_s": entry["step_time"] - rollout_s,
            "reward": entry["reward"], "won": sum(t.success for t, _ in batch) / len(batch),
            "trained_turns": entry["episodes/trained_turn_share"], "tokens": trained / len(batch),
            "steps": entry["episodes/steps"],
        })
    return rows


def main() -> int:
    args = parse_args()
    console.print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    model = resolve_checkpoint(args.model)
    tokenizer = load_tokenizer(model)
    table = Table(title=f"Re-tokenizing the replies of {model.name} (what a text-level trainer would train on)")
    for col in ("temperature", "episodes", "replies", "differ", "share", "wall s"):
        table.add_column(col, justify="right")
    for temperature in [float(t) for t in args.temperatures.split(",")]:
        r = retokenization(model, tokenizer, temperature, args.episodes, args.max_steps)
        table.add_row(f"{temperature:.1f}", str(r["episodes"]), str(r["replies"]), str(r["differ"]),
                      f"{r['differ'] / max(1, r['replies']):.1%}", f"{r['wall_s']:.0f}")
    console.print(table)
    rows = grpo_steps(model, tokenizer, args)
    table = Table(title=f"GRPO steps: {args.tasks_per_step} tasks x G={args.generations}, lr {args.lr}, "
                        "admissible=nearest, rewards won - 0.05 x invalid")
    for col in ("step", "episodes", "rollout s", "update s", "reward", "won", "steps/ep", "turns trained",
                "tokens trained/ep"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["step"]), str(r["episodes"]), f"{r['rollout_s']:.1f}", f"{r['update_s']:.1f}",
                      f"{r['reward']:.3f}", f"{r['won']:.0%}", f"{r['steps']:.1f}", f"{r['trained_turns']:.0%}",
                      f"{r['tokens']:.0f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
