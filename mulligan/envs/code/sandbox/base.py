"""The sandbox interface: run one program with limits in an episode's private work directory.

A :class:`Sandbox` (a backend) opens a :class:`Session` per episode; a session owns a fresh work
directory and runs one process per call to :meth:`Session.run`. Backends differ in isolation:
:mod:`~mulligan.envs.code.sandbox.docker_pool` (containers, the security boundary) and
:mod:`~mulligan.envs.code.sandbox.local` (host subprocesses with resource limits, no boundary).
Both run the same :mod:`~mulligan.envs.code.sandbox.supervisor` next to the program, so limits and
results mean the same everywhere.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from mulligan.errors import SandboxError

KilledReason = Literal["timeout", "output_limit", "memory", "cpu_limit", "sandbox"]

SUPERVISOR_SOURCE = (Path(__file__).parent / "supervisor.py").read_text()
"""Source of the supervisor, sent to every sandbox process as ``python3 -c``."""
ZYGOTE_SOURCE = (Path(__file__).parent / "zygote.py").read_text()
"""Source of the warm supervisor's zygote (``python3 -c``)."""


class Limits(BaseModel):
    """Resource limits of a sandbox.

    ``memory_mb``, ``cpus``, ``pids`` and ``disk_mb`` hold for a whole session (a container);
    the others for each process, and :meth:`Session.run` may override them per call.
    """

    model_config = ConfigDict(frozen=True)

    wall_s: float = 10.0
    """Wall-clock seconds before the process is killed."""
    output_bytes: int = 64 * 1024
    """Bytes kept of stdout and of stderr each; a process that writes more is killed."""
    file_bytes: int = 16 * 1024 * 1024
    """Largest file a process may write (RLIMIT_FSIZE); writes past it fail with EFBIG."""
    memory_mb: int = 512
    """Memory of the session (cgroup in Docker; address space per process in the local backend)."""
    cpus: float = 1.0
    """CPU share of a session (Docker only)."""
    pids: int = 64
    """Processes and threads of a session (Docker only)."""
    disk_mb: int = 64
    """Size of the tmpfs work directory (Docker only)."""

    def cpu_seconds(self, wall_s: float) -> int:
        """The RLIMIT_CPU that goes with a wall limit: a busy process hits the wall first."""
        return int(wall_s) + 2


class ExecResult(BaseModel):
    """What one sandboxed process did.

    Attributes:
        stdout: Its standard output, decoded as UTF-8 (invalid bytes replaced), cut at the limit.
        stderr: Its standard error, likewise.
        exit_code: The exit status; negative for a process killed by a signal (``-9``), None when
            the process never started.
        timed_out: The wall-clock limit killed it.
        killed_reason: Why the sandbox killed it: ``timeout``, ``output_limit``, ``memory``,
            ``cpu_limit``, or ``sandbox`` (the sandbox's own supervisor was killed or failed, for
            example by a program that signalled every process it could see); None when it ended
            by itself.
        truncated: Output was cut at ``Limits.output_bytes``.
        duration_s: Wall-clock seconds the process ran.
    """

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    killed_reason: KilledReason | None = None
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Exited with status 0 by itself."""
        return self.exit_code == 0 and self.killed_reason is None


class Session(abc.ABC):
    """One episode's sandbox: a private work directory and the processes run in it.

    Backends differ only in how they reach the supervisor (:meth:`_supervise`) and in the
    class attributes below.
    """

    limits: Limits
    workdir: str
    """The work directory as the program sees it."""
    kill_all: bool = False
    """Whether the supervisor may clean up by killing every process of the sandbox user."""
    address_space: bool = False
    """Whether ``Limits.memory_mb`` is enforced per process (RLIMIT_AS) instead of by a cgroup."""
    python: str | None = None
    """The Python that runs ``python3`` programs (None: the sandbox's own ``python3``)."""

    def run(
        self,
        argv: list[str],
        *,
        files: dict[str, str] | None = None,
        stdin: str = "",
        wall_s: float | None = None,
        output_bytes: int | None = None,
    ) -> ExecResult:
        """Write ``files`` into the work directory, then run ``argv`` there and wait for it.

        Args:
            argv: The command; ``"python3"`` as its first word is the sandbox's Python.
            files: Relative path -> text, written before the process starts (overwriting).
            stdin: Text fed to the process's standard input.
            wall_s: Overrides ``Limits.wall_s`` for this process.
            output_bytes: Overrides ``Limits.output_bytes`` for this process.

        Returns:
            The result; a program that crashes, hangs or floods output is a result, not an error.

        Raises:
            SandboxError: The sandbox itself failed (engine gone, session closed), or a file path
                leaves the work directory.
        """
        wall = float(wall_s if wall_s is not None else self.limits.wall_s)
        cap = int(output_bytes if output_bytes is not None else self.limits.output_bytes)
        for path in files or {}:
            if path.startswith("/") or ".." in Path(path).parts:
                raise SandboxError(f"sandbox file paths must be relative and stay inside the work dir: {path!r}")
        request = {
            "argv": list(argv),
            "files": dict(files or {}),
            "stdin": stdin,
            "workdir": self.workdir,
            "wall_s": wall,
            "cpu_s": self.limits.cpu_seconds(wall),
            "output_bytes": cap,
            "file_bytes": self.limits.file_bytes,
            "memory_bytes": self.limits.memory_mb * 1024 * 1024 if self.address_space else None,
            "kill_all": self.kill_all,
            "python": self.python,
        }
        return self._supervise(json.dumps(request).encode(), wall, cap)

    @abc.abstractmethod
    def _supervise(self, request: bytes, wall_s: float, output_bytes: int) -> ExecResult:
        """Run the supervisor with ``request`` on its stdin and return its result."""

    @abc.abstractmethod
    def close(self) -> None:
        """Kill what still runs and delete the work directory; idempotent."""

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Sandbox(Protocol):
    """A sandbox backend: opens sessions with the same limits."""

    name: str
    limits: Limits

    def session(self) -> Session:
        """A fresh session (work directory) for one episode."""
        ...

    def close(self) -> None:
        """Close every session and release what the backend holds; idempotent."""
        ...


def parse_supervisor_output(stdout: bytes, stderr: bytes, exit_code: int | None) -> ExecResult:
    """The supervisor's JSON result, or a ``killed_reason="sandbox"`` result when it has none.

    A supervisor with no result was killed or broken by the program it ran (they share a user).
    """
    text = stdout.decode("utf-8", "replace").strip()
    if text:
        try:
            return ExecResult.model_validate_json(text.splitlines()[-1])
        except ValueError:
            pass
    detail = stderr.decode("utf-8", "replace").strip()[-2000:]
    return ExecResult(
        stderr=detail or "the sandbox supervisor ended without a result (the program killed it)",
        exit_code=exit_code,
        killed_reason="sandbox",
    )


__all__ = ["ExecResult", "KilledReason", "Limits", "ZYGOTE_SOURCE", "SUPERVISOR_SOURCE", "Sandbox", "Session"]
