"""The Docker backend: a warm pool of locked-down containers, one per session at a time.

Starting a container costs about 0.15-0.3 s here, one ``exec`` in a running one about 0.07 s, so
the pool keeps ``warm`` containers started ahead of demand, each with its warm supervisor
(:mod:`~mulligan.envs.code.sandbox.warm`): a server started once per container with one
``exec``, that runs each action in a fresh, limited process forked from a zygote, an interpreter
that did its startup once. A session (an episode) takes one container and owns it. With
``server=False`` each action is instead one ``exec`` of the supervisor (the way before the warm
path; kept for comparison and as a fallback).

When a session closes, its container is removed in the background, or, with ``reuse`` above 1,
returned to its fresh state (every process of the sandbox user killed, ``/work``, ``/tmp``,
``/dev/shm`` and ``/dev/mqueue`` emptied, System V IPC objects removed, all of it checked) and
handed to the next session; a container that fails the check, or whose program killed its
supervisor, is removed instead.

Containers are removed on :meth:`DockerSandbox.close`, at interpreter exit, on SIGTERM/SIGHUP, and
by the dead-man switch of :mod:`~mulligan.envs.code.sandbox.containers` when the process is killed.
The engine is reached through the ``docker`` SDK (one API client per thread), imported only here.
"""

from __future__ import annotations

import atexit
import json
import logging
import signal
import socket
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mulligan.envs.code.sandbox.base import SUPERVISOR_SOURCE, ExecResult, Limits, Session, parse_supervisor_output
from mulligan.envs.code.sandbox.containers import (
    DEFAULT_IMAGE,
    WORKDIR,
    connect,
    reap_stale,
    remove_container,
    require_image,
    start_container,
)
from mulligan.envs.code.sandbox.exec_stream import ExecFlood, ExecTimeout, exec_with_stdin
from mulligan.envs.code.sandbox.warm import WIPE, WarmSupervisor
from mulligan.errors import SandboxError

log = logging.getLogger(__name__)

SUPERVISOR_GRACE_S = 5.0
"""How long past the program's wall limit the host waits for the supervisor's answer."""
RESET_TIMEOUT_S = 10.0
IDLE_SLACK = 4
"""Containers back from an episode are kept while fewer than ``warm + IDLE_SLACK`` are idle."""
KILL_ALL = "import os\ntry:\n    os.kill(-1, 9)\nexcept ProcessLookupError:\n    pass\n"
_SUPERVISOR_CMD = ["python3", "-I", "-S", "-c", SUPERVISOR_SOURCE]


@dataclass
class _Container:
    id: str
    deadman: socket.socket
    server: WarmSupervisor | None = None
    sessions: int = 0
    """Sessions it has served."""


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
        # the supervisor's own stdout, and reading on would flood the host.
        most = 2 * 6 * output_bytes + (1 << 20)  # two streams, JSON escapes up to 6 bytes per byte
        try:
            if self.pool.server:
                result = self._ask_server(request, wall_s + SUPERVISOR_GRACE_S, most)
            else:
                out, err, code = exec_with_stdin(self.pool.api(), self.container.id, _SUPERVISOR_CMD, request,
                                                 wall_s + SUPERVISOR_GRACE_S, most)
                result = parse_supervisor_output(out, err, code)
        except (ExecTimeout, ExecFlood) as e:
            self._clean()
            timeout = isinstance(e, ExecTimeout)
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
        if result.killed_reason == "sandbox":
            self._clean()
        return result

    def _ask_server(self, request: bytes, timeout: float, most: int) -> ExecResult:
        assert self.container is not None
        if self.container.server is None:
            self.container.server = self.pool.start_server(self.container.id)
        server = self.container.server
        answer = server.call(request, timeout, most)
        if answer is None:
            return parse_supervisor_output(b"", server.stderr, None)
        return ExecResult.model_validate_json(answer)

    def _clean(self) -> None:
        """Kill every process of the sandbox user; replace the container if even that fails.

        The warm path starts a new server, which kills everything else of the user first.
        """
        container = self.container
        assert container is not None
        container.sessions = self.pool.reuse  # whatever happened here, the container serves no other episode
        try:
            if self.pool.server:
                if container.server is not None:
                    container.server.close()
                container.server = None
                container.server = self.pool.start_server(container.id)
                return
            _, _, code = exec_with_stdin(self.pool.api(), container.id, ["python3", "-c", KILL_ALL], b"", 10.0)
            if code == 0:
                return
        except Exception:  # noqa: BLE001 - any failure: the container is not trusted any more
            pass
        log.warning("sandbox container %s could not be cleaned; replacing it", container.id[:12])
        self.container = self.pool.take()
        self.pool.retire(container)

    def close(self) -> None:
        """Give the container back: removed, or emptied for another episode (see ``reuse``)."""
        if self.container is not None:
            container, self.container = self.container, None
            self.pool.give_back(container)


