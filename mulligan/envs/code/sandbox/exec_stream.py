"""Processes in a container reached through the engine's exec API (the docker SDK, never the CLI).

An exec with stdin attached is one hijacked connection to the engine: what we send is the
process's stdin; what comes back is its stdout and stderr, multiplexed in frames (an 8-byte
header: stream, 0, 0, 0, big-endian size). :func:`exec_with_stdin` runs a command to its end;
:class:`ExecStream` keeps a long-lived process's stream open for many exchanges (the warm
supervisor of :mod:`~mulligan.envs.code.sandbox.warm`).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from mulligan.envs.code.sandbox.containers import SANDBOX_USER, WORKDIR
from mulligan.errors import SandboxError

STDERR_TAIL = 64 * 1024
"""Bytes of a long-lived process's stderr kept (its last words, when it dies)."""


class ExecTimeout(Exception):
    """No answer before the deadline."""


class ExecFlood(Exception):
    """More output than the caller allows (a program that found the supervisor's own pipe)."""


class ExecStream:
    """A command started in a container as the sandbox user, with its stdin and output attached.

    Args:
        api: A Docker API client (used only here; the stream itself is a plain socket).
        cid: The container.
        cmd: The command.
    """

    def __init__(self, api: Any, cid: str, cmd: list[str]):
        self.api = api
        self.exec_id = api.exec_create(cid, cmd, stdin=True, user=SANDBOX_USER, workdir=WORKDIR)["Id"]
        response = api.exec_start(self.exec_id, socket=True)
        self.sock: socket.socket = getattr(response, "_sock", response)
        self.out = bytearray()
        self.err = bytearray()
        self.closed = False

    def send(self, data: bytes) -> bool:
        """Write to the process's stdin; False when the stream is gone."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def end_input(self) -> None:
        """Close the process's stdin (it reads EOF)."""
        self.sock.shutdown(socket.SHUT_WR)

    def read_frame(self, deadline: float, max_out: int) -> bool:
        """Read one frame into :attr:`out` or :attr:`err`; False at the end of the stream.

        Raises:
            ExecTimeout: Nothing complete before ``deadline``.
            ExecFlood: :attr:`out` would pass ``max_out`` bytes.
        """
        header = self._recv_exact(8, deadline)
        if not header:
            return False
        stream, size = header[0], struct.unpack(">I", header[4:])[0]
        if stream != 2 and len(self.out) + size > max_out:
            raise ExecFlood()
        data = self._recv_exact(size, deadline)
        if stream == 2:
            self.err.extend(data)
            del self.err[:-STDERR_TAIL]
        else:
            self.out.extend(data)
        return True

    def exit_code(self) -> int | None:
        """The process's exit status (None while it runs)."""
        return self.api.exec_inspect(self.exec_id).get("ExitCode")

    def close(self) -> None:
        """Close the connection (the process reads EOF on stdin); idempotent."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        """Exactly ``n`` bytes, or b'' at a clean end of the stream before the first byte."""
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExecTimeout()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise ExecTimeout() from None
            except OSError:
                chunk = b""  # reset by the engine: the same as its end
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
        ExecTimeout: No end of output within ``timeout`` seconds.
        ExecFlood: More than ``max_bytes`` of standard output.
    """
    deadline = time.monotonic() + timeout
    stream = ExecStream(api, cid, cmd)
    try:
        stream.send(data)
        stream.end_input()
        while stream.read_frame(deadline, max_bytes):
            pass
    finally:
        stream.close()
    return bytes(stream.out), bytes(stream.err), stream.exit_code()
