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

from mulligan.agents.admissible import rewritten_reply
from mulligan.agents.base import AgentConfig, EpisodeState, TextAgent
from mulligan.agents.parsing import ParsedReply
from mulligan.errors import ConfigError
from mulligan.llm.base import Completion
from mulligan.records import Message
from mulligan.reflection import lesson_facts
from mulligan.reflection.teacher import expert_thought


class ExpertConfig(AgentConfig):
    """Options of the expert agent."""

    noise: float = Field(0.0, ge=0.0, le=1.0)
    """Probability that a turn is perturbed (a deliberate slip the expert then recovers from)."""
    noise_seed: int = 0
    """Seed of the perturbations."""
    follow_lessons: bool = True
    """Use the lessons in the prompt (where the env's expert can)."""


class ExpertAgent(TextAgent):
    """Replies with the env's expert action and thought (``Thought: <thought>\\nAction: <cmd>``).

    With ``noise > 0`` it perturbs that share of its turns (DART-style): a mistyped number or an
    off-plan command, flagged ``info["perturbed"]`` on the step and ``train=False`` on the message,
    after which the expert recovers
    from wherever it ended up. Trained with the perturbed turns masked out, a policy learns to
    recover from its own slips instead of only ever seeing flawless episodes.

    Where the env's expert can take lessons into account (``expert_reads_lessons``), the lessons of
    earlier attempts in the prompt (Reflexion's memory, ``--memory`` lessons) tell it where things
    start out, exactly as far as their text says (:func:`~mulligan.reflection.lesson_facts`): the
    demonstration of a policy that uses its lessons. Options: :class:`ExpertConfig`.
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

    def expert_step(self, messages: list[Message], state: EpisodeState) -> tuple[str | None, str]:
        """The env expert's (thought, action) for the current state, with the prompt's lessons."""
        env = state.env.unwrapped
        if not hasattr(env, "expert_action"):
            raise ConfigError(f"{type(env).__name__} has no expert; the expert agent cannot run on it")
        if self.config.follow_lessons and getattr(env, "expert_reads_lessons", False):
            facts = lesson_facts(m.content for m in messages if m.kind == "memory")
            step = env.expert_plan(known=facts.known, first=facts.first)
            return step.thought, step.action
        return expert_thought(env), env.expert_action()

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        started = time.perf_counter()
        thought, action = self.expert_step(messages, state)
        meta: dict[str, Any] = {}
        if self.noise and self.rng.random() < self.noise:
            action = self._perturb(action, state.info.get("admissible_actions") or [])
            meta = {"perturbed": True, "train": False}
        return Completion(text=rewritten_reply(ParsedReply(action, thought)), latency_s=time.perf_counter() - started, meta=meta)

    def _perturb(self, action: str, admissible: list[str]) -> str:
        """A plausible slip: the right command with a wrong number, or another valid command."""
        numbers = list(re.finditer(r"\d+", action))
        if numbers and self.rng.random() < 0.5:
            m = self.rng.choice(numbers)
            wrong = str(int(m.group()) + self.rng.choice([1, 2, 3]))
            return action[: m.start()] + wrong + action[m.end():]
        others = [a for a in admissible if a != action]
        return self.rng.choice(others) if others else action

