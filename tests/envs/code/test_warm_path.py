"""The warm path of the Docker sandbox: programs behave as under ``docker exec`` of a fresh
``python3``, every action starts from a fresh interpreter without an exec of its own, and a container
handed to the next episode holds nothing of the one before (or is not handed on)."""

from __future__ import annotations

import json
import time

import pytest
from sandbox_cases import TEST_LIMITS, run

from mulligan.envs.code.sandbox import make_sandbox
from mulligan.envs.code.sandbox.containers import connect

pytestmark = pytest.mark.docker

PROGRAMS = {
    "identity": "import sys, __main__\nprint(sys.argv, __file__, __name__, sys.path[0], sys.orig_argv, sys.flags)\n"
                "print(list(vars(__main__)), type(__loader__).__name__, __spec__, __cached__, __doc__)",
    "modules": "import sys\nprint(sorted(sys.modules))",
    "environment": "import os, resource\nprint(sorted(os.environ.items()), os.getcwd(), os.listdir('/proc/self/fd'))\n"
                   "print([resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in ('CPU', 'FSIZE', 'CORE')])\n"
                   "print(open('/proc/self/oom_score_adj').read(), os.getsid(0) == os.getpid())",
    "traceback": "def f():\n    return 1 / 0\nf()",
    "syntax-error": "def (:\n  pass",
    "exit-message": "import sys\nprint('a')\nsys.exit('bye')",
    "exit-status": "exit(3)",
    "keyboard-interrupt": "raise KeyboardInterrupt",
    "excepthook": "import sys\nsys.excepthook = lambda *a: print('hooked', a[0].__name__)\nraise RuntimeError",
    "atexit": "import atexit\natexit.register(lambda: print('at exit'))\nraise ValueError('x')",
    "thread-after-main": "import threading, time\ndef w():\n    time.sleep(0.2)\n    print('thread')\n"
                         "threading.Thread(target=w).start()\nprint('main')",
    "encoding-cookie": "# -*- coding: latin-1 -*-\nprint('\xe9')",
    "null-byte": "print(1)\x00",
    "stdin": "print(input()[::-1])",
    "pickle-main": "import pickle\ndef g():\n    return 5\nprint(pickle.loads(pickle.dumps(g))())",
    "warning": "import warnings\nwarnings.warn('careful')",
    "annotations-docstring": '"""doc"""\nx: int = 1\nprint(__doc__, __annotations__)',
    "getsource": "import inspect\ndef h():\n    return 1\nprint(inspect.getsource(h))",
}
COMMANDS = {"python3 -c": ["python3", "-c", "import sys; print(sys.argv)"], "shell": ["sh", "-c", "echo $HOME; ls"],
            "missing script": ["python3", "nothere.py"], "no such program": ["nothere"]}


def outcome(r):
    return r.stdout, r.stderr, r.exit_code, r.killed_reason


def test_programs_behave_as_under_a_fresh_python3(docker_sandbox):
    """A program forked from the zygote is indistinguishable from ``python3 main.py`` by what it prints
    (a program that walks its own call stack would find the launcher below it)."""
    exec_path = make_sandbox("docker", TEST_LIMITS, warm=0, server=False)
    try:
        with docker_sandbox.session() as warm, exec_path.session() as cold:
            for name, code in PROGRAMS.items():
                theirs, ours = (outcome(run(s, code, stdin="abc\n")) for s in (cold, warm))
                assert ours == theirs, name
            for name, argv in COMMANDS.items():
                theirs, ours = (outcome(s.run(argv, files={"main.py": ""})) for s in (cold, warm))
                assert ours == theirs, name
    finally:
        exec_path.close()


def test_every_action_starts_from_a_fresh_interpreter_and_the_episode_files(docker_sandbox):
    leave_state = """
import builtins, json, os, sys
builtins.LEAK = 1
json.LEAK = 1
sys.path.append('/leak')
os.environ['LEAK'] = '1'
open('kept.txt', 'w').write('from action 1')
print(os.getpid())
"""
    look = """
import builtins, json, os, sys
print(json.dumps([hasattr(builtins, 'LEAK'), hasattr(json, 'LEAK'), '/leak' in sys.path, 'LEAK' in os.environ,
                  open('kept.txt').read(), os.getpid()]))
"""
    with docker_sandbox.session() as s:
        first_pid = int(run(s, leave_state).stdout)
        seen = json.loads(run(s, look).stdout)
    assert seen[:5] == [False, False, False, False, "from action 1"] and seen[5] != first_pid


def test_actions_need_no_exec_of_their_own(docker_sandbox):
    api = connect()
    with docker_sandbox.session() as s:
        assert run(s, "print(1)").stdout == "1\n"  # the server is up
        since = time.time() - 1
        for i in range(3):
            assert run(s, f"print({i})").stdout == f"{i}\n"
        until = time.time() + 1
        events = list(api.events(since=since, until=until, decode=True,
                                 filters={"container": s.container_id, "event": "exec_create"}))
    assert events == []


