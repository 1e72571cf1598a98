"""The host side of a warm supervisor: one ``docker exec`` per container, many actions through it.

The supervisor (:mod:`~mulligan.envs.code.sandbox.supervisor`, ``serve`` mode) runs as the sandbox
user for as long as its container serves, reads requests from its stdin and answers on its
stdout, each message a 4-byte big-endian length and JSON. It forks ``python3`` programs from a
zygote (:mod:`~mulligan.envs.code.sandbox.zygote`), so an action costs a round trip through the
engine's stream and the program itself, instead of an exec (tens of milliseconds of engine work)
plus an interpreter startup. The program may kill its supervisor (they share a user); the stream then ends, the
caller reports that, and starts a new server, which first kills whatever the program left.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mulligan.envs.code.sandbox.base import ZYGOTE_SOURCE, SUPERVISOR_SOURCE
from mulligan.envs.code.sandbox.containers import WORKDIR
from mulligan.envs.code.sandbox.exec_stream import ExecFlood, ExecStream

WIPE = ((WORKDIR, 0o700), ("/tmp", None), ("/dev/shm", None), ("/dev/mqueue", None))
"""The directories a program can write to, emptied between episodes (with the mode to restore)."""


def server_command(*, zygote: bool = True, workdir: str = WORKDIR) -> list[str]:
    """The command that starts a warm supervisor."""
    config = {"workdir": workdir, "tmpdir": None, "python": "python3",
              "zygote": ZYGOTE_SOURCE if zygote else None}
    return ["python3", "-I", "-S", "-c", SUPERVISOR_SOURCE, "serve", json.dumps(config)]


class WarmSupervisor:
    """A supervisor server in a container.

    Args:
        api: A Docker API client.
        cid: The container.
        zygote: Fork ``python3 SCRIPT`` programs from an interpreter started once (else start each).
    """

    def __init__(self, api: Any, cid: str, *, zygote: bool = True):
        self.stream = ExecStream(api, cid, server_command(zygote=zygote))

    @property
    def stderr(self) -> bytes:
        """What the server wrote to its stderr (the tail)."""
        return bytes(self.stream.err)

    def call(self, request: bytes, timeout: float, max_bytes: int) -> bytes | None:
        """Send one request (JSON) and wait for the answer; None when the server has ended.

        Raises:
            ExecTimeout: No answer within ``timeout`` seconds (the server is stopped or stuck).
            ExecFlood: An answer longer than ``max_bytes``.
        """
        deadline = time.monotonic() + timeout
        if self.stream.closed or not self.stream.send(len(request).to_bytes(4, "big") + request):
            return None
        out = self.stream.out
        while len(out) < 4:
            if not self.stream.read_frame(deadline, max_bytes + 4):
                return None
        size = int.from_bytes(out[:4], "big")
        if size > max_bytes:
            raise ExecFlood()
        while len(out) < 4 + size:
            if not self.stream.read_frame(deadline, max_bytes + 4):
                return None
        answer = bytes(out[4 : 4 + size])
        del out[: 4 + size]
        return answer

    def reset(self, timeout: float = 10.0) -> dict[str, Any]:
        """Return the container to its fresh state for another episode: ``{"clean", "problems"}``."""
        try:
            answer = self.call(json.dumps({"op": "reset", "wipe": WIPE}).encode(), timeout, 1 << 20)
        except Exception as e:  # noqa: BLE001 - any failure means the container is not clean
            return {"clean": False, "problems": [f"{type(e).__name__}: {e}"]}
        if answer is None:
            return {"clean": False, "problems": ["the supervisor is gone"]}
        return json.loads(answer)

    def close(self) -> None:
        """Close the stream; the server reads EOF and ends."""
        self.stream.close()
