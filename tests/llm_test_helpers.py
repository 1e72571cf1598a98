"""Helpers shared by the llm tests: request builders, a failing backend, and the fake upstream
(:class:`fault_server.FaultServer`, a real local OpenAI-compatible server standing in for a paid API)."""

from __future__ import annotations

from typing import Any

from fault_server import FaultServer as FakeUpstream  # noqa: F401 - re-exported for the llm tests
from mulligan.llm.base import ChatRequest, Completion, GenerationParams
from mulligan.records import Message

PROMPTS = [
    "take the apple near the table",
    "put the mug near the sink",
    "open the drawer",
    "find the key near the desk please, it is somewhere around here",
    "clean the plate",
    "move the lamp near the sofa",
]
"""Prompts of different lengths, so batches are really left-padded."""


def chat(text: str, max_tokens: int = 24, episode_id: str | None = None, **params: Any) -> ChatRequest:
    """A one-turn request, greedy unless told otherwise."""
    return ChatRequest(
        messages=[Message(role="user", content=text)],
        params=GenerationParams(max_tokens=max_tokens, **params),
        episode_id=episode_id,
    )


class FailingLLM:
    """A backend whose ``generate`` raises while ``failing`` is set, then echoes the prompt.

    It stands in for a backend that crashes (out of memory, a dead worker), to check that callers
    get errors as data and that the layers above it keep working.
    """

    name = "failing"
    supports_tools = False
    max_batch_size = 8

    def __init__(self) -> None:
        self.failing = True

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        if self.failing:
            raise RuntimeError("backend fell over")
        return [Completion(text=r.messages[-1].content.upper()) for r in requests]

    def close(self) -> None:
        pass


class StuckLLM:
    """A backend wedged in one long call that ignores cancellation until ``release()``.

    It stands in for a model stuck in a forward pass (a hung GPU, a runaway kernel), which no
    local model reproduces on demand; the server must report it on ``/health``.
    """

    name = "stuck"
    supports_tools = False
    max_batch_size = 8

    def __init__(self) -> None:
        import threading

        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        import asyncio

        await asyncio.shield(asyncio.to_thread(self._released.wait))
        return [Completion(text="late") for _ in requests]

    def close(self) -> None:
        self.release()


class Recording:
    """A real backend with every completion it returned recorded (``outputs``); otherwise the backend itself."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.outputs: list[Completion] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        out = await self.inner.generate(requests)
        self.outputs.extend(out)
        return out