FIND_ZYGOTE = r"""
import os
zygote = next(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()
              and open('/proc/%s/cmdline' % p, 'rb').read().split(b'\0')[1:2] == [b'-c'])
"""
TAMPER = FIND_ZYGOTE + r"""
import ctypes, json, resource, signal
out = {}
libc = ctypes.CDLL(None, use_errno=True)
out["ptrace"] = os.strerror(ctypes.get_errno()) if libc.ptrace(16, zygote, 0, 0) else "attached"
try:
    open('/proc/%d/mem' % zygote, 'rb')
    out["mem"] = "opened"
except OSError as e:
    out["mem"] = e.strerror
os.setpriority(os.PRIO_PROCESS, zygote, 19)
resource.prlimit(zygote, resource.RLIMIT_NOFILE, (32, 32))
resource.prlimit(zygote, resource.RLIMIT_STACK, (1 << 20, 1 << 20))
os.sched_setaffinity(zygote, {min(os.sched_getaffinity(0))})
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP):
    os.kill(zygote, sig)
print(json.dumps(out))
"""
INSPECT = ("import os, resource\nprint(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0), "
           "[resource.getrlimit(getattr(resource, n)) for n in sorted(dir(resource)) if n.startswith('RLIMIT_')])")


def test_a_program_cannot_reach_the_next_one_through_the_zygote(docker_sandbox):
    with docker_sandbox.session() as s:
        before = run(s, INSPECT)
        tampered = run(s, TAMPER)
        assert json.loads(tampered.stdout) == {"ptrace": "Operation not permitted", "mem": "Permission denied"}
        after = run(s, INSPECT)  # from a zygote as it started (the tampered one was replaced)
        assert after.ok and after.stdout == before.stdout
        assert run(s, FIND_ZYGOTE + "os.kill(zygote, 9)\nprint('killed')").stdout == "killed\n"
        assert run(s, INSPECT).stdout == before.stdout  # a new zygote, or a python3 of its own


LEFTOVERS = r"""
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs('/work/deep/er', exist_ok=True)
open('/work/deep/er/f', 'w').write('x')
os.chmod('/work/deep/er', 0)
os.chmod('/work/deep', 0o500)
open('/tmp/t', 'w').write('x')
open('/dev/shm/s', 'w').write('x')
os.symlink('/etc/passwd', '/work/link')
os.mkfifo('/work/fifo')
assert libc.shmget(0x1234, 4096, 0o1600) >= 0             # IPC_CREAT | 0600
assert libc.semget(0x1235, 1, 0o1600) >= 0
assert libc.msgget(0x1236, 0o1600) >= 0
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
assert libc.mq_open(b'/leftover', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0
try:
    os.setxattr('/work', 'user.leftover', b'1')
except OSError:
    pass  # kernels before 6.6 have no user xattrs on tmpfs
os.chmod('/work', 0o777)
subprocess.Popen(['sh', '-c', 'trap "" TERM INT HUP; while :; do sleep 1; done'], start_new_session=True)
print('left')
"""
LOOK = r"""
import json, os
print(json.dumps({
    "dirs": {d: sorted(os.listdir(d)) for d in ('/work', '/tmp', '/dev/shm', '/dev/mqueue')},
    "ipc": {k: open('/proc/sysvipc/' + k).read().count('\n') - 1 for k in ('shm', 'sem', 'msg')},
    "xattrs": os.listxattr('/work'),
    "mode": oct(os.stat('/work').st_mode & 0o777),
    "processes": sum(1 for p in os.listdir('/proc') if p.isdigit() and os.stat('/proc/' + p).st_uid == 10001),
}))
"""


@pytest.fixture
def reusing_pool(docker_ready):
    pool = make_sandbox("docker", TEST_LIMITS, warm=0, reuse=3)
    yield pool
    pool.close()


def next_session(pool):
    """The next session once the pool has taken the last container back (reset happens in the background)."""
    deadline = time.monotonic() + 20
    while pool.stats()["resetting"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return pool.session()


def test_a_reused_container_holds_nothing_of_the_episode_before(reusing_pool):
    with reusing_pool.session() as first:
        assert run(first, LEFTOVERS).stdout == "left\n"
        used = first.container_id
    with next_session(reusing_pool) as second:
        assert second.container_id == used
        state = json.loads(run(second, LOOK).stdout)
    assert state == {"dirs": {"/work": ["main.py"], "/tmp": [], "/dev/shm": [], "/dev/mqueue": []},
                     "ipc": {"shm": 0, "sem": 0, "msg": 0}, "xattrs": [], "mode": "0o700",
                     "processes": 3}  # this program, its supervisor, the zygote it was forked from


def test_a_container_is_not_reused_after_its_program_killed_the_supervisor(reusing_pool):
    with reusing_pool.session() as first:
        assert run(first, "import os\nos.kill(-1, 9)").killed_reason == "sandbox"
        assert run(first, "print('recovered')").stdout == "recovered\n"  # a new supervisor serves the episode
        used = first.container_id
    with next_session(reusing_pool) as second:
        assert second.container_id != used


def test_containers_serve_at_most_reuse_sessions(reusing_pool):
    seen = []
    for _ in range(4):
        with next_session(reusing_pool) as s:
            seen.append(s.container_id)
            assert run(s, "print(1)").stdout == "1\n"
    assert seen[0] == seen[1] == seen[2] != seen[3]
