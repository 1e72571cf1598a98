"""Runs programs with limits inside a sandbox and reports what happened as JSON.

Sent by every sandbox backend as ``python3 -I -S -c <this source>``, so it uses the standard
library only and runs on any Python >= 3.8. Two modes:

* one shot (no argument): a JSON request on stdin (argv, files to write, stdin text, workdir,
  limits, ``kill_all``), a JSON :class:`ExecResult` on stdout;
* ``serve CONFIG`` (the warm path): requests and results as messages (a 4-byte big-endian length,
  then JSON) on stdin and stdout, one after another until stdin ends. ``python3 SCRIPT`` programs
  are forked from a zygote (``zygote.py``), an interpreter that did its startup once, so they
  cost no interpreter startup; ``{"op": "reset"}`` returns the sandbox to its fresh state for
  another episode (every process of the user killed, the writable directories emptied, IPC
  objects removed) and answers whether that worked.

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


def child_env(workdir, tmpdir):
    return dict(CHILD_ENV, HOME=workdir, TMPDIR=tmpdir or workdir)


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


def feed_stdin(pipe, data):
    """Write the program's stdin and close it; a thread writes what the pipe does not take at once."""
    if data:
        fd = pipe.fileno()
        os.set_blocking(fd, False)
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            pass
        except OSError:
            data = b""  # the program is gone
        os.set_blocking(fd, True)
    if data:
        threading.Thread(target=feed, args=(pipe, data), daemon=True).start()
    else:
        feed(pipe, b"")


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


def kill_everything(proc, kill_all, keep=()):
    """Kill the program's session, or (``kill_all``) every process of this user but us and ``keep``.

    Never every process as root: that would be every process of the machine.
    """
    uid = os.getuid()
    if not kill_all or uid == 0:
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        return
    deadline = time.monotonic() + 10  # a fork bomb's thousands of processes die slowly on a loaded machine
    while time.monotonic() < deadline:
        if keep:
            for pid in live_pids(uid):
                if pid not in keep:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        else:
            try:
                os.kill(-1, signal.SIGKILL)  # every process this user may signal, except ourselves
            except ProcessLookupError:
                break
        reap()
        if not [pid for pid in live_pids(uid) if pid not in keep]:
            break
        time.sleep(0.01)


class Forked:
    """A program the zygote forked, adopted by this process: what ``run`` needs of a ``Popen``."""

    def __init__(self, pid, stdin, stdout, stderr):
        self.pid, self.returncode = pid, None
        self.stdin, self.stdout, self.stderr = os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb"), os.fdopen(stderr, "rb")

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None  # not adopted yet: the zygote's middle process still runs
            if pid:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode

    def wait(self):
        while self.poll() is None:
            time.sleep(0.001)
        return self.returncode


class Zygote:
    """A ``python3`` that did its startup once and forks each action's program (see ``zygote.py``).

    It runs as the programs' user beside them, so before each use it is checked: alive, not
    stopped, and its limits, priority and CPU affinity as it started with (all of which a program
    of the same user could change, and the next program would inherit). One that fails is killed.
    """

    def __init__(self, cfg):
        import socket

        self.python, self.workdir, self.rights = cfg["python"], cfg["workdir"], (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [self.python, "-c", cfg["zygote"], str(theirs.fileno())], cwd=self.workdir,
                env=child_env(self.workdir, cfg.get("tmpdir")), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                start_new_session=True, close_fds=True,
            )
        except BaseException:
            self.sock.close()
            raise
        finally:
            theirs.close()
        self.baseline = self.state()

    def state(self):
        pid = self.proc.pid
        limits = [resource.prlimit(pid, getattr(resource, name)) for name in sorted(dir(resource))
                  if name.startswith("RLIMIT_")]
        return limits, os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid), os.sched_getscheduler(pid)

    def alive(self):
        return self.proc.poll() is None

    def fits(self, argv, req):
        """Whether ``argv`` is ``python3 SCRIPT.py ...`` run where the zygote waits, and the zygote is sound."""
        if not (len(argv) >= 2 and argv[0] == self.python and argv[1].endswith(".py") and not argv[1].startswith("-")
                and req["workdir"] == self.workdir and not any("\0" in a for a in argv)
                and os.path.isfile(os.path.join(self.workdir, argv[1])) and self.alive()):
            return False
        try:
            os.kill(self.proc.pid, signal.SIGCONT)  # a program may have stopped it
            if self.state() == self.baseline:
                return True
        except OSError:
            pass
        self.discard()
        return False

    def fork(self, argv, req):
        """Fork the program with its limits and pipes; a ``Forked``, or None (the zygote is then discarded)."""
        fields = [str(os.getpid()), str(req["cpu_s"]), str(req["file_bytes"]), str(req.get("memory_bytes") or 0)]
        message = b"\0".join(os.fsencode(a) for a in fields + argv)
        pipes = [os.pipe() for _ in range(3)]
        theirs, ours = [pipes[0][0], pipes[1][1], pipes[2][1]], [pipes[0][1], pipes[1][0], pipes[2][0]]
        try:
            if len(message) > 1 << 19:
                raise OSError("argv too long for the zygote")
            self.sock.settimeout(max(10.0, req["wall_s"]))
            self.sock.sendmsg([message], [self.rights + (b"".join(fd.to_bytes(4, sys.byteorder) for fd in theirs),)])
            pid = int(self.sock.recv(64) or b"-1")
            if pid <= 0:
                raise OSError("the zygote could not fork")
        except (OSError, ValueError):
            for fd in ours:
                os.close(fd)
            self.discard()
            return None
        finally:
            for fd in theirs:
                os.close(fd)
        return Forked(pid, *ours)

    def discard(self):
        """Kill the zygote."""
        self.sock.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()


