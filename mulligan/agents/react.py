"""The ReAct agent: think, act, observe, with an LLM choosing each action."""

from __future__ import annotations

from mulligan.agents.base import EpisodeState, TextAgent, chat_request
from mulligan.llm.base import Completion, complete
from mulligan.records import Message


class ReActAgent(TextAgent):
    """Thought/Action turns from an LLM (native tool calls where the backend has them)."""

    name = "react"

    async def reply(self, messages: list[Message], state: EpisodeState) -> Completion:
        if self.llm is None:
            raise ValueError("the react agent needs an LLM (--model)")
        return await complete(self.llm, chat_request(self, messages, state))
