"""An OpenAI-compatible HTTP server over any mulligan LLM.

Typically it serves the local default policy so that anything speaking the OpenAI API (litellm,
the openai SDK, curl) can use it. Endpoints: ``POST /v1/chat/completions`` (non-streaming, n=1),
``GET /v1/models`` and ``GET /health``.

Design: a stdlib ``ThreadingHTTPServer`` answers each connection on its own thread; one asyncio
loop on a background thread owns a :class:`BatchingLLM`, so concurrent HTTP requests are batched
into the backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from mulligan.llm.base import LLM, ChatRequest, Completion, GenerationParams, complete
from mulligan.llm.batching import BatchingLLM
from mulligan.records import Message, ToolCall

log = logging.getLogger(__name__)

OPENAI_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})


class BadRequest(ValueError):
    """The client sent a request this server cannot answer (HTTP 400)."""


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: only text parts are supported
        if not all(isinstance(p, dict) and p.get("type") == "text" for p in value):
            raise BadRequest("only text content parts are supported")
        return "".join(str(p.get("text", "")) for p in value)
    raise BadRequest("message content must be a string or a list of text parts")


def _message(raw: Any) -> Message:
    if not isinstance(raw, dict):
        raise BadRequest("each message must be an object with 'role' and 'content'")
    role = "system" if raw.get("role") == "developer" else raw.get("role")
    calls = None
    if raw.get("tool_calls"):
        try:
            calls = [ToolCall(name=c["function"]["name"], arguments=json.loads(c["function"].get("arguments") or "{}"),
                              **({"id": c["id"]} if c.get("id") else {}))
                     for c in raw["tool_calls"]]
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise BadRequest(f"malformed tool_calls: {e}") from None
    return Message(role=role, content=_content(raw.get("content")), tool_calls=calls,
                   tool_call_id=raw.get("tool_call_id"))


def parse_chat_request(body: Any) -> ChatRequest:
    """Turn an OpenAI chat-completions body into a :class:`ChatRequest`.

    Raises:
        BadRequest: Streaming, ``n != 1``, missing or malformed messages, bad parameters.
    """
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if body.get("stream"):
        raise BadRequest("stream=true is not supported by this server; send a non-streaming request")
    if body.get("n") not in (None, 1):
        raise BadRequest("only n=1 is supported")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    stop = body.get("stop")
    try:
        params = GenerationParams(
            temperature=body.get("temperature") if body.get("temperature") is not None else 1.0,
            top_p=body.get("top_p") if body.get("top_p") is not None else 1.0,
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens") or GenerationParams().max_tokens,
            stop=[stop] if isinstance(stop, str) else stop,
            seed=body.get("seed"),
        )
        return ChatRequest(messages=[_message(m) for m in messages], params=params, tools=body.get("tools"))
    except ValidationError as e:
        raise BadRequest(f"invalid request: {e.errors()[0].get('loc')}: {e.errors()[0].get('msg')}") from None


def completion_body(completion: Completion, model_name: str) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object for a completion."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.tool_calls:
        message["tool_calls"] = Message(role="assistant", tool_calls=completion.tool_calls).to_openai()["tool_calls"]
    finish = completion.finish_reason if completion.finish_reason in OPENAI_FINISH_REASONS else "stop"
    usage = completion.usage
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.total},
    }


def error_body(message: str, kind: str) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bound to a free port chosen by the OS when port=0; no SO_REUSEADDR surprises across tests.
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], app: "_App"):
        super().__init__(address, _Handler)
        self.app = app


class _App:
    """What the HTTP threads share: the batcher and the loop that owns it."""

    def __init__(self, llm: LLM, model_name: str, loop: asyncio.AbstractEventLoop, timeout_s: float,
                 max_batch_size: int | None, max_wait_ms: float):
        self.batcher = llm if isinstance(llm, BatchingLLM) else BatchingLLM(llm, max_batch_size, max_wait_ms)
        self.model_name = model_name
        self.loop = loop
        self.timeout_s = timeout_s

    def answer(self, request: ChatRequest) -> Completion:
        future = asyncio.run_coroutine_threadsafe(complete(self.batcher, request), self.loop)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return Completion(error=f"generation took longer than {self.timeout_s:g}s", finish_reason="error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        app = self.server.app
        if path == "/health":
            self._send(200, {"status": "ok", "model": app.model_name})
        elif path in ("/v1/models", "/models"):
            model = {"id": app.model_name, "object": "model", "created": 0, "owned_by": "mulligan"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(404, error_body(f"no route GET {path}", "not_found_error"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._send(400, error_body("bad Content-Length header", "invalid_request_error"))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, error_body(f"no route POST {path}", "not_found_error"))
            return
        try:
            request = parse_chat_request(json.loads(raw or b"null"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self._send(400, error_body(f"malformed JSON body: {e}", "invalid_request_error"))
            return
        except BadRequest as e:
            self._send(400, error_body(str(e), "invalid_request_error"))
            return
        app = self.server.app
        try:
            completion = app.answer(request)
        except Exception as e:  # noqa: BLE001 - the server keeps running whatever the backend does
            completion = Completion(error=f"{type(e).__name__}: {e}", finish_reason="error")
        if completion.error:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, error_body(completion.error, "server_error"))
        else:
            self._send(200, completion_body(completion, app.model_name))


class ServerHandle:
    """A running server: its address, its batcher, and ``stop()``.

    Attributes:
        url: Root URL (``http://127.0.0.1:PORT``).
        api_base: OpenAI base URL (``url + "/v1"``), for ``litellm:openai/NAME?api_base=...``.
        port: The bound port (the chosen one when started with port 0).
        batcher: The :class:`BatchingLLM` in front of the backend (counters for tests).
    """

    def __init__(self, server: _Server, loop: asyncio.AbstractEventLoop, threads: list[threading.Thread]):
        self._server = server
        self._loop = loop
        self._threads = threads
        host, self.port = server.server_address[:2]
        self.url = f"http://{host}:{self.port}"
        self.api_base = f"{self.url}/v1"
        self.batcher = server.app.batcher
        self._stopped = False

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._threads[0].is_alive():
            self._threads[0].join(timeout=0.5)

    def stop(self) -> None:
        """Stop serving and end the background threads. Idempotent; the backend stays open."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        for thread in self._threads:
            thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    llm: LLM,
    host: str = "127.0.0.1",
    port: int = 0,
    model_name: str = "mulligan-default",
    *,
    max_batch_size: int | None = None,
    max_wait_ms: float = 5,
    timeout_s: float = 600,
) -> ServerHandle:
    """Serve ``llm`` over HTTP from background threads and return at once.

    Args:
        llm: Any backend; it is wrapped in a :class:`BatchingLLM` unless it is one already.
        host: Interface to bind; the default accepts local connections only.
        port: Port to bind; 0 picks a free one (read it from ``handle.port``).
        model_name: The model id reported by ``/v1/models`` and in every response.
        max_batch_size: Batch size for the batcher (default: the backend's).
        max_wait_ms: How long the batcher waits for more requests.
        timeout_s: Seconds one request may take before it fails with HTTP 500.

    Returns:
        A :class:`ServerHandle`; call ``stop()`` (or use it as a context manager) to end it.
    """
    loop = asyncio.new_event_loop()
    app = _App(llm, model_name, loop, timeout_s, max_batch_size, max_wait_ms)
    server = _Server((host, port), app)
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.1,), name="mulligan-serve-http", daemon=True),
        threading.Thread(target=loop.run_forever, name="mulligan-serve-loop", daemon=True),
    ]
    for thread in threads:
        thread.start()
    handle = ServerHandle(server, loop, threads)
    log.info("serving %s at %s", llm.name, handle.api_base)
    return handle


def serve(llm: LLM, host: str = "127.0.0.1", port: int = 8000, model_name: str = "mulligan-default",
          **options: Any) -> None:
    """Serve ``llm`` over HTTP until interrupted (blocking).

    Args:
        llm: Any backend; concurrent requests are batched into it.
        host: Interface to bind (``0.0.0.0`` exposes it to the network).
        port: Port to bind.
        model_name: The model id reported to clients.
        **options: ``max_batch_size``, ``max_wait_ms``, ``timeout_s`` (see :func:`start_server`).
    """
    handle = start_server(llm, host, port, model_name, **options)
    try:
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
