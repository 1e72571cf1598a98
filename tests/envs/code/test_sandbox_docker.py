"""The Docker backend: the sandbox contract, isolation between episodes, and containers that are
always removed (on close, SIGTERM, SIGKILL of the owner, and stale ones at the next start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sandbox_cases import ON_EVERY_PATH, check_background_processes_are_killed, check_basic_contract, check_limits, run

from mulligan.envs.code.sandbox import make_sandbox
from mulligan.envs.code.sandbox.containers import (
    DEFAULT_IMAGE,
    LABEL,
    OWNER_LABEL,
    connect,
    owner_token,
    sandbox_containers,
    wait_gone,
)

pytestmark = pytest.mark.docker


def owned_by(pid: int) -> list[str]:
    """Ids of the sandbox containers whose owner label names process ``pid``."""
    host = owner_token(pid).split(":")[0]
    return [c["Id"] for c in sandbox_containers(connect())
            if (c.get("Labels") or {}).get(OWNER_LABEL, "").startswith(f"{host}:{pid}:")]


@ON_EVERY_PATH
def test_contract(docker_sandbox):
    with docker_sandbox.session() as s:
        check_basic_contract(s)


@ON_EVERY_PATH
def test_limits(docker_sandbox):
    with docker_sandbox.session() as s:
        check_limits(s)


@ON_EVERY_PATH
def test_background_processes(docker_sandbox):
    with docker_sandbox.session() as s:
        check_background_processes_are_killed(s)


@ON_EVERY_PATH
def test_the_program_runs_unprivileged_in_a_read_only_container(docker_sandbox):
    code = textwrap.dedent("""
        import json, os
        status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
        print(json.dumps({"uid": os.getuid(), "cwd": os.getcwd(), "caps": status["CapEff"].strip(),
                          "nnp": status["NoNewPrivs"].strip(), "net": sorted(os.listdir("/sys/class/net"))}))
    """)
    with docker_sandbox.session() as s:
        facts = json.loads(run(s, code).stdout)
    assert facts == {"uid": 10001, "cwd": "/work", "caps": "0000000000000000", "nnp": "1", "net": ["lo"]}


@ON_EVERY_PATH
def test_every_session_gets_its_own_container_and_a_fresh_work_dir(docker_sandbox):
    fresh = "import os\nprint(sorted(os.listdir('/work')), os.listdir('/tmp'))"
    with docker_sandbox.session() as a:
        run(a, "open('/work/secret.txt', 'w').write('episode a'); open('/tmp/t.txt', 'w').write('a')")
        with docker_sandbox.session() as b:
            assert b.container_id != a.container_id
            assert run(b, fresh).stdout == "['main.py'] []\n"
    for _ in range(3):  # containers given back come again, emptied
        with docker_sandbox.session() as c:
            assert run(c, fresh).stdout == "['main.py'] []\n"


def test_without_reuse_a_container_is_removed_with_its_session(docker_ready):
    sandbox = make_sandbox("docker", warm=0, reuse=1)
    try:
        session = sandbox.session()
        assert run(session, "print(1)").stdout == "1\n"
        gone = session.container_id
        session.close()
        assert wait_gone(connect(), [gone])
    finally:
        sandbox.close()


def test_the_pool_keeps_containers_warm_and_close_removes_them(docker_ready):
    sandbox = make_sandbox("docker", warm=2)
    sandbox.session()
    deadline = time.monotonic() + 20
    while sandbox.stats()["idle"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.stats() == {"idle": 2, "leased": 1, "starting": 0, "resetting": 0}
    ids = sandbox.container_ids()
    assert len(ids) == 3 and set(ids) <= set(owned_by(os.getpid()))
    started = time.perf_counter()
    sandbox.session()
    assert time.perf_counter() - started < 0.1  # a warm container is handed out at once
    ids = set(ids) | set(sandbox.container_ids())
    sandbox.close()
    assert wait_gone(connect(), list(ids)) and sandbox.container_ids() == []
    with pytest.raises(Exception, match="closed"):
        sandbox.session()


OWNER = """
import sys, time
from mulligan.envs.code.sandbox import make_sandbox
sandbox = make_sandbox("docker", warm=1)
session = sandbox.session()
assert session.run(["python3", "-c", "print(1)"]).stdout == "1\\n"
while sandbox.stats()["idle"] < 1:
    time.sleep(0.05)
print("ready", flush=True)
time.sleep(120)
"""


def start_owner() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert len(owned_by(proc.pid)) == 2
    return proc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_containers_are_removed_when_the_owner_is_killed(docker_ready, sig):
    proc = start_owner()
    ids = owned_by(proc.pid)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == -sig
    # SIGTERM: the handler removes them; SIGKILL: the dead-man switch does.
    assert wait_gone(connect(), ids, timeout=20), f"containers left behind after {sig!r}"


def test_stale_containers_are_reaped_at_start(docker_ready):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    api = connect()
    stale = api.create_container(DEFAULT_IMAGE, command=["cat"], stdin_open=True,
                                 labels={LABEL: "1", OWNER_LABEL: owner_token(int(dead.stdout))},
                                 host_config=api.create_host_config(network_mode="none"))["Id"]
    api.start(stale)
    sandbox = make_sandbox("docker", warm=0)
    try:
        sandbox.start()
        assert wait_gone(api, [stale], timeout=5)
    finally:
        sandbox.close()


def test_cli_sandbox_run_prints_json(docker_ready, tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("import sys\nprint(sys.stdin.read().upper())\nsys.exit(2)\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("hello")
    for backend in ("docker", "local"):
        argv = ["sandbox", "run", str(program), "--backend", backend, "--stdin", str(stdin)]
        done = subprocess.run([sys.executable, "-m", "mulligan.cli", *argv], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert {k: result[k] for k in ("stdout", "stderr", "exit_code", "timed_out", "killed_reason")} == {
            "stdout": "HELLO\n", "stderr": "", "exit_code": 2, "timed_out": False, "killed_reason": None}


def test_cli_sandbox_build_finds_the_image(docker_ready):
    done = subprocess.run([sys.executable, "-m", "mulligan.cli", "sandbox", "build"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "already built" in done.stdout
