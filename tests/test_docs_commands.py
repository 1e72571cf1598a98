"""Every command in the README's and docs' ``bash`` blocks runs, as a user would type it.

Each document's commands run in order in a fresh folder (so one command's output feeds the next:
``run --out runs/expert`` then ``show runs/expert``), with the repository's Makefile for ``make``.
A code block preceded by ``<!-- file: NAME -->`` is written to NAME first (docs/envs.md's game).

What is changed, so the suite finishes in minutes (every command still runs):

- sizes: ``--tasks N`` above 2 becomes ``--tasks 2`` (6 for ``--agent search``, whose export needs a win; and ``mulligan run`` without ``--tasks``
  gets it), ``--train-tasks``/``--eval-tasks`` 2, ``selftrain --iterations`` 1,
  ``-o iterations=2``, ``-o samples=4``, ``-o trials=2``, ``make run TASKS=2``;
- ``mulligan serve``, ``mulligan view`` and ``tensorboard`` start in the background and stop after
  the document's last command;
- files a command reads that no document writes get a stand-in (``prog.py`` echoes ``in.txt``).

What does not run, and why: ``make test`` (it is the suite this test belongs to), ``source
.venv/bin/activate`` (the test already runs in that environment), ``pip install`` (installing is
.ci/run's job), commands naming a paid API model (they need a key), and, on a machine without a
Docker engine, ``mulligan sandbox build`` (in CI it runs).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [d for d in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if "```bash" in d.read_text()]
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
PAID = re.compile(r"\b(openai/gpt|anthropic/|gemini/|OPENAI_API_KEY|ANTHROPIC_API_KEY)")
STAND_INS = {"prog.py": "print(input()[::-1])\n", "in.txt": "hello\n"}
COMMAND_TIMEOUT_S = 900
SERVER_PORTS = {"mulligan serve": 8000, "mulligan view": 8765, "tensorboard": 6006}
"""Commands that serve until stopped (they run in the background), with their default ports."""


def blocks(text: str) -> tuple[dict[str, str], list[str]]:
    """The files a document writes (``<!-- file: NAME -->`` blocks) and its bash command lines."""
    files = {m.group(1): m.group(2) for m in re.finditer(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)}
    commands = []
    for m in re.finditer(r"```(?:bash|sh)\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", m.group(1))
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                commands.append(line)
    return files, commands


def skip_reason(command: str) -> str | None:
    """Why a command is not run here (module docstring), or None."""
    if re.match(r"make test\b", command):
        return "make test runs this very suite"
    if command.startswith("source "):
        return "the test already runs in the virtualenv"
    if re.match(r"(pip|python -m pip) install\b", command):
        return "installing is .ci/run's job"
    if PAID.search(command):
        return "needs a paid API key"
    if command.startswith("mulligan sandbox build") and not IN_CI and shutil.which("docker") is None:
        return "no Docker engine here (CI runs it)"
    return None


def shrink(command: str) -> str:
    """The command at test sizes (module docstring)."""
    def at_most(flag: str, n: int):
        return lambda m: f"{flag} {min(int(m.group(1)), n)}"

    # Tree search keeps 6 tasks: its export needs a win among them, and 2 tasks may have none.
    command = re.sub(r"--tasks (\d+)", at_most("--tasks", 6 if "--agent search" in command else 2), command)
    command = re.sub(r"--train-tasks (\d+)", at_most("--train-tasks", 2), command)
    command = re.sub(r"--eval-tasks (\d+)", at_most("--eval-tasks", 2), command)
    for option, n in (("iterations", 2), ("samples", 4), ("trials", 2)):
        command = re.sub(rf"-o {option}=(\d+)", lambda m, o=option, n=n: f"-o {o}={min(int(m.group(1)), n)}",
                         command)
    if " selftrain " in f" {command} ":
        command = re.sub(r"--iterations (\d+)", "--iterations 1", command)
    if re.search(r"(^|\s)mulligan run\b", command) and "--tasks" not in command:
        command = re.sub(r"mulligan run (\S+)", r"mulligan run \1 --tasks 2", command, count=1)
    if re.match(r"make run\b", command) and "TASKS=" not in command:
        command += " TASKS=2"
    return command


def needs_policy(command: str) -> bool:
    """Whether a command uses the embedded default policy."""
    if re.search(r"mulligan (serve|train|selftrain|bootstrap)\b|make run\b", command):
        return True
    return bool(re.search(r"mulligan run\b", command)) and "--agent expert" not in command


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on port {port} after {timeout_s} s")


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_command_of_the_document_runs(doc, tmp_path, request):
    files, commands = blocks(doc.read_text())
    if any(needs_policy(c) for c in commands if not skip_reason(c)):
        request.getfixturevalue("default_policy_path")  # built once, before the first command waits on it
    for name, text in {**STAND_INS, **files}.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "160"}
    servers: list[subprocess.Popen] = []
    ran, skipped = [], []
    try:
        for command in commands:
            reason = skip_reason(command)
            if reason:
                skipped.append((command, reason))
                continue
            command = shrink(command)
            cwd = ROOT if command.startswith("make ") else tmp_path
            server = re.match(r"mulligan serve\b|mulligan view\b|tensorboard\b", command)
            if server:
                port = int(re.search(r"--port (\d+)", command).group(1)) if "--port" in command \
                    else SERVER_PORTS[server.group(0)]
                proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
                servers.append(proc)
                _wait_for_port(port, proc)
                ran.append(command)
                continue
            done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT_S, executable="/bin/bash")
            assert done.returncode == 0, f"{doc.name}: `{command}` exited {done.returncode}:\n" \
                                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            ran.append(command)
    finally:
        for proc in servers:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    assert ran or skipped, f"{doc.name} has no bash commands"
