"""What the code env says back: readable observations and the structured ``info["feedback"]``.

Hidden tests stay hidden: a submission is told how many passed and, for a failure, only the type
of the first error.
"""

from __future__ import annotations

from typing import Any

from mulligan.envs.code.checker import CaseResult, TestReport
from mulligan.envs.code.sandbox.base import ExecResult
from mulligan.envs.code.tasks import CodeTask

STREAM_CHARS = 2000
_KILLED = {
    "timeout": "It was stopped after {wall:g} s (time limit).",
    "output_limit": "It was stopped for writing too much output.",
    "memory": "It was killed for using too much memory.",
    "cpu_limit": "It was killed for using too much CPU time.",
    "sandbox": "It killed the sandbox process that was running it.",
}


def _tail(text: str, n: int = STREAM_CHARS) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= n else f"[... {len(text) - n} chars cut]\n" + text[-n:]


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def render_statement(task: CodeTask, tool_help: str) -> str:
    """The first observation: the problem, its visible tests, and how to use the tools."""
    tests = "\n".join(f"  {c.describe()}" for c in task.visible) or "  (none: try your code with run)"
    return f"Task {task.name}:\n{task.statement}\n\nVisible tests:\n{tests}\n\n{tool_help}"


def feedback_for_run(result: ExecResult, wall_s: float) -> tuple[str, dict[str, Any]]:
    """Observation and info of ``run``."""
    head = f"run: exit code {result.exit_code}" if result.exit_code is not None else "run: the program did not start"
    lines = [f"{head} ({result.duration_s:.2f} s)."]
    if result.killed_reason:
        lines.append(_KILLED[result.killed_reason].format(wall=wall_s))
    if result.truncated:
        lines.append("Output was cut at the sandbox's limit.")
    lines.append("stdout:\n" + (_indent(_tail(result.stdout)) if result.stdout.strip() else "    (empty)"))
    if result.stderr.strip():
        lines.append("stderr:\n" + _indent(_tail(result.stderr)))
    return "\n".join(lines), result.model_dump()


def describe_case(case: CaseResult) -> str:
    """A failed or passed case, as the observation shows it."""
    if case.passed:
        return f"PASSED {case.input}"
    lines = [f"FAILED {case.input}"]
    if case.error:
        lines.append(_indent(case.error.rstrip()))
    elif case.expected is not None:
        lines += [f"    expected: {case.expected}", f"    got:      {case.got}"]
    if case.output.strip():
        lines.append("    printed:\n" + _indent(_tail(case.output, 500), "      "))
    return "\n".join(lines)


def feedback_for_test(report: TestReport) -> tuple[str, dict[str, Any]]:
    """Observation and info of ``test``: every visible case with expected, got and traceback."""
    info = {"passed": report.passed, "total": report.total, "all_passed": report.all_passed,
            "load_error": report.load_error, "cases": [c.model_dump() for c in report.cases]}
    if report.load_error:
        return f"test: your code failed before any test ran:\n{_indent(report.load_error)}", info
    if not report.cases:
        return "test: this task has no visible tests; try your code with run.", info
    head = f"test: {report.passed} of {report.total} visible tests passed."
    return "\n".join([head] + [describe_case(c) for c in report.cases]), info


def _error_type(error: str | None) -> str:
    last = (error or "").strip().splitlines()[-1:] or [""]
    return last[0].split(":", 1)[0][:80]


def feedback_for_submit(report: TestReport) -> tuple[str, dict[str, Any]]:
    """Observation and info of ``submit``: counts and the first error's type, no test contents."""
    won = report.all_passed
    failure = report.first_failure()
    error = _error_type(report.load_error or (failure.error if failure else None))
    info = {"won": won, "passed": report.passed, "total": report.total, "error_type": error or None}
    if won:
        return f"submit: all {report.total} hidden tests passed. Solved.", info
    why = f" The first failure: {error}." if error else ""
    if report.load_error:
        why = f" Your code failed to load: {error}."
    head = f"submit: {report.passed} of {report.total} hidden tests passed. Not solved."
    return f"{head}{why} The episode is over.", info
