"""The Docker backend: a warm pool of locked-down containers, a fresh one per session.

Starting a container costs about 0.15-0.3 s here, one ``exec`` in a running one about 0.07 s, so
the pool keeps ``warm`` containers started ahead of demand. A session (an episode) takes one and
owns it: its ``/work`` is a fresh tmpfs that no other episode ever saw. Each :meth:`~DockerSession.run`
is one ``docker exec`` of the supervisor as the sandbox user, with the request on stdin. Closing
the session removes the container in the background and the pool starts a replacement.

Containers are removed on :meth:`DockerSandbox.close`, at interpreter exit, on SIGTERM/SIGHUP, and
by the dead-man switch of :mod:`~mulligan.envs.code.sandbox.containers` when the process is killed.
The engine is reached through the ``docker`` SDK (one API client per thread), imported only here.
"""

from __future__ import annotations

import atexit
import logging
import signal
import socket
import struct
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mulligan.envs.code.sandbox.base import SUPERVISOR_SOURCE, ExecResult, Limits, Session, parse_supervisor_output
from mulligan.envs.code.sandbox.containers import (
    DEFAULT_IMAGE,
    SANDBOX_USER,
    WORKDIR,
    connect,
    reap_stale,
    remove_container,
    require_image,
    start_container,
)
from mulligan.errors import SandboxError

log = logging.getLogger(__name__)

SUPERVISOR_GRACE_S = 5.0
"""How long past the program's wall limit the host waits for the supervisor's answer."""
KILL_ALL = "import os\ntry:\n    os.kill(-1, 9)\nexcept ProcessLookupError:\n    pass\n"
_SUPERVISOR_CMD = ["python3", "-I", "-S", "-c", SUPERVISOR_SOURCE]


class _ExecTimeout(Exception):
    pass


class _ExecFlood(Exception):
    pass


