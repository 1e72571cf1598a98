"""Reinforcement learning from the env's reward: multi-turn GRPO through TRL's ``GRPOTrainer``.

Each optimizer step, the policy being trained plays ``num_generations`` episodes of each of a few tasks
(:class:`~mulligan.training.grpo_rollout.EnvRollout`, TRL's ``rollout_func``); the rewards
(:mod:`mulligan.training.grpo_rewards`: the env's ``won``, optional penalties for invalid actions and
length, critics) are normalised within each task's group into advantages; the loss falls only on the
tokens the policy generated, exactly as it generated them (the env mask: observations, template glue and
replies the admissible constraint replaced carry none). With ``step_credit`` a GiGPO-style step-level
advantage is added per token (:mod:`mulligan.training.gigpo`).

:class:`EnvGRPOConfig` is TRL's ``GRPOConfig`` plus the env fields, so every TRL option (loss type, KL
``beta``, clipping ``epsilon``, ``scale_rewards``, logging, vLLM settings) is there too.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import datasets
import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from mulligan.envs import get_suite, import_plugins
from mulligan.errors import ConfigError
from mulligan.registry import did_you_mean
from mulligan.training.gigpo import step_advantages, token_advantages
from mulligan.training.grpo_rewards import reward_functions, step_rewards
from mulligan.training.grpo_rollout import ROLLOUTS, EnvRollout
from mulligan.training.trainer_common import save_trained, silence, training_args

HOUSEHOLD = "mulligan/Household-v0"


@dataclass
class EnvGRPOConfig(GRPOConfig):
    """TRL's ``GRPOConfig`` with what an env run needs; the TRL fields keep their meaning.

    Of TRL's fields, ``num_generations`` is G (episodes per task), ``temperature`` and ``top_p`` drive
    the rollouts' sampling, and ``per_device_train_batch_size`` x ``gradient_accumulation_steps`` is the
    number of episodes per optimizer step.
    """

    env: str = field(default=HOUSEHOLD, metadata={"help": "Environment id."})
    split: str = field(default="train", metadata={"help": "Task split played."})
    tasks: int = field(default=64, metadata={"help": "Tasks of the split; each epoch plays each G times."})
    start: int = field(default=0, metadata={"help": "Index of the first task."})
    agent: str = field(default="react", metadata={"help": "The agent that plays the episodes."})
    agent_options: dict = field(default_factory=dict, metadata={"help": "Agent options (e.g. admissible)."})
    max_env_steps: int | None = field(default=None, metadata={"help": "Env step cap (None: the env's)."})
    env_options: dict = field(default_factory=dict, metadata={"help": "Arguments of the env's constructor."})
    imports: list = field(default_factory=list, metadata={"help": "Modules that register envs, imported first."})
    max_tokens: int = field(default=128, metadata={"help": "Reply length cap per turn (the agents' default)."})
    concurrency: int = field(default=64, metadata={"help": "Episodes in flight during a rollout."})
    rollout_batch_size: int = field(default=32, metadata={"help": "Requests per generate call of a rollout."})
    rewards: dict = field(
        default_factory=lambda: {"won": 1.0},
        metadata={"help": "Reward name -> weight: won, invalid, steps, critic:NAME, package.module:function."},
    )
    step_credit: bool = field(default=False, metadata={"help": "Add GiGPO-style step-level advantages."})
    step_credit_weight: float = field(default=1.0, metadata={"help": "Weight of the step-level advantage."})
    step_gamma: float = field(default=0.95, metadata={"help": "Discount of the step-level returns."})


def grpo_config(out: str | Path, *, lr: float = 1e-5, epochs: float = 1.0, batch_size: int = 8, seed: int = 0,
                progress: bool = True, report_to: list[str] | tuple[str, ...] = (), run_name: str | None = None,
                **options: Any) -> EnvGRPOConfig:
    """An :class:`EnvGRPOConfig` for a local run into ``out``, with ``options`` (any field) on top.

    Defaults: G = 4 episodes per task, one optimizer step per ``batch_size`` episodes, no KL term
    (TRL's default), a log entry every step, nothing saved but the final model. ``report_to`` and
    ``run_name``: TRL's trackers, as for SFT (:mod:`mulligan.training.trackers`).

    Raises:
        ConfigError: An unknown option (with the close match), or values TRL rejects.
    """
    known = {f.name for f in fields(EnvGRPOConfig)}
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ConfigError(f"unknown GRPO option {unknown[0]!r}.{did_you_mean(unknown[0], sorted(known))}")
    base = training_args(out, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                         logging_steps=1, report_to=report_to, run_name=run_name)
    base.update(num_generations=4, lr_scheduler_type="constant", log_completions=False)
    if options.get("use_vllm"):
        raise ConfigError("use_vllm: env rollouts generate with the transformers backend on the trainer's own "
                          "model; rollouts on a vLLM engine are not wired in yet")
    try:
        return EnvGRPOConfig(**{**base, **options})
    except (ValueError, TypeError) as e:
        raise ConfigError(f"bad GRPO options: {e}") from e


class EnvGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` over env episodes; with ``step_credit``, per-token GiGPO advantages.

    Args:
        rollout: The :class:`EnvRollout` that plays the episodes (TRL's ``rollout_func``).
        *args, **kwargs: As for ``GRPOTrainer``.
    """

    def __init__(self, *args: Any, rollout: EnvRollout, **kwargs: Any):
        super().__init__(*args, rollout_func=rollout, **kwargs)
        self.rollout = rollout

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        episodes = self.rollout.last
        mode = "train" if self.model.training else "eval"
        turns = sum(len(t.steps) for t, _ in episodes)
        trained = sum(len(s.trained_turns) for _, s in episodes)
        self._metrics[mode]["episodes/steps"].append(turns / max(1, len(episodes)))
        self._metrics[mode]["episodes/trained_turn_share"].append(trained / max(1, turns))
        if self.args.step_credit:
            out["advantages"] = self._token_advantages(out, episodes)
        return out

    def _token_advantages(self, out: dict[str, Any], episodes: list[Any]) -> Any:
        trajs = [t for t, _ in episodes]
        weights = list(self.reward_weights.tolist())

        async def all_step_rewards() -> list[list[float]]:
            return [await step_rewards(t, self.reward_funcs, weights) for t in trajs]

        rewards = asyncio.run(all_step_rewards())
        per_step = step_advantages(trajs, rewards, self.num_generations, gamma=self.args.step_gamma,
                                   scale=self.args.scale_rewards != "none")
        width = out["completion_ids"].shape[1]
        rows = token_advantages(out["advantages"].tolist(), per_step, [s.step_of_token for _, s in episodes],
                                width, self.args.step_credit_weight)
        return torch.tensor(rows, dtype=out["advantages"].dtype, device=out["advantages"].device)


def task_dataset(config: EnvGRPOConfig) -> Dataset:
    """One row per task (``prompt`` = its id), the tasks of ``config.split`` from ``config.start``."""
    import_plugins(list(config.imports))
    ids = get_suite(config.env).task_ids(config.split, config.tasks, start=config.start)
    return Dataset.from_dict({"prompt": ids})


def make_trainer(config: EnvGRPOConfig, model: Any, tokenizer: Any, *, lora: bool = False,
                 cls: type[EnvGRPOTrainer] = EnvGRPOTrainer, rollout: EnvRollout | None = None) -> EnvGRPOTrainer:
    """Build (but do not run) the GRPO trainer of ``config`` on ``model`` (a loaded causal LM).

    ``cls`` may be a subclass of :class:`EnvGRPOTrainer` (to add logging or change advantages), and
    ``rollout`` an :class:`EnvRollout` of one's own (default: one writing ``rollouts.jsonl`` to the output folder).

    Raises:
        ConfigError: Unknown rewards or critics, or an unknown env or split.
    """
    from mulligan.training.sft import _lora_config

    funcs, weights = reward_functions(dict(config.rewards))
    config.reward_weights = weights
    rollout = rollout if rollout is not None else EnvRollout(config, tokenizer, config.output_dir)
    bars_were_on = datasets.is_progress_bar_enabled()
    if config.disable_tqdm:
        datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            # TRL marks rollout_func experimental; mulligan's tests pin how it behaves in the installed TRL.
            warnings.filterwarnings("ignore", message="You are using 'rollout_func'")
            trainer = cls(
                model=model, reward_funcs=funcs, args=config, train_dataset=task_dataset(config),
                processing_class=tokenizer, peft_config=_lora_config() if lora else None, rollout=rollout,
            )
    finally:
        if config.disable_tqdm and bars_were_on:
            datasets.enable_progress_bars()
    if config.disable_tqdm:
        silence(trainer)
    return trainer


@dataclass(frozen=True)
class GRPOResult:
    """What :func:`train_grpo` did.

    Attributes:
        out: The checkpoint folder written (with ``rollouts.jsonl`` and ``train_log.json``).
        steps: Optimizer steps taken.
        episodes: Episodes played.
        success: The share of those episodes that were won.
        reward: The mean reward of the last step's episodes (None when nothing was logged).
        wall_s: Seconds spent.
    """

    out: Path
    steps: int
    episodes: int
    success: float
    reward: float | None
    wall_s: float


def train_grpo(model: str, out: str | Path, *, lora: bool = False, **options: Any) -> GRPOResult:
    """Train ``model`` with GRPO on env episodes and write the checkpoint to ``out``.

    Args:
        model: A local checkpoint folder or ``default`` (the embedded policy).
        out: The new checkpoint folder; it must not hold anything yet. Written under a temporary name
            and renamed when complete.
        lora: Train LoRA adapters (merged into the saved weights).
        **options: :func:`grpo_config` arguments and :class:`EnvGRPOConfig` fields (``env``, ``tasks``,
            ``num_generations``, ``rewards``, ``step_credit``, ``beta``, ``loss_type``, ...).

    Returns:
        What was trained; ``out/grpo.json`` records it too.

    Raises:
        ConfigError: ``out`` not empty, a bad model, or bad options.
    """
    from mulligan.records import read_jsonl
    from mulligan.training.finetune import load_tokenizer, resolve_checkpoint
    from mulligan.training.sft import _load_model

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} already holds files; choose another --out")
    base = resolve_checkpoint(model)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    config = grpo_config(partial, **options)
    tokenizer = load_tokenizer(base)
    started = time.perf_counter()
    trainer = make_trainer(config, _load_model(base), tokenizer, lora=lora)
    trainer.train()
    save_trained(trainer, tokenizer, partial, lora=lora)
    trajs = read_jsonl(partial / ROLLOUTS)
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    result = GRPOResult(out, int(trainer.state.global_step), len(trajs),
                        sum(bool(t["success"]) for t in trajs) / max(1, len(trajs)),
                        float(rewards[-1]) if rewards else None, time.perf_counter() - started)
    meta = {**asdict(result), "base": str(base), "lora": lora, "options": options}
    (partial / "grpo.json").write_text(json.dumps(meta, indent=2, default=str))
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return result
