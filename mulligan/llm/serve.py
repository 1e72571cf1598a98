"""An OpenAI-compatible HTTP server over any mulligan LLM.

Typically it serves the local default policy so that anything speaking the OpenAI API (litellm,
the openai SDK, curl) can use it. Endpoints: ``POST /v1/chat/completions`` (non-streaming, n=1),
``GET /v1/models`` and ``GET /health``.

Design: a stdlib ``ThreadingHTTPServer`` answers each connection on its own thread; one asyncio
loop on a background thread owns a :class:`BatchingLLM`, so concurrent HTTP requests are batched
into the backend.

It survives its clients: requests are checked before they reach the model (size, every
parameter, the prompt against the model's context; :mod:`mulligan.llm.openai_wire`), a listen
backlog holds bursts of hundreds of connections, a request that times out or whose client hangs
up is cancelled so the model stops generating it, ``/health`` answers 503 while the model is
stuck, and with ``api_key`` every ``/v1`` route needs ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import select
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mulligan.llm.base import LLM, ChatRequest, Completion, complete
from mulligan.llm.batching import BatchingLLM
from mulligan.llm.openai_wire import BadRequest, Limits, completion_body, error_body, parse_chat_request

__all__ = ["BadRequest", "Limits", "ServerHandle", "completion_body", "error_body", "is_loopback",
           "parse_chat_request", "serve", "start_server"]

log = logging.getLogger(__name__)

BACKLOG = 1024
"""Connections the kernel queues before the server accepts them (Linux caps it at somaxconn)."""
POLL_S = 0.2
"""How often a waiting request checks whether its client is still there."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bound to a free port chosen by the OS when port=0; no SO_REUSEADDR surprises across tests.
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], app: "_App", backlog: int = BACKLOG):
        self.request_queue_size = backlog  # read by server_activate's listen()
        super().__init__(address, _Handler)
        self.app = app