class DockerSandbox:
    """A pool of sandbox containers with ``warm`` of them started ahead of demand.

    Args:
        limits: Limits of every container and process.
        image: The sandbox image (``mulligan sandbox build`` makes the default one).
        warm: Idle containers kept started; sessions beyond them start one on demand.
        server: Run actions through a warm supervisor started once per container (one ``docker
            exec`` per container); False: one ``docker exec`` of the supervisor per action.
        zygote: With ``server``, fork ``python3 SCRIPT`` programs from an interpreter that did its
            startup once (:mod:`~mulligan.envs.code.sandbox.zygote`); False: start ``python3`` for each.
        reuse: Sessions (episodes) a container serves before it is removed; between two it is
            returned to its fresh state and checked. 1: a new container for every session.

    Raises:
        DependencyNotInstalled: The ``docker`` package is missing.
        SandboxError: The engine is not reachable or the image is missing (on first use).
    """

    name = "docker"

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        image: str = DEFAULT_IMAGE,
        warm: int = 2,
        server: bool = True,
        zygote: bool = True,
        reuse: int = 100,
    ):
        self.limits = limits or Limits()
        self.image = image
        self.warm = max(0, warm)
        self.server = server
        self.zygote = zygote
        self.reuse = max(1, reuse)
        self._local = threading.local()
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler may close the pool mid-call
        self._idle: list[_Container] = []
        self._live: dict[str, _Container] = {}
        self._retiring: dict[str, _Container] = {}
        """Given back, removal under way."""
        self._pending = 0
        """Containers being started for the idle list."""
        self._resetting = 0
        """Containers back from a session, being reset for the idle list."""
        self._started = False
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mulligan-sandbox")
        self._resetter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mulligan-sandbox-reset")
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

    def start_server(self, cid: str) -> WarmSupervisor:
        """Start the warm supervisor of container ``cid``."""
        return WarmSupervisor(self.api(), cid, zygote=self.zygote)

    def give_back(self, container: _Container) -> None:
        """Take back a container after a session: reset it for the next one, or remove it."""
        container.sessions += 1
        with self._lock:
            recycle = container.sessions < self.reuse and not self._closed
            if recycle:
                self._resetting += 1
        if not recycle:
            self.retire(container)
            return
        try:
            self._resetter.submit(self._recycle, container)
        except RuntimeError:  # shut down by a close() in another thread
            with self._lock:
                self._resetting -= 1
            self.retire(container)

    def retire(self, container: _Container) -> None:
        """Remove a container (in the background) and top the pool up."""
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
        """Containers held: ``idle`` (warm), ``leased`` (in sessions), ``starting``, ``resetting``."""
        with self._lock:
            return {"idle": len(self._idle), "leased": len(self._live) - len(self._idle) - self._resetting,
                    "starting": self._pending, "resetting": self._resetting}

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
        self._resetter.shutdown(wait=wait, cancel_futures=not wait)
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
            self.retire(container)
            raise SandboxError("the Docker sandbox is closed")
        if self.server:
            try:
                container.server = self.start_server(cid)
            except Exception as e:  # noqa: BLE001 - the engine's errors become ours
                self.retire(container)
                raise SandboxError(f"could not start the supervisor in sandbox container {cid[:12]}: {e}") from e
        return container

    def _refill(self) -> None:
        with self._lock:
            need = self.warm - len(self._idle) - self._pending - self._resetting
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
        self.retire(container)

    def _recycle(self, container: _Container) -> None:
        try:
            problems = self._reset(container)
        except Exception as e:  # noqa: BLE001 - any failure means the container is not clean
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            log.warning("sandbox container %s is not clean after its episode (%s); removing it", container.id[:12],
                        "; ".join(problems))
        with self._lock:
            self._resetting -= 1
            keep = not problems and not self._closed and len(self._idle) < self.warm + IDLE_SLACK
            if keep:
                self._idle.append(container)
        if not keep:
            self.retire(container)

    def _reset(self, container: _Container) -> list[str]:
        """Return a container to its fresh state; the problems found (none: it is clean)."""
        if container.server is not None:
            answer = container.server.reset(RESET_TIMEOUT_S)
        else:
            request = json.dumps({"op": "reset", "wipe": WIPE}).encode()
            try:
                out, _, _ = exec_with_stdin(self.api(), container.id, _SUPERVISOR_CMD, request, RESET_TIMEOUT_S)
                answer = json.loads(out.decode().strip().splitlines()[-1])
            except Exception as e:  # noqa: BLE001 - any failure means the container is not clean
                answer = {"clean": False, "problems": [f"{type(e).__name__}: {e}"]}
        return [] if answer.get("clean") else list(answer.get("problems") or ["unknown"])

    def _remove(self, container: _Container) -> None:
        try:
            if container.server is not None:
                container.server.close()
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
