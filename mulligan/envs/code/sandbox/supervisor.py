"""Runs one program with limits inside a sandbox and prints what happened as one JSON line.

Sent by every sandbox backend as ``python3 -I -S -c <this source>``, so it uses the standard
library only and runs on any Python >= 3.8. Protocol: a JSON request on stdin (argv, files to
write, stdin text, workdir, limits, ``kill_all``), a JSON :class:`ExecResult` on stdout.

The supervisor runs as the same user as the program. With ``kill_all`` (containers, where that
user owns nothing else) it cleans up by signalling every process of the user; otherwise (local
backend) only the program's own session, and whatever left it survives.
"""

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time

OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def oom_kills():
    """The memory cgroup's OOM-kill counter, or None outside a container."""
    for path in OOM_FILES:
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def write_files(workdir, files):
    for rel, text in files.items():
        path = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(path) or workdir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def limiter(req):
    """The function the child runs between fork and exec: its resource limits."""

    def apply():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (req["cpu_s"], req["cpu_s"] + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (req["file_bytes"], req["file_bytes"]))
        if req.get("memory_bytes"):
            resource.setrlimit(resource.RLIMIT_AS, (req["memory_bytes"], req["memory_bytes"]))
        set_dumpable(True)  # our /proc files are ours again (execve would do it anyway)
        try:
            # Under memory pressure the kernel kills the program, not the supervisor.
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass

    return apply


def feed(pipe, data):
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def collect(proc, req, started):
    """Read stdout/stderr until the program ends, the wall limit, or the output limit.

    Returns (stdout, stderr, whether output was cut, why the program must be killed or None).
    """
    cap = req["output_bytes"]
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    deadline = started + req["wall_s"]
    reason, exited_at, cut = None, None, False
    while sel.get_map() and reason is None:
        now = time.monotonic()
        if now >= deadline:
            reason = "timeout"
            break
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 0.2:
            break  # the program is gone; a background child still holds its pipes
        for key, _ in sel.select(min(deadline - now, 0.05)):
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(key.fd)
                continue
            buf = bufs[key.fd]
            room = cap - len(buf)
            buf += chunk[:room]
            if len(chunk) > room:
                cut, reason = True, "output_limit"
    sel.close()
    return bytes(bufs[proc.stdout.fileno()]), bytes(bufs[proc.stderr.fileno()]), cut, reason


def live_pids(uid):
    """Processes of ``uid`` other than this one that are not zombies."""
    me, out = os.getpid(), []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/status" % name) as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            out.append(int(name))
    return out


def reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def kill_everything(proc, kill_all):
    """Kill the program's session, or (``kill_all``) every process of this user but us."""
    if not kill_all:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        return
    uid = os.getuid()
    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)  # every process this user may signal, except ourselves
        except ProcessLookupError:
            break
        reap()
        if not live_pids(uid):
            break
        time.sleep(0.01)


def run(req):
    """Run one request; returns the result as a dict (an ``ExecResult``)."""
    workdir = req["workdir"]
    write_files(workdir, req["files"])
    argv = list(req["argv"])
    if argv and argv[0] == "python3":
        argv[0] = req.get("python") or "python3"
    env = dict(CHILD_ENV, HOME=workdir, TMPDIR=req.get("tmpdir") or workdir)
    oom_before = oom_kills()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=limiter(req), start_new_session=True, close_fds=True,
        )
    except OSError as e:
        return {"stderr": "could not start %s: %s" % (argv[:1], e), "exit_code": None}
    threading.Thread(target=feed, args=(proc.stdin, req["stdin"].encode()), daemon=True).start()
    stdout, stderr, cut, reason = collect(proc, req, started)
    duration = time.monotonic() - started
    if reason is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    code = proc.wait()
    kill_everything(proc, req["kill_all"])
    oom_after = oom_kills()
    if reason is None and oom_before is not None and oom_after is not None and oom_after > oom_before:
        reason = "memory"
    if reason is None and code == -signal.SIGXCPU:
        reason = "cpu_limit"
    return {
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace"),
        "exit_code": code,
        "timed_out": reason == "timeout",
        "killed_reason": reason,
        "truncated": cut,
        "duration_s": round(duration, 4),
    }


def set_dumpable(flag):
    """PR_SET_DUMPABLE. Not dumpable, the supervisor is out of the program's reach although they
    share a user: no opening its /proc/PID/fd (to write into the answer the host reads), no ptrace."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, int(flag), 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def main():
    set_dumpable(False)
    req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    result = run(req)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
