"""A real OpenAI-compatible chat server on 127.0.0.1 that injects provider faults on demand.

It stands in for a paid API (which cannot run here) and misbehaves the way real providers do.
``POST /v1/chat/completions`` takes the next entry of ``script`` (``ok`` when the script is
empty, or every ``every``-th request gets ``fault`` when set); an entry is one of

- ``"ok"``: a normal completion whose text is ``reply`` (a string, or a function of the request body);
- an int, or ``(status, headers)``: an error status with an OpenAI-style error body (e.g.
  ``(429, {"Retry-After": "2"})``);
- ``"empty_choices"``: 200 with ``"choices": []``;
- ``"null_message"``: 200 with a choice whose message has neither content nor tool calls;
- ``"bad_json"``: 200 whose body is not JSON;
- ``"bad_tool_args"``: 200 with a tool call whose arguments are not JSON;
- ``"trickle"``: a normal answer sent one byte every ``trickle_s`` seconds;
- ``"drop"``: the connection closed without an answer;
- ``"auth"``: 401 whose message quotes the API key the client sent (as some providers do).

It records every request body, the headers of the last request (lower-cased names), how many requests were in
flight at most, and how many bytes a trickled answer got out before the client hung up.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Entry = Any


class FaultServer:
    """See the module docstring. Use as a context manager, or call :meth:`stop`."""

    def __init__(self, reply: str | Callable[[dict[str, Any]], str] = "hello from upstream") -> None:
        self.script: list[Entry] = []
        self.reply = reply
        self.tool_calls: list[dict[str, Any]] | None = None
        self.fault: Entry | None = None
        self.every = 0
        self.delay_s = 0.0
        self.trickle_s = 0.05
        self.bodies: list[dict[str, Any]] = []
        self.headers: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.trickled_bytes: list[int] = []
        self.faults_sent = 0
        self._lock = threading.Lock()
        self._count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self._send(200, json.dumps({"object": "list", "data": [{"id": "x", "object": "model"}]}).encode())

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                entry = server._enter(body, dict(self.headers))
                try:
                    time.sleep(server.delay_s)
                    self._answer(entry, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server._leave()

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, entry: Entry, body: dict[str, Any]) -> None:
                if isinstance(entry, int) or (isinstance(entry, tuple) and isinstance(entry[0], int)):
                    status, headers = (entry, {}) if isinstance(entry, int) else entry
                    error = {"error": {"message": f"scripted {status}", "type": "server_error", "code": None}}
                    self._send(status, json.dumps(error).encode(), headers)
                elif entry == "auth":
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    error = {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}}
                    self._send(401, json.dumps(error).encode())
                elif entry == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif entry == "bad_json":
                    self._send(200, b'{"id": "chatcmpl-x", "choices": [ this is not json')
                elif entry == "trickle":
                    self._trickle(json.dumps(server.completion(body)).encode())
                else:
                    self._send(200, json.dumps(server.completion(body, entry)).encode())

            def _trickle(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                sent = 0
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        sent += 1
                        time.sleep(server.trickle_s)
                finally:
                    server.trickled_bytes.append(sent)
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def completion(self, body: dict[str, Any], entry: Entry = "ok") -> dict[str, Any]:
        """The chat.completion object for ``entry`` (``ok``, ``empty_choices``, ``null_message``, ``bad_tool_args``)."""
        text = self.reply(body) if callable(self.reply) else self.reply
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if entry == "bad_tool_args" or self.tool_calls:
            calls = self.tool_calls or [{"id": "call_1", "type": "function",
                                         "function": {"name": "act", "arguments": '{"command": "look'}}]
            message, finish = {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        elif entry == "null_message":
            message = {"role": "assistant", "content": None}
        choices = [] if entry == "empty_choices" else [{"index": 0, "message": message, "finish_reason": finish}]
        return {
            "id": "chatcmpl-fault", "object": "chat.completion", "created": 0, "model": body.get("model", "x"),
            "choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }

    def _enter(self, body: dict[str, Any], headers: dict[str, str]) -> Entry:
        with self._lock:
            self.bodies.append(body)
            self.headers = {k.lower(): v for k, v in headers.items()}
            self._count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.script:
                entry = self.script.pop(0)
            elif self.every and self.fault is not None and self._count % self.every == 0:
                entry = self.fault
            else:
                entry = "ok"
            self.faults_sent += entry != "ok"
            return entry

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def hits(self) -> int:
        """Requests received so far."""
        return len(self.bodies)

    def spec(self, **options: Any) -> str:
        """A litellm model spec for this server (API key ``dummy``), with extra options."""
        query = "&".join(f"{k}={v}" for k, v in {"api_base": self.api_base, "api_key": "dummy", **options}.items())
        return f"litellm:openai/x?{query}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FaultServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
