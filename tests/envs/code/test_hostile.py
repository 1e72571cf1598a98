"""Hostile programs in the Docker sandbox: each is contained with a clear result, the harness, the
other episodes in flight and the host are unaffected, and no container is left behind (the
``docker_sandbox`` fixture checks that when the module ends). Every test runs on both paths: the
warm supervisor and one ``docker exec`` per action."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from sandbox_cases import ON_EVERY_PATH, run

from mulligan.envs.code import CodeEnv, builtin_suite
from mulligan.envs.code.sandbox.containers import connect

pytestmark = [pytest.mark.docker, ON_EVERY_PATH]

SANDBOX_USER_PROCESSES = r"""
import os
others, zygotes = 0, 0
for p in os.listdir('/proc'):
    try:  # a process may end between the listing and the reads
        if not p.isdigit() or int(p) in (os.getpid(), os.getppid()) or os.stat('/proc/' + p).st_uid != 10001:
            continue
        state, ppid = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[:2]
        zygote = int(ppid) == os.getppid() and open('/proc/%s/cmdline' % p, 'rb').read().split(b'\0')[1:2] == [b'-c']
    except OSError:
        continue
    if state != 'Z':
        zygotes, others = zygotes + zygote, others + (not zygote)
print(others, zygotes)
"""


def assert_clean(session) -> None:
    """The session still works, and only this check, its supervisor and (warm path) the zygote its
    programs are forked from run as the sandbox user."""
    r = run(session, SANDBOX_USER_PROCESSES)
    assert r.ok and r.stdout in ("0 0\n", "0 1\n"), r


def test_no_network(docker_sandbox):
    code = """
import json, os, socket
out = {}
targets = {"internet": ("1.1.1.1", 53), "docker-host": ("172.17.0.1", 2375), "metadata": ("169.254.169.254", 80)}
for name, target in targets.items():
    try:
        socket.create_connection(target, timeout=1).close()
        out[name] = "connected"
    except OSError as e:
        out[name] = e.strerror or str(e)
try:
    socket.getaddrinfo("example.com", 80)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = "failed"
out["interfaces"] = sorted(os.listdir("/sys/class/net"))
print(json.dumps(out))
"""
    with docker_sandbox.session() as s:
        out = json.loads(run(s, code).stdout)
    assert out == {"internet": "Network is unreachable", "docker-host": "Network is unreachable",
                   "metadata": "Network is unreachable", "dns": "failed", "interfaces": ["lo"]}


@pytest.mark.parametrize("argv", [["python3", "main.py"], ["bash", "-c", ":(){ :|:& };:"]], ids=["python", "shell"])
def test_fork_bomb(docker_sandbox, argv):
    code = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print(n, e.errno, flush=True)
time.sleep(60)
"""
    with docker_sandbox.session() as s:
        r = s.run(argv, files={"main.py": code})
        assert r.duration_s < 4  # the shell returns at once, leaving its children to the supervisor
        if argv[0] == "python3":
            assert r.timed_out and r.killed_reason == "timeout"
            forks, errno = map(int, r.stdout.split())
            assert errno == 11 and forks < 64  # EAGAIN at the pids limit
        assert_clean(s)
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_unbounded_memory(docker_sandbox):
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 2**20))\n"
    with docker_sandbox.session() as s:
        r = run(s, code)
        assert r.killed_reason == "memory" and r.exit_code == -9 and not r.timed_out
        assert_clean(s)


def test_disk_fill(docker_sandbox):
    code = """
import json, os
out = {}
for where in ("/work", "/tmp", "/dev/shm"):
    total, n = 0, 0
    try:
        while True:
            with open(os.path.join(where, "fill%d" % n), "wb") as f:
                for _ in range(4):
                    f.write(b"x" * 2**20)
                    total += 2**20
            n += 1
    except OSError as e:
        out[where] = [total // 2**20, e.errno]
print(json.dumps(out))
"""
    before = shutil.disk_usage("/var/lib/docker").free if Path("/var/lib/docker").exists() else None
    with docker_sandbox.session() as s:
        out = json.loads(run(s, code).stdout)
        assert out["/work"][1] == 28 and out["/work"][0] <= 32  # ENOSPC at the tmpfs size
        assert out["/tmp"][1] == 28 and out["/tmp"][0] <= 16
        assert out["/dev/shm"][1] == 28 and out["/dev/shm"][0] <= 8
        assert run(s, "print('still works')").stdout == "still works\n"
    if before is not None:
        assert before - shutil.disk_usage("/var/lib/docker").free < 16 * 2**20  # nothing reached the host disk


