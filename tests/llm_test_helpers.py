"""Helpers shared by the llm tests: request builders and a fake OpenAI-compatible upstream."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class FakeUpstream:
    """A tiny OpenAI-compatible chat server on 127.0.0.1 that stands in for a paid API.

    It answers ``POST /v1/chat/completions`` by popping the next status off ``script`` (200 when
    the script is empty): an error status gets an OpenAI-style error body, 200 gets a completion
    whose text is ``reply`` (or ``tool_calls`` when set). It records every request body it was
    sent and the largest number of requests it handled at once (each waits ``delay_s``).
    """

    def __init__(self) -> None:
        self.script: list[int] = []
        self.reply = "hello from upstream"
        self.tool_calls: list[dict[str, Any]] | None = None
        self.delay_s = 0.0
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = upstream._enter(body)
                try:
                    time.sleep(upstream.delay_s)
                    self._answer(status, body)
                finally:
                    upstream._leave()

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                if status != 200:
                    out: dict[str, Any] = {"error": {"message": f"scripted {status}", "type": "server_error"}}
                else:
                    message: dict[str, Any] = {"role": "assistant", "content": upstream.reply}
                    if upstream.tool_calls:
                        message = {"role": "assistant", "content": None, "tool_calls": upstream.tool_calls}
                    out = {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "message": message,
                                     "finish_reason": "tool_calls" if upstream.tool_calls else "stop"}],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                    }
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _enter(self, body: dict[str, Any]) -> int:
        with self._lock:
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.script.pop(0) if self.script else 200

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def hits(self) -> int:
        return len(self.bodies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
