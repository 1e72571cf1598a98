"""DAgger: the policy acts, the env's expert labels every state the policy reaches.

A policy trained only on expert demonstrations never sees the states its own mistakes lead to,
and after its first slip it is lost (compounding errors). DAgger (Ross, Gordon and Bagnell, 2011)
runs the policy, asks the expert what it would do in each state the policy actually reaches, and
trains on those labels. Here every turn asks both:

- where the policy's action is the expert's, the expert's reply (its thought and that action)
  runs, ``train=True``;
- where it differs (or cannot be parsed), with probability ``beta`` the expert's reply runs
  instead (``train=True``: the right action in a state the policy reached), else the policy's own
  reply runs with ``train=False``, so the episode goes on from the policy's mistake and the next
  turns label the recovery.

``info["dagger"]`` on each step says which (``agree``, ``corrected``, ``policy``). The
``dagger-reflexion`` agent adds Reflexion's trials: the first is the plain policy, and every retry
after a failure is a DAgger episode with the lessons in the prompt, labelled by an expert that uses
what the lessons say (:class:`~mulligan.agents.expert.ExpertAgent`).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field

from mulligan.agents.admissible import rewritten_reply
from mulligan.agents.base import AgentConfig, EpisodeState, TextAgent, chat_request
from mulligan.agents.expert import ExpertAgent
from mulligan.agents.parsing import ParsedReply, parse_react
from mulligan.agents.reflexion import ReflexionAgent, ReflexionConfig
from mulligan.errors import FormatError
from mulligan.llm.base import Completion, complete
from mulligan.records import Message
from mulligan.reflection import normalize_action


class DaggerConfig(AgentConfig):
    """Options of the DAgger agent."""

    beta: float = Field(0.5, ge=0.0, le=1.0)
    """Probability that the expert's reply runs where the policy's differs."""
    seed: int = 0
    """Seed of those draws."""
    follow_lessons: bool = True
    """The expert uses the lessons in the prompt."""


class DaggerAgent(ExpertAgent):
    """The policy (``llm``) acts and the env's expert labels each state (see the module docstring).

    Options: :class:`DaggerConfig`.
    """

    name = "dagger"
    needs_llm = True
    config_class = DaggerConfig
    config: DaggerConfig  # type: ignore[assignment]

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        # The expert's own options (noise) do not apply: the policy makes the mistakes here.
        TextAgent.__init__(self, llm, config, **overrides)
        self.noise = 0.0
        self.rng = random.Random(self.config.seed)

    @property
    def model_name(self) -> str:
        return getattr(self.llm, "name", "")

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        if self.llm is None:
            raise ValueError("the dagger agent needs the policy's LLM (--model)")
        thought, action = self.expert_step(messages, state)
        proposal = await complete(self.llm, chat_request(self, messages, state))
        label = Completion(
            text=rewritten_reply(ParsedReply(action, thought)), usage=proposal.usage, latency_s=proposal.latency_s,
        )
        if proposal.error or proposal.exhausted:
            return label.model_copy(update={"meta": {"dagger": "corrected"}})
        try:
            proposed = parse_react(proposal.text).action
        except FormatError:
            proposed = None
        if proposed is not None and normalize_action(proposed) == normalize_action(action):
            return label.model_copy(update={"meta": {"dagger": "agree"}})
        if self.rng.random() < self.config.beta:
            return label.model_copy(update={"meta": {"dagger": "corrected", "proposed": proposal.text}})
        return proposal.model_copy(update={"meta": {**proposal.meta, "dagger": "policy", "train": False}})


class DaggerReflexionConfig(ReflexionConfig, DaggerConfig):
    """Options of the ``dagger-reflexion`` agent: Reflexion's and :class:`DaggerConfig`'s."""


class DaggerReflexionAgent(ReflexionAgent):
    """Reflexion whose first trial is the plain policy and whose retries are DAgger episodes.

    Options: :class:`DaggerReflexionConfig` (Reflexion's, plus ``beta``, ``seed`` and ``follow_lessons``).
    """

    name = "dagger-reflexion"
    config_class = DaggerReflexionConfig
    config: DaggerReflexionConfig  # type: ignore[assignment]

    def __init__(self, llm: Any = None, config: AgentConfig | None = None, **overrides: Any):
        super().__init__(llm, config, **overrides)
        self.labeller = DaggerAgent(llm, self.config)

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        if state.traj.trial == 0:
            return await super().reply(messages, state)
        return await self.labeller.reply(messages, state)
