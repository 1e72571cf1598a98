"""The scripted backend: replays given replies, the same way in every episode.

A real backend for deterministic agent tests and demos. Each episode (``ChatRequest.episode_id``)
replays the list from its start; requests without an episode id share one cursor.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Sequence

from mulligan.errors import ConfigError
from mulligan.llm.base import ChatRequest, Completion
from mulligan.records import Usage


def count_words(text: str) -> int:
    """A rough token count: whitespace-separated words."""
    return len(text.split())


class ScriptedLLM:
    """Replays a list of reply strings per episode.

    When an episode's replies run out, its next request gets
    ``Completion(exhausted=True, finish_reason="script_exhausted", text="")``.

    Args:
        replies: The replies, in order.
        name: The name recorded on trajectories.
        latency_s: Seconds each ``generate`` call waits before answering, as an API would
            (``scripted:PATH?latency_s=0.05``: demos and tests of executors with episodes in flight).
    """

    supports_tools = False
    max_batch_size = 1024

    def __init__(self, replies: Sequence[str], *, name: str = "scripted", latency_s: float = 0.0):
        if isinstance(replies, str) or not all(isinstance(r, str) for r in replies):
            raise ConfigError("scripted replies must be a list of strings")
        self.replies = list(replies)
        self.name = name
        self.latency_s = float(latency_s)
        self._cursors: dict[str | None, int] = {}

    @classmethod
    def from_file(cls, path: str | Path, *, name: str | None = None, latency_s: float = 0.0) -> "ScriptedLLM":
        """Load the replies from a JSON file holding a list of strings.

        Raises:
            ConfigError: The file is missing, not JSON, or not a list of strings.
        """
        path = Path(path).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"scripted replies file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"scripted replies file {str(path)!r} is not readable JSON: {e}") from None
        if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
            raise ConfigError(f"scripted replies file {str(path)!r} must hold a JSON list of strings")
        return cls(data, name=name or f"scripted:{path}", latency_s=latency_s)

    def reset(self, episode_id: str | None = None) -> None:
        """Rewind one episode's cursor to the first reply."""
        self._cursors.pop(episode_id, None)

    def _next(self, request: ChatRequest) -> Completion:
        cursor = self._cursors.get(request.episode_id, 0)
        prompt_tokens = sum(count_words(m.content) for m in request.messages)
        if cursor >= len(self.replies):
            usage = Usage(prompt_tokens=prompt_tokens)
            return Completion(exhausted=True, finish_reason="script_exhausted", usage=usage)
        self._cursors[request.episode_id] = cursor + 1
        text = self.replies[cursor]
        return Completion(text=text, usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=count_words(text)))

    async def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Answer each request with its episode's next reply."""
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        return [self._next(r) for r in requests]

    def close(self) -> None:
        """Nothing to release."""
