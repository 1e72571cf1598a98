"""Programs and checks shared by the local and the Docker sandbox tests (one contract, two backends)."""

from __future__ import annotations

import pytest

from mulligan.envs.code.sandbox import ExecResult, Limits, Session

TEST_LIMITS = Limits(wall_s=3.0, memory_mb=256, pids=64, output_bytes=64 * 1024, disk_mb=32)

ON_EVERY_PATH = pytest.mark.parametrize("docker_sandbox", ["warm", "exec"], indirect=True)
"""Run a Docker test on the warm path and on one ``docker exec`` per action (see conftest's ``PATHS``)."""


def run(session: Session, code: str, stdin: str = "", **kw) -> ExecResult:
    return session.run(["python3", "main.py"], files={"main.py": code}, stdin=stdin, **kw)


def check_basic_contract(session: Session) -> None:
    """stdin in, stdout/stderr/exit code out, files persist within the session."""
    code = "import sys\nprint(input()[::-1])\nprint('e', file=sys.stderr)\nopen('kept.txt', 'w').write('1')\nexit(4)"
    r = run(session, code, "abc")
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out, r.killed_reason) == ("cba\n", "e\n", 4, False, None)
    assert not r.truncated
    assert run(session, "print(open('kept.txt').read())").stdout == "1\n"
    r = run(session, "import sys\nprint('\\u00e9', end='', flush=True)\nsys.stdout.buffer.write(b'\\xff')")
    assert r.stdout == "\u00e9\ufffd" and r.ok


def check_limits(session: Session) -> None:
    """Wall time, output size and file size are limited; the session works afterwards."""
    r = run(session, "while True:\n    pass", wall_s=1.0)
    assert r.timed_out and r.killed_reason == "timeout" and r.exit_code == -9 and 0.9 < r.duration_s < 3
    r = run(session, "import sys\nwhile True:\n    sys.stdout.write('x' * 100000)")
    assert r.killed_reason == "output_limit" and r.truncated and len(r.stdout) == 64 * 1024
    r = run(session, "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 2**20)")
    assert r.exit_code == 1 and "File too large" in r.stderr
    assert run(session, "print('fine')").stdout == "fine\n"


def check_background_processes_are_killed(session: Session) -> None:
    """A child left running in the background does not outlive the action."""
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.5)\n"
        "    open('survivor.txt', 'w').write('alive')\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    r = run(session, code)
    assert r.stdout == "parent done\n" and r.ok
    assert run(session, "import time, os\ntime.sleep(1)\nprint(os.path.exists('survivor.txt'))").stdout == "False\n"