class _App:
    """What the HTTP threads share: the batcher, the loop that owns it, the limits and counters."""

    def __init__(self, llm: LLM, model_name: str, loop: asyncio.AbstractEventLoop, *, timeout_s: float,
                 max_batch_size: int | None, max_wait_ms: float, limits: Limits, api_key: str | None,
                 stuck_after_s: float | None):
        self.batcher = llm if isinstance(llm, BatchingLLM) else BatchingLLM(llm, max_batch_size, max_wait_ms)
        self.llm = llm.inner if isinstance(llm, BatchingLLM) else llm
        self.model_name = model_name
        self.loop = loop
        self.timeout_s = timeout_s
        self.limits = limits
        self.api_key = api_key
        # A batch of requests that all timed out is cancelled; one running far past the timeout is stuck.
        self.stuck_after_s = stuck_after_s if stuck_after_s is not None else timeout_s + 10
        self.in_flight = 0
        self.cancelled = 0
        self._lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        if self.api_key is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def health(self) -> tuple[int, dict[str, Any]]:
        busy = self.batcher.busy_s
        stuck = busy is not None and busy > self.stuck_after_s
        body = {"status": "stuck" if stuck else "ok", "model": self.model_name, "in_flight": self.in_flight,
                "busy_s": round(busy or 0.0, 1), "cancelled": self.cancelled}
        if stuck:
            body["detail"] = (f"the model has run one batch for {busy:.0f}s, past the {self.timeout_s:g}s "
                              "request timeout; it does not stop")
        return (503 if stuck else 200), body

    def answer(self, request: ChatRequest, gone: Any) -> Completion | None:
        """The completion, an error completion on timeout, or None when ``gone()`` says the client left."""
        future = asyncio.run_coroutine_threadsafe(complete(self.batcher, request), self.loop)
        deadline = time.monotonic() + self.timeout_s
        with self._lock:
            self.in_flight += 1
        try:
            while True:
                try:
                    return future.result(timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
                except concurrent.futures.TimeoutError:
                    timed_out = time.monotonic() >= deadline
                    if timed_out or gone():
                        self._cancel(request, future)
                        if not timed_out:
                            return None
                        return Completion(error=f"generation took longer than {self.timeout_s:g}s",
                                          finish_reason="timeout")
        finally:
            with self._lock:
                self.in_flight -= 1

    def _cancel(self, request: ChatRequest, future: concurrent.futures.Future) -> None:
        # The request is flagged first: the backend stops it even if its batch already started.
        request.cancel()
        future.cancel()
        with self._lock:
            self.cancelled += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Seconds a connection may sit idle (or trickle its request) before it is closed: long enough for
    # a client starved of CPU in a burst to send its request, short enough that idle ones go.
    timeout = 300

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left before its answer

    def _client_gone(self) -> bool:
        """Whether the client closed its connection (a readable socket with nothing to read)."""
        poller = select.poll()  # not select(): it fails on descriptors past 1024, which a busy server reaches
        poller.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
        if not poller.poll(0):
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _authorized(self) -> bool:
        if self.server.app.authorized(self.headers.get("Authorization")):
            return True
        self._send(401, error_body("missing or wrong API key: send 'Authorization: Bearer KEY'",
                                   "invalid_request_error", "invalid_api_key"))
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        app = self.server.app
        if path == "/health":
            self._send(*app.health())
        elif path in ("/v1/models", "/models") and not self._authorized():
            return
        elif path in ("/v1/models", "/models"):
            model = {"id": app.model_name, "object": "model", "created": 0, "owned_by": "mulligan"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(404, error_body(f"no route GET {path}", "not_found_error"))

    def _body(self) -> bytes | None:
        """The request body, or None after answering 400 (no or bad length, or too large)."""
        limit = self.server.app.limits.max_request_bytes
        try:
            length = int(self.headers["Content-Length"])
            if length < 0:
                raise ValueError
        except (TypeError, ValueError):
            problem = "a Content-Length header is required (chunked bodies are not supported)"
            if self.headers.get("Content-Length") is not None:
                problem = "bad Content-Length header"
            self.close_connection = True
            self._send(400, error_body(problem, "invalid_request_error"))
            return None
        if length > limit:
            # The body stays unread: the connection closes after the answer.
            self.close_connection = True
            self._send(400, error_body(f"the request is {length} bytes; this server takes at most {limit}",
                                       "invalid_request_error", "request_too_large"))
            return None
        return self.rfile.read(length)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self.close_connection = True
            self._send(404, error_body(f"no route POST {path}", "not_found_error"))
            return
        if not self._authorized():
            self.close_connection = True
            return
        raw = self._body()
        if raw is None:
            return
        app = self.server.app
        try:
            request = parse_chat_request(json.loads(raw or b"null"), model_name=app.model_name, limits=app.limits,
                                         llm=app.llm)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self._send(400, error_body(f"malformed JSON body: {e}", "invalid_request_error"))
            return
        except BadRequest as e:
            kind = "not_found_error" if e.status == 404 else "invalid_request_error"
            self._send(e.status, error_body(str(e), kind, e.code))
            return
        except Exception as e:  # noqa: BLE001 - a bug in checking one request must not drop the connection
            log.exception("checking a request failed")
            self._send(500, error_body(f"{type(e).__name__}: {e}", "server_error"))
            return
        try:
            completion = app.answer(request, self._client_gone)
        except Exception as e:  # noqa: BLE001 - the server keeps running whatever the backend does
            completion = Completion(error=f"{type(e).__name__}: {e}", finish_reason="error")
        if completion is None:
            self.close_connection = True  # the client left; nobody reads an answer
        elif completion.finish_reason == "timeout":
            self._send(HTTPStatus.GATEWAY_TIMEOUT, error_body(completion.error or "timeout", "timeout_error"))
        elif completion.error:
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
    api_key: str | None = None,
    limits: Limits = Limits(),
    backlog: int = BACKLOG,
    stuck_after_s: float | None = None,
) -> ServerHandle:
    """Serve ``llm`` over HTTP from background threads and return at once.

    Args:
        llm: Any backend; it is wrapped in a :class:`BatchingLLM` unless it is one already.
        host: Interface to bind; the default accepts local connections only.
        port: Port to bind; 0 picks a free one (read it from ``handle.port``).
        model_name: The model id reported by ``/v1/models`` and in every response; requests that
            name another model get 404.
        max_batch_size: Batch size for the batcher (default: the backend's).
        max_wait_ms: How long the batcher waits for more requests.
        timeout_s: Seconds one request may take; then it is cancelled (the model stops it) and
            answered 504.
        api_key: When set, every ``/v1`` route needs ``Authorization: Bearer <api_key>`` (401 otherwise).
        limits: Request size, reply tokens and prompt tokens one request may ask for (400 beyond).
        backlog: Connections queued by the kernel before they are accepted.
        stuck_after_s: ``/health`` answers 503 "stuck" while one batch has run longer than this
            (default: ``timeout_s`` + 10 s).

    Returns:
        A :class:`ServerHandle`; call ``stop()`` (or use it as a context manager) to end it.
    """
    loop = asyncio.new_event_loop()
    app = _App(llm, model_name, loop, timeout_s=timeout_s, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
               limits=limits, api_key=api_key, stuck_after_s=stuck_after_s)
    server = _Server((host, port), app, backlog)
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.1,), name="mulligan-serve-http", daemon=True),
        threading.Thread(target=loop.run_forever, name="mulligan-serve-loop", daemon=True),
    ]
    for thread in threads:
        thread.start()
    handle = ServerHandle(server, loop, threads)
    log.info("serving %s at %s", llm.name, handle.api_base)
    return handle


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(llm: LLM, host: str = "127.0.0.1", port: int = 8000, model_name: str = "mulligan-default",
          **options: Any) -> None:
    """Serve ``llm`` over HTTP until interrupted (blocking).

    Args:
        llm: Any backend; concurrent requests are batched into it.
        host: Interface to bind (``0.0.0.0`` exposes it to the network: give it an ``api_key``).
        port: Port to bind.
        model_name: The model id reported to clients.
        **options: ``max_batch_size``, ``max_wait_ms``, ``timeout_s``, ``api_key``, ``limits``,
            ``backlog``, ``stuck_after_s`` (see :func:`start_server`).
    """
    handle = start_server(llm, host, port, model_name, **options)
    try:
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