def start(argv, req, zygote):
    """The program's process: forked by the zygote when it fits, else a new one (or an error dict)."""
    proc = zygote.fork(argv, req) if zygote is not None and zygote.fits(argv, req) else None
    if proc is not None:
        return proc
    try:
        return subprocess.Popen(
            argv, cwd=req["workdir"], env=child_env(req["workdir"], req.get("tmpdir")), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limiter(req), start_new_session=True,
            close_fds=True,
        )
    except (OSError, ValueError) as e:
        return {"stderr": "could not start %s: %s" % (argv[:1], e), "exit_code": None}


def run(req, zygote=None):
    """Run one request (forked by ``zygote`` when it fits); returns the result as a dict (an ``ExecResult``)."""
    argv = list(req["argv"])
    if argv and argv[0] == "python3":
        argv[0] = req.get("python") or "python3"
    try:
        write_files(req["workdir"], req["files"])
    except OSError as e:
        return {"stderr": "could not write the program's files: %s" % e, "exit_code": None}
    oom_before = oom_kills()
    started = time.monotonic()
    proc = start(argv, req, zygote)
    if isinstance(proc, dict):
        return proc
    feed_stdin(proc.stdin, req["stdin"].encode())
    stdout, stderr, cut, reason = collect(proc, req, started)
    duration = time.monotonic() - started
    if reason is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    code = proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()
    kill_everything(proc, req["kill_all"], keep=(zygote.proc.pid,) if zygote is not None and zygote.alive() else ())
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


def empty(path):
    """Delete everything under ``path`` (making directories writable first: the program may not have)."""
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
            empty(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def remove_ipc():
    """Remove the System V IPC objects (they outlive processes); returns the kinds that remain."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    remove = {"shm": lambda i: libc.shmctl(i, 0, None), "sem": lambda i: libc.semctl(i, 0, 0),
              "msg": lambda i: libc.msgctl(i, 0, None)}  # 0 is IPC_RMID
    left = []
    for kind, rm in remove.items():
        try:
            with open("/proc/sysvipc/" + kind) as f:
                for row in f.read().splitlines()[1:]:
                    rm(int(row.split()[1]))
            with open("/proc/sysvipc/" + kind) as f:
                if len(f.read().splitlines()) > 1:
                    left.append("System V %s objects remain" % kind)
        except OSError:
            continue
    return left


def reset(req):
    """Return the sandbox to its fresh state: ``{"clean": bool, "problems": [...]}``."""
    if os.getuid() == 0:
        return {"clean": False, "problems": ["a reset empties shared directories: never as root"]}
    kill_everything(None, True)
    problems = []
    for path, mode in req["wipe"]:
        if not os.path.isdir(path):
            continue  # not mounted here (an engine without /dev/mqueue, say)
        try:
            if mode is not None:
                os.chmod(path, mode)
            for name in os.listxattr(path):
                if name.startswith("user."):
                    os.removexattr(path, name)
            empty(path)
            if os.listdir(path) or any(n.startswith("user.") for n in os.listxattr(path)):
                problems.append("%s is not empty" % path)
        except (OSError, RecursionError) as e:
            problems.append("%s: %s" % (path, e))
    problems += remove_ipc()
    if live_pids(os.getuid()):
        problems.append("processes of the sandbox user survived")
    return {"clean": not problems, "problems": problems}


def handle(req, zygote=None):
    """One request of either mode."""
    if req.get("op") == "reset":
        if zygote is not None:
            zygote.discard()
        return reset(req)
    return run(req, zygote)


def read_message(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    body = stream.read(int.from_bytes(head, "big"))
    return json.loads(body.decode("utf-8"))


def write_message(stream, message):
    body = json.dumps(message).encode("utf-8")
    stream.write(len(body).to_bytes(4, "big") + body)
    stream.flush()


def serve(cfg):
    """Answer requests until stdin ends, with a zygote forking the programs (``cfg["zygote"]``)."""
    kill_everything(None, True)  # whatever an earlier server of this sandbox left running
    zygote = None
    if cfg.get("zygote") and not set_subreaper():
        cfg = dict(cfg, zygote=None)  # the zygote's programs could not be waited for
    while True:
        if cfg.get("zygote") and (zygote is None or not zygote.alive()):
            if zygote is not None:
                zygote.discard()
            try:
                zygote = Zygote(cfg)
            except OSError:
                zygote = None  # the work dir is gone or unreadable: actions start their own python3
        req = read_message(sys.stdin.buffer)
        if req is None:
            break
        result = handle(req, zygote)
        if req.get("op") == "reset":
            zygote = None
        write_message(sys.stdout.buffer, result)
    if zygote is not None:
        zygote.discard()


def prctl(option, value):
    """prctl(2); False when it failed or cannot be called."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, int(value), 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):
        return False


def set_subreaper():
    """PR_SET_CHILD_SUBREAPER: orphans of our descendants (the zygote's programs) become our children."""
    return prctl(36, True)


def set_dumpable(flag):
    """PR_SET_DUMPABLE. Not dumpable, the supervisor is out of the program's reach although they
    share a user: no opening its /proc/PID/fd (to write into the answer the host reads), no ptrace."""
    prctl(4, flag)


def main():
    set_dumpable(False)
    if sys.argv[1:2] == ["serve"]:
        serve(json.loads(sys.argv[2]))
        return
    result = handle(json.loads(sys.stdin.buffer.read().decode("utf-8")))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
