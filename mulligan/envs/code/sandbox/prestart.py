"""A pre-started ``python3`` that becomes ``python3 SCRIPT ARGS`` when told which script.

The warm supervisor (:func:`~mulligan.envs.code.sandbox.supervisor.serve`) starts the next
action's interpreter as soon as the last action has been cleaned up, as ``python3 -c <this source>
FD``: the interpreter starts (the costly part: 10-20 ms), then waits on pipe FD. When the action
comes, the supervisor sets its limits and writes ``python3\\0SCRIPT\\0ARGS...``; this code turns the
process into what ``python3 SCRIPT ARGS`` would be (``sys.argv``, ``sys.path[0]``, a fresh
``__main__`` with the attributes a script gets, tracebacks without this file's frames, exit
status 1 on an uncaught exception) and runs the script. The interpreter ran nothing but its own
startup before, so each action still starts from a fresh interpreter. One difference remains: a
program that walks its own call stack finds this launcher's frames below its module.

Standard library only, and nothing imported that a bare interpreter has not loaded already.
"""

import os
import sys


def _become(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        os._exit(0)  # released without an action
    argv = [os.fsdecode(a) for a in b"".join(chunks).split(b"\0")]
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


try:
    with open("/proc/self/oom_score_adj", "w") as _f:
        _f.write("1000")  # under memory pressure the kernel kills the program, not the supervisor
except OSError:
    pass
_become(int(sys.argv[1]))
