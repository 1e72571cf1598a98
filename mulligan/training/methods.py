"""The self-training methods: what each iteration collects and how it is exported.

Every method samples the current policy ``samples`` times per training task (the policy's own
attempts: its successes are training data, and they give pass@k and diversity); on top of that:

- ``star``: plain ReAct samples; exported as ``sft`` (the successes).
- ``rerest``: each sample is a Reflexion run with the env-grounded reflector; exported as
  ``rerest`` (successes, and retries that won after a reflection, the reflection removed).
- ``step``: plus teacher runs, the teacher correcting wrong steps as they happen; exported as
  ``sft`` + ``step`` (the wrong steps stay in context with loss off).
- ``agentr``: plus tree search over the policy's replies; exported as ``sft`` (with the search's
  winning paths) + ``agentr`` (the splices).
- ``grpo``: no separate collection or export: RL from the env's reward, the episodes played inside
  the trainer (:mod:`mulligan.training.grpo_selftrain`).

No method runs the expert as a demonstrator: the only privileged help is STeP's teacher, whose
trajectories say so (``source="teacher"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mulligan.errors import ConfigError
from mulligan.registry import did_you_mean

HOUSEHOLD = "mulligan/Household-v0"


class SelfTrainConfig(BaseModel):
    """What one self-training run does; saved as ``OUT/selftrain.yaml``."""

    model_config = ConfigDict(extra="forbid")

    env: str = HOUSEHOLD
    method: str = "star"
    """``star``, ``rerest``, ``step``, ``agentr`` or ``grpo`` (see :data:`METHODS`)."""
    iterations: int = 3
    model: str = "default"
    """The bootstrap checkpoint: a local folder or ``default`` (the embedded policy)."""
    out: str = "runs/selftrain"
    train_split: str = "train"
    train_tasks: int = 200
    train_start: int = 0
    """Index of the first training task of the split."""
    eval_split: str = "unseen"
    eval_tasks: int = 200
    samples: int = 4
    """Attempts per training task with the current policy (the k of pass@k)."""
    temperature: float = 0.3
    """Sampling temperature of every collection (evaluation is greedy). Low by default: the tiny
    default policy won 1 of 100 train episodes at 0.8 and as often as greedy (5%) at 0.3
    (BENCHMARKS.md); larger models usually want 0.7-1.0 for diverse samples."""
    max_tokens: int = 64
    """Reply length cap of the policy."""
    trials: int = 2
    """Reflexion trials per sample (``rerest``); a success is confirmed by one more trial (for CL)."""
    teacher_samples: int = 1
    """Teacher runs per training task (``step``)."""
    search: dict[str, Any] = Field(default_factory=dict)
    """Options of the search agent (``agentr``): iterations, samples, max_depth, verifier, ..."""
    grpo: dict[str, Any] = Field(default_factory=dict)
    """Options of GRPO (``grpo``): any :class:`~mulligan.training.grpo.EnvGRPOConfig` field or ``lr``
    (rewards, beta, loss_type, step_credit, ...)."""
    mask_no_effect: bool = True
    """Train no loss on replies whose action had no effect (they stay in context)."""
    init: Literal["base", "previous"] = "base"
    """Fine-tune each iteration from the bootstrap on all data so far (STaR), or from the previous
    iteration's checkpoint on the new data only."""
    epochs: float = 2.0
    lr: float = 5e-4
    batch_size: int = 8
    max_length: int = 2048
    lora: bool = False
    concurrency: int = 32
    """Episodes in flight at once across a stage's runs (their model calls are batched together)."""
    seed: int = 0
    max_steps: int | None = None
    """Env step cap (None: the env's)."""
    eval_bootstrap: bool = True
    """Evaluate the bootstrap policy as iteration 0."""
    report_to: list[str] = Field(default_factory=list)
    """Trackers of the training loss (TRL's) and of each iteration's metrics: tensorboard, trackio,
    wandb, mlflow (see :mod:`mulligan.training.trackers`)."""
    ray: str | None = None
    """Run collections and evaluations on a Ray cluster (``auto``, ``local`` or an address): episodes
    in Ray workers, the policy in engine actors (see :mod:`mulligan.runner.ray_executor`)."""
    ray_options: dict[str, Any] = Field(default_factory=dict)
    """:class:`~mulligan.runner.ray_executor.RayOptions` fields (``workers``, ``engines``, ...)."""
    admissible: Literal["off", "nearest", "likelihood"] = "off"
    """The agents' ``admissible`` option in every collection and evaluation: keep the policy's
    actions among the env's admissible ones (see :mod:`mulligan.agents.admissible`)."""

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        get_method(name)
        return name

    def sampling(self) -> dict[str, Any]:
        """The generation parameters of collection runs."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


RESUME_EXEMPT = ("concurrency", "out", "iterations", "report_to", "ray", "ray_options")
"""Config fields that may change when a run is resumed (more iterations extend a finished run)."""


@dataclass(frozen=True)
class CollectRun:
    """One run of a collection stage.

    Attributes:
        name: Its folder under ``iter-K/collect/``.
        agent: The agent that runs.
        options: The agent's options.
        samples: Whether its first trials are plain samples of the policy (pass@k, diversity).
    """

    name: str
    agent: str
    options: dict[str, Any] = field(default_factory=dict)
    samples: bool = False


@dataclass(frozen=True)
class Method:
    """A self-training method: its collection runs and its export formats."""

    name: str
    formats: tuple[str, ...]
    extra: Callable[[SelfTrainConfig], list[CollectRun]]
    sample_agent: str = "react"
    online: str | None = None
    """``module:function`` that runs a whole iteration's training, collecting as it goes (RL)."""

    def runs(self, config: SelfTrainConfig) -> list[CollectRun]:
        """Every collection run of one iteration (none for online methods)."""
        if self.online:
            return []
        options: dict[str, Any] = {"params": config.sampling()}
        if self.sample_agent == "reflexion":
            options.update(trials=config.trials, reflector="env", confirm_success=True)
        samples = [CollectRun(f"sample-{j}", self.sample_agent, options, True) for j in range(config.samples)]
        return samples + self.extra(config)


def _none(config: SelfTrainConfig) -> list[CollectRun]:
    return []


def _teacher(config: SelfTrainConfig) -> list[CollectRun]:
    options = {"params": config.sampling()}
    return [CollectRun(f"teacher-{j}", "teacher", options) for j in range(config.teacher_samples)]


def _search(config: SelfTrainConfig) -> list[CollectRun]:
    return [CollectRun("search", "search", {"params": config.sampling(), **config.search})]


METHODS: dict[str, Method] = {
    "star": Method("star", ("sft",), _none),
    "rerest": Method("rerest", ("rerest",), _none, sample_agent="reflexion"),
    "step": Method("step", ("sft", "step"), _teacher),
    "agentr": Method("agentr", ("sft", "agentr"), _search),
    "grpo": Method("grpo", (), _none, online="mulligan.training.grpo_selftrain:grpo_iteration"),
}


def get_method(name: str) -> Method:
    """The method called ``name``; a :class:`ConfigError` with the close match otherwise."""
    if name not in METHODS:
        raise ConfigError(f"unknown self-training method {name!r}; use one of {', '.join(METHODS)}."
                          f"{did_you_mean(name, list(METHODS))}")
    return METHODS[name]
