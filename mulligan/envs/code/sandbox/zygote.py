"""A zygote: a ``python3`` started once, forked into ``python3 SCRIPT ARGS`` for each action.

The warm supervisor (:func:`~mulligan.envs.code.sandbox.supervisor.serve`) starts it as ``python3
-c <this source> FD`` while no program runs, FD being its end of a socket pair. It does the
interpreter's startup (the costly part: 10-20 ms of CPU), makes itself unreachable for the
programs that will run beside it as the same user (not dumpable: no ptrace, no ``/proc/PID/mem``
or ``fd``; every signal blocked but SIGKILL and SIGSTOP, which the supervisor notices), and waits.

For each action the supervisor sends the limits and ``python3\\0SCRIPT\\0ARGS...`` with the
program's stdin, stdout and stderr. The zygote forks twice (the grandchild is adopted by the
supervisor, a child subreaper, which waits for it as for any child) and reports the pid. The
grandchild undoes what the zygote did to itself, takes the pipes, its own session and the
limits, and becomes what ``python3 SCRIPT ARGS`` would be: ``sys.argv``, ``sys.path[0]``, a fresh
``__main__`` with the attributes a script gets, the modules of a bare interpreter in
``sys.modules``, tracebacks without this file's frames, exit status 1 on an uncaught exception.
The zygote never runs a program, so every action starts from an interpreter that ran nothing but
its own startup. What remains different: the frames of this launcher below the program's module
(seen by a program that walks its own call stack), and one hash seed for all the actions of an
episode (the zygote's).

Standard library only.
"""

import os
import sys
import time


def _serve(fd):
    pristine = set(sys.modules)
    import _signal
    import _socket
    import ctypes
    import resource

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    sock = _socket.socket(fileno=fd)
    while True:
        data, ancdata, _, _ = sock.recvmsg(1 << 20, _socket.CMSG_SPACE(3 * 4))
        if not data:
            os._exit(0)
        fds = [int.from_bytes(c[i : i + 4], sys.byteorder) for _, _, c in ancdata for i in range(0, len(c), 4)]
        fields = [os.fsdecode(f) for f in data.split(b"\0")]
        try:
            middle = os.fork()
        except OSError:
            middle = None
            sock.send(b"-1")
        if middle == 0:
            try:
                child = os.fork()
            except OSError:
                child = -1
            if child == 0:
                sock.close()
                _child(pristine, fields, fds, mask, libc, resource)
            sock.send(str(child).encode())
            os._exit(0)
        for f in fds:
            os.close(f)
        if middle:
            os.waitpid(middle, 0)


def _child(pristine, fields, fds, mask, libc, resource):
    """The program's process: becomes ``python3 SCRIPT ARGS`` (setup errors end it with status 70)."""
    try:
        parent, cpu_s, file_bytes, memory_bytes = (int(f) for f in fields[:4])
        argv = fields[4:]
        deadline = time.monotonic() + 10
        while os.getppid() != parent:  # adopted by the supervisor once the middle process is gone
            if time.monotonic() > deadline:
                os._exit(70)
            os.sched_yield()
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        libc.prctl(4, 1, 0, 0, 0)  # dumpable again, as any process
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # under memory pressure the kernel kills the program, not the supervisor
        except OSError:
            pass
    except BaseException:  # noqa: BLE001 - never back into the zygote's loop
        os._exit(70)
    for name in set(sys.modules) - pristine:
        del sys.modules[name]
    import _signal

    _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    _become(argv)
    sys.exit(0)


def _become(argv):
    path = os.path.abspath(argv[1])
    main = type(sys)("__main__")
    main.__dict__.update(
        __loader__=sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path),
        __annotations__={},
        __builtins__=sys.modules["builtins"],
        __file__=path,
        __cached__=None,
    )
    sys.modules["__main__"] = main
    sys.argv = argv[1:]
    sys.orig_argv = argv
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (argv[0], path, e.errno, e.strerror))
        sys.exit(2)
    if b"\0" in source:  # the interpreter's own reader has its rules for these; let it read this one
        os.execv(sys.executable, argv)
    try:
        exec(compile(source, path, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        e.__traceback__ = e.__traceback__.tb_next if e.__traceback__ is not None else None
        sys.last_type, sys.last_value, sys.last_traceback = type(e), e, e.__traceback__
        sys.excepthook(type(e), e, e.__traceback__)
        if isinstance(e, KeyboardInterrupt):  # the interpreter ends by SIGINT then
            import _signal

            sys.stdout.flush()
            sys.stderr.flush()
            _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
            os.kill(os.getpid(), _signal.SIGINT)
        sys.exit(1)


_serve(int(sys.argv[1]))
