"""The expert agent: the env's planner over its true state, speaking the ReAct format.

Its transcripts have exactly the shape of a ReAct agent's, so they are demonstrations the
policy can be trained on. Only envs that offer ``expert_action()`` support it.
"""

from __future__ import annotations

import time

from mulligan.agents.base import EpisodeState, TextAgent
from mulligan.errors import ConfigError
from mulligan.llm.base import Completion
from mulligan.records import Message


class ExpertAgent(TextAgent):
    """Replies with the env's expert action and subgoal (``Thought: <subgoal>\\nAction: <cmd>``)."""

    name = "expert"
    source = "expert"

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
        text = f"Thought: {subgoal}\nAction: {action}" if subgoal else f"Action: {action}"
        return Completion(text=text, latency_s=time.perf_counter() - started)
