"""The expert agent: the env's planner over its true state, speaking the ReAct format.

Its transcripts have exactly the shape of a ReAct agent's, so they are demonstrations the
policy can be trained on. Only envs that offer ``expert_action()`` support it.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from pydantic import Field

from mulligan.agents.base import AgentConfig, EpisodeState, TextAgent
from mulligan.errors import ConfigError
from mulligan.llm.base import Completion
from mulligan.records import Message


class ExpertConfig(AgentConfig):
    """Options of the expert agent."""

    noise: float = Field(0.0, ge=0.0, le=1.0)
    """Probability that a turn is perturbed (a deliberate slip the expert then recovers from)."""
    noise_seed: int = 0
    """Seed of the perturbations."""


class ExpertAgent(TextAgent):
    """Replies with the env's expert action and subgoal (``Thought: <subgoal>\\nAction: <cmd>``).

    With ``noise > 0`` it perturbs that share of its turns (DART-style): a mistyped number or an
    off-plan command, flagged ``info["perturbed"]`` on the step and ``train=False`` on the message,
    after which the expert recovers
    from wherever it ended up. Trained with the perturbed turns masked out, a policy learns to
    recover from its own slips instead of only ever seeing flawless episodes. Options:
    :class:`ExpertConfig` (``noise``, ``noise_seed``).
    """

    name = "expert"
    source = "expert"
    needs_llm = False
    config_class = ExpertConfig
    config: ExpertConfig

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        self.noise = self.config.noise
        self.rng = random.Random(self.config.noise_seed)

    @property
    def model_name(self) -> str:
        return "expert"

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        env = state.env.unwrapped
        if not hasattr(env, "expert_action"):
            raise ConfigError(f"{type(env).__name__} has no expert; the expert agent cannot run on it")
        started = time.perf_counter()
        action = env.expert_action()
        subgoal = env.expert_subgoal() if hasattr(env, "expert_subgoal") else None
        meta: dict[str, Any] = {}
        if self.noise and self.rng.random() < self.noise:
            action = self._perturb(action, state.info.get("admissible_actions") or [])
            meta = {"perturbed": True, "train": False}
        text = f"Thought: {subgoal}\nAction: {action}" if subgoal else f"Action: {action}"
        return Completion(text=text, latency_s=time.perf_counter() - started, meta=meta)

    def _perturb(self, action: str, admissible: list[str]) -> str:
        """A plausible slip: the right command with a wrong number, or another valid command."""
        numbers = list(re.finditer(r"\d+", action))
        if numbers and self.rng.random() < 0.5:
            m = self.rng.choice(numbers)
            wrong = str(int(m.group()) + self.rng.choice([1, 2, 3]))
            return action[: m.start()] + wrong + action[m.end():]
        others = [a for a in admissible if a != action]
        return self.rng.choice(others) if others else action