@dataclass
class _Container:
    id: str
    deadman: socket.socket


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Read exactly ``n`` bytes ('' at a clean EOF before the first byte)."""
    buf = bytearray()
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _ExecTimeout()
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            raise _ExecTimeout() from None
        if not chunk:
            if buf:
                raise SandboxError("the Docker engine closed an exec stream mid-frame")
            return b""
        buf += chunk
    return bytes(buf)


def exec_with_stdin(
    api: Any, cid: str, cmd: list[str], data: bytes, timeout: float, max_bytes: int = 1 << 24
) -> tuple[bytes, bytes, int | None]:
    """Run ``cmd`` in a container as the sandbox user, feed it ``data``, collect its output.

    Raises:
        _ExecTimeout: No end of output within ``timeout`` seconds.
        _ExecFlood: More than ``max_bytes`` of output (a program that found the exec's own pipe).
    """
    deadline = time.monotonic() + timeout
    exec_id = api.exec_create(cid, cmd, stdin=True, user=SANDBOX_USER, workdir=WORKDIR)["Id"]
    response = api.exec_start(exec_id, socket=True)
    sock = getattr(response, "_sock", response)
    out, err = bytearray(), bytearray()
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while True:  # the engine's multiplexed stream: 8-byte header (stream, 0, 0, 0, size)
            header = _recv_exact(sock, 8, deadline)
            if not header:
                break
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            if len(out) + len(err) + size > max_bytes:
                raise _ExecFlood()
            (err if stream == 2 else out).extend(_recv_exact(sock, size, deadline))
    finally:
        sock.close()
    return bytes(out), bytes(err), api.exec_inspect(exec_id).get("ExitCode")


class DockerSession(Session):
    """One container of the pool, owned by one episode until :meth:`close`."""

    workdir = WORKDIR
    kill_all = True

    def __init__(self, pool: "DockerSandbox", container: _Container):
        self.pool = pool
        self.limits = pool.limits
        self.container: _Container | None = container

    @property
    def container_id(self) -> str | None:
        """The session's container (None once closed)."""
        return self.container.id if self.container else None

    def _supervise(self, request: bytes, wall_s: float, output_bytes: int) -> ExecResult:
        if self.container is None:
            raise SandboxError("this sandbox session is closed")
        started = time.monotonic()
        # The supervisor's answer holds at most both capped streams; more means the program wrote to
        # the supervisor's own stdout (it may, as the same user), and reading on would flood the host.
        most = 2 * 6 * output_bytes + (1 << 20)  # two streams, JSON escapes up to 6 bytes per byte
        try:
            out, err, code = exec_with_stdin(self.pool.api(), self.container.id, _SUPERVISOR_CMD, request,
                                             wall_s + SUPERVISOR_GRACE_S, most)
        except (_ExecTimeout, _ExecFlood) as e:
            self._clean()
            timeout = isinstance(e, _ExecTimeout)
            return ExecResult(
                stderr="the sandbox supervisor did not answer in time (the program stopped or killed it)" if timeout
                else "the program wrote into the sandbox supervisor's own output, past every limit",
                timed_out=timeout, killed_reason="timeout" if timeout else "output_limit",
                duration_s=time.monotonic() - started,
            )
        except SandboxError:
            raise
        except Exception as e:  # noqa: BLE001 - the engine's errors become ours
            raise SandboxError(f"sandbox container {self.container.id[:12]} failed: {type(e).__name__}: {e}") from e
        result = parse_supervisor_output(out, err, code)
        if result.killed_reason == "sandbox":
            self._clean()
        return result

    def _clean(self) -> None:
        """Kill every process of the sandbox user; replace the container if even that fails."""
        assert self.container is not None
        try:
            _, _, code = exec_with_stdin(self.pool.api(), self.container.id, ["python3", "-c", KILL_ALL], b"", 10.0)
            if code == 0:
                return
        except Exception:  # noqa: BLE001 - any failure: the container is not trusted any more
            pass
        log.warning("sandbox container %s could not be cleaned; replacing it", self.container.id[:12])
        old, self.container = self.container, self.pool.take()
        self.pool.give_back(old)

    def close(self) -> None:
        """Give the container back; it is removed, never reused."""
        if self.container is not None:
            container, self.container = self.container, None
            self.pool.give_back(container)


class DockerSandbox:
    """A pool of sandbox containers with ``warm`` of them started ahead of demand.

    Args:
        limits: Limits of every container and process.
        image: The sandbox image (``mulligan sandbox build`` makes the default one).
        warm: Idle containers kept started; sessions beyond them start one on demand.

    Raises:
        DependencyNotInstalled: The ``docker`` package is missing.
        SandboxError: The engine is not reachable or the image is missing (on first use).
    """

    name = "docker"

    def __init__(self, limits: Limits | None = None, *, image: str = DEFAULT_IMAGE, warm: int = 2):
        self.limits = limits or Limits()
        self.image = image
        self.warm = max(0, warm)
        self._local = threading.local()
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler may close the pool mid-call
        self._idle: list[_Container] = []
        self._live: dict[str, _Container] = {}
        self._retiring: dict[str, _Container] = {}
        """Given back, removal under way."""
        self._pending = 0
        self._started = False
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mulligan-sandbox")
        _track(self)

    def api(self) -> Any:
        """This thread's API client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = connect()
        return client

    def start(self) -> "DockerSandbox":
        """Check the engine and image, remove stale containers, and start the warm ones."""
        with self._lock:
            if self._started:
                return self
            self._started = True
        api = self.api()
        require_image(api, self.image)
        removed = reap_stale(api)
        if removed:
            log.info("removed %d stale sandbox containers", len(removed))
        self._refill()
        return self

    def session(self) -> DockerSession:
        """A fresh container for one episode (a warm one when available)."""
        return DockerSession(self, self.take())

    def take(self) -> _Container:
        """Take a container out of the pool (starting one if none is warm)."""
        self.start()
        with self._lock:
            if self._closed:
                raise SandboxError("the Docker sandbox is closed")
            container = self._idle.pop() if self._idle else None
        if container is None:
            container = self._new()
        self._refill()
        return container

    def give_back(self, container: _Container) -> None:
        """Remove a used container (in the background) and top the pool up."""
        with self._lock:
            self._live.pop(container.id, None)
            self._retiring[container.id] = container
            closed = self._closed
        if closed:
            self._remove(container)
            return
        try:
            self._executor.submit(self._remove, container)
        except RuntimeError:  # shut down by a close() in another thread
            self._remove(container)
        self._refill()

    def container_ids(self) -> list[str]:
        """Ids of the containers the pool holds now (idle and leased)."""
        with self._lock:
            return list(self._live)

    def stats(self) -> dict[str, int]:
        """Containers held: ``idle`` (warm), ``leased`` (in sessions), ``starting``."""
        with self._lock:
            return {"idle": len(self._idle), "leased": len(self._live) - len(self._idle), "starting": self._pending}

    def close(self, *, wait: bool = True) -> None:
        """Remove every container of the pool (leased ones too); idempotent.

        Args:
            wait: Wait for containers being started in the background (a signal handler does not:
                the dead-man switch removes those when the process ends).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        with self._lock:
            leftovers = list(self._live.values()) + list(self._retiring.values())
            self._live, self._idle = {}, []
        for container in leftovers:
            self._remove(container)

    def _new(self) -> _Container:
        cid, deadman = start_container(self.api(), self.image, self.limits)
        container = _Container(cid, deadman)
        with self._lock:
            self._live[cid] = container
            closed = self._closed
        if closed:
            self.give_back(container)
            raise SandboxError("the Docker sandbox is closed")
        return container

    def _refill(self) -> None:
        with self._lock:
            need = self.warm - len(self._idle) - self._pending
            if self._closed or need <= 0:
                return
            self._pending += need
        for _ in range(need):
            try:
                self._executor.submit(self._warm_one)
            except RuntimeError:  # executor shut down by close()
                with self._lock:
                    self._pending -= 1

    def _warm_one(self) -> None:
        try:
            container = self._new()
        except Exception as e:  # noqa: BLE001 - a failed warm start only costs a cold one later
            if not self._closed:
                log.warning("could not start a warm sandbox container: %s", e)
            return
        finally:
            with self._lock:
                self._pending -= 1
        with self._lock:
            if not self._closed:
                self._idle.append(container)
                return
        self.give_back(container)

    def _remove(self, container: _Container) -> None:
        try:
            remove_container(self.api(), container.id)
        except Exception as e:  # noqa: BLE001 - the dead-man switch below still removes it
            log.warning("could not remove sandbox container %s: %s", container.id[:12], e)
        finally:
            container.deadman.close()
            with self._lock:
                self._retiring.pop(container.id, None)


_POOLS: "weakref.WeakSet[DockerSandbox]" = weakref.WeakSet()
_HOOKS = {"atexit": False, "signals": False}


def close_all(*, wait: bool = True) -> None:
    """Close every Docker sandbox of this process (run at exit and on SIGTERM/SIGHUP)."""
    for pool in list(_POOLS):
        pool.close(wait=wait)


def _on_signal(signum: int, frame: Any) -> None:
    close_all(wait=False)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _track(pool: DockerSandbox) -> None:
    _POOLS.add(pool)
    if not _HOOKS["atexit"]:
        _HOOKS["atexit"] = True
        atexit.register(close_all)
    if not _HOOKS["signals"] and threading.current_thread() is threading.main_thread():
        _HOOKS["signals"] = True
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:  # never override a handler the application chose
                signal.signal(sig, _on_signal)