@pytest.mark.parametrize("code", [
    "while True:\n    pass",
    "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):\n"
    "    signal.signal(s, signal.SIG_IGN)\ntime.sleep(1000)",
    "import threading\nfor _ in range(8):\n    threading.Thread(target=lambda: sum(iter(int, 1))).start()",
], ids=["busy", "ignores-signals", "threads"])
def test_infinite_loops(docker_sandbox, code):
    with docker_sandbox.session() as s:
        r = run(s, code)
        assert r.timed_out and r.killed_reason == "timeout" and r.exit_code == -9 and r.duration_s < 4
        assert_clean(s)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_gigabytes_of_output(docker_sandbox, stream):
    code = f"import sys\nchunk = 'x' * 2**20\nfor _ in range(4096):\n    sys.{stream}.write(chunk)\n"
    with docker_sandbox.session() as s:
        r = run(s, code)
        assert r.killed_reason == "output_limit" and r.truncated and r.duration_s < 2
        assert len(getattr(r, stream)) == 64 * 1024
        assert_clean(s)


def test_host_files_are_out_of_reach(docker_sandbox, tmp_path):
    token = uuid.uuid4().hex
    secret = tmp_path / "secret.txt"
    secret.write_text(token)
    code = f"""
import json, os
out = {{}}
try:
    open({str(secret)!r}).read()
    out["secret"] = "read"
except OSError as e:
    out["secret"] = e.strerror
found = []
for top in ("/etc", "/home", "/root", "/tmp", "/var", "/opt", "/srv", "/mnt", "/usr/local"):
    for root, dirs, files in os.walk(top):
        for f in files:
            try:
                if {token!r} in open(os.path.join(root, f), errors="ignore").read():
                    found.append(os.path.join(root, f))
            except OSError:
                pass
out["found"] = found
out["hostname"] = open("/etc/hostname").read().strip()
out["docker_sock"] = os.path.exists("/var/run/docker.sock") or os.path.exists("/run/docker.sock")
try:
    os.listdir("/proc/1/root")
    out["pid1_root"] = "listed"
except OSError as e:
    out["pid1_root"] = e.strerror
out["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
print(json.dumps(out))
"""
    with docker_sandbox.session() as s:
        out = json.loads(run(s, code).stdout)
    assert out == {"secret": "No such file or directory", "found": [], "hostname": "sandbox", "docker_sock": False,
                   "pid1_root": "Permission denied", "processes": out["processes"]}
    assert out["processes"] <= 5  # init, its cat, the supervisor, its zygote, the program: no host process


def test_writes_outside_the_work_dir_fail(docker_sandbox):
    targets = ["/etc/passwd", "/evil", "/usr/bin/evil", "/root/evil", "/home/evil", "/var/evil", "/etc/hosts",
               "/etc/resolv.conf", "/etc/hostname", "/proc/sys/kernel/hostname", "/sys/kernel/evil",
               "/sbin/docker-init"]
    code = f"""
import json
out = {{}}
for path in {targets!r} + ["/work/ok", "/tmp/ok"]:
    try:
        with open(path, "a") as f:
            f.write("pwned")
        out[path] = "written"
    except OSError as e:
        out[path] = e.strerror
print(json.dumps(out))
"""
    with docker_sandbox.session() as s:
        out = json.loads(run(s, code).stdout)
        changed = {d["Path"] for d in connect().diff(s.container_id) or []}
        assert changed <= {"/usr", "/usr/sbin", "/usr/sbin/docker-init"}  # only the engine's init mount point
    assert {p: out[p] for p in ("/work/ok", "/tmp/ok")} == {"/work/ok": "written", "/tmp/ok": "written"}
    assert all(out[p] in ("Read-only file system", "Permission denied") for p in targets), out


