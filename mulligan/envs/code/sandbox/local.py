"""The local backend: programs run as host subprocesses with resource limits.

**This is no security boundary.** The program runs as your user, sees your files and your
network, and can leave background processes behind. It exists for development on machines
without Docker; choose it explicitly (``sandbox="local"`` or ``MULLIGAN_SANDBOX=local``).
What it does limit: wall time, CPU time, address space (``memory_mb``), file size and output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import weakref

from mulligan.envs.code.sandbox.base import SUPERVISOR_SOURCE, ExecResult, Limits, Session, parse_supervisor_output
from mulligan.errors import SandboxError

SUPERVISOR_GRACE_S = 10.0
"""How long past the program's wall limit to wait for the supervisor itself."""


class LocalSession(Session):
    """A temporary work directory on the host; each :meth:`run` is one supervised subprocess."""

    address_space = True
    python = sys.executable

    def __init__(self, limits: Limits):
        self.limits = limits
        self.workdir = tempfile.mkdtemp(prefix="mulligan-sandbox-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.workdir, True)

    def _supervise(self, request: bytes, wall_s: float, output_bytes: int) -> ExecResult:
        if not self._cleanup.alive:
            raise SandboxError("this sandbox session is closed")
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-c", SUPERVISOR_SOURCE], input=request, capture_output=True,
                timeout=wall_s + SUPERVISOR_GRACE_S, cwd=self.workdir,
            )
        except subprocess.TimeoutExpired:
            return ExecResult(stderr="the sandbox supervisor did not answer", timed_out=True, killed_reason="timeout")
        return parse_supervisor_output(done.stdout, done.stderr, done.returncode)

    def close(self) -> None:
        """Delete the work directory."""
        self._cleanup()


class LocalSandbox:
    """Opens :class:`LocalSession` s. Not a security boundary (see the module docstring).

    Args:
        limits: Limits of every process (``cpus``, ``pids`` and ``disk_mb`` are not enforced).
    """

    name = "local"

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._sessions: weakref.WeakSet[LocalSession] = weakref.WeakSet()

    def session(self) -> LocalSession:
        """A fresh temporary work directory."""
        s = LocalSession(self.limits)
        self._sessions.add(s)
        return s

    def close(self) -> None:
        """Delete every open session's work directory."""
        for s in list(self._sessions):
            s.close()