def test_signalling_other_processes(docker_sandbox):
    code = """
import json, os, signal
seen = {}
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid():
        seen[p] = [open("/proc/%s/cmdline" % p).read().replace("\\0", " ").strip()[:40], os.stat("/proc/" + p).st_uid]
results = {}
for p in seen:
    try:
        os.kill(int(p), signal.SIGKILL)
        results[p] = "killed"
    except OSError as e:
        results[p] = e.strerror
json.dump({"seen": seen, "results": results}, open("/work/report.json", "w"))
os.kill(-1, signal.SIGKILL)
"""
    with docker_sandbox.session() as victim_neighbour, docker_sandbox.session() as s:
        done = []
        sleeper = "import time\ntime.sleep(1.5)\nprint('ok')"
        neighbour = threading.Thread(target=lambda: done.append(run(victim_neighbour, sleeper)))
        neighbour.start()
        r = run(s, code)
        neighbour.join()
        assert r.killed_reason == "sandbox" and "killed it" in r.stderr
        report = json.loads(run(s, "print(open('/work/report.json').read())").stdout)
        assert_clean(s)
    assert done[0].ok and done[0].stdout == "ok\n"  # another episode in flight is unaffected
    roots = [p for p, (_, uid) in report["seen"].items() if uid == 0]
    assert "1" in roots and all(report["results"][p] == "Operation not permitted" for p in roots)


def test_escape_through_mounts(docker_sandbox):
    code = """
import ctypes, errno, json, os
out = {"writable": [], "bind_mounts": []}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    root, point, options = fields[3], fields[4], fields[5]
    if root == "/null":
        continue  # a path the engine masks with /dev/null
    if root != "/":
        out["bind_mounts"].append([point, options.split(",")[0]])
    probe = os.path.join(point, ".escape") if os.path.isdir(point) else point
    try:
        with open(probe, "a"):
            pass
        out["writable"].append(point)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.mount(b"none", b"/work", b"tmpfs", 0, None)
out["mount"] = errno.errorcode.get(ctypes.get_errno(), "ok") if rc else "mounted"
for name, call in [("chroot", lambda: os.chroot("/work")), ("setuid", lambda: os.setuid(0)),
                   ("symlink", lambda: (os.symlink("/etc/shadow", "/work/l"), open("/work/l").read())),
                   ("hardlink", lambda: os.link("/etc/passwd", "/work/p"))]:
    try:
        call()
        out[name] = "allowed"
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
print(json.dumps(out))
"""
    with docker_sandbox.session() as s:
        out = json.loads(run(s, code).stdout)
    assert set(out["writable"]) <= {"/work", "/tmp", "/dev/shm", "/dev/mqueue"}, out["writable"]
    host_files = {p: o for p, o in out["bind_mounts"] if not p.startswith(("/proc", "/sys"))}
    assert set(host_files) <= {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/usr/sbin/docker-init"}
    assert set(host_files.values()) == {"ro"}  # the engine's own files, read-only; no host directory
    assert (out["mount"], out["chroot"], out["setuid"]) == ("EPERM", "EPERM", "EPERM")
    assert out["symlink"] == "EACCES" and out["hardlink"] in ("EXDEV", "EPERM")


def test_hostile_code_through_the_env_gets_clear_observations(docker_sandbox):
    env = CodeEnv(sandbox=docker_sandbox)
    task = builtin_suite().tasks("train")[0]
    try:
        env.reset(options={"task": task.task_id})
        obs, *_, info = env.step(f"test\ndef {task.entry_point}(s):\n    import os\n    os.kill(-1, 9)\n")
        assert "the program killed the test process" in obs and info["feedback"]["passed"] == 0
        obs, *_, info = env.step("run\nx = []\nwhile True:\n    x.append(bytearray(2**25))")
        assert "killed for using too much memory" in obs and info["feedback"]["killed_reason"] == "memory"
        hang = f"submit\ndef {task.entry_point}(s):\n    while True:\n        pass\n"
        obs, reward, terminated, *_, info = env.step(hang)
        assert terminated and reward == 0.0 and not info["won"] and "TimeoutError" in obs
    finally:
        env.close()


def test_the_supervisor_is_out_of_the_programs_reach(docker_sandbox):
    code = """
import ctypes, json, os
out = {}
try:
    os.open("/proc/%d/fd/1" % os.getppid(), os.O_WRONLY)  # the answer the host reads
    out["fd"] = "opened"
except OSError as e:
    out["fd"] = e.strerror
libc = ctypes.CDLL(None, use_errno=True)
out["ptrace"] = "attached" if libc.ptrace(16, os.getppid(), 0, 0) == 0 else os.strerror(ctypes.get_errno())
print(json.dumps(out))
"""
    with docker_sandbox.session() as s:
        r = run(s, code)
        assert r.ok and json.loads(r.stdout) == {"fd": "Permission denied", "ptrace": "Operation not permitted"}
        assert_clean(s)
