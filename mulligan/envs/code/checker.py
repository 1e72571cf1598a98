"""Host side of running code: programs and test runs in a sandbox session, read back as reports."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from mulligan.envs.code.sandbox.base import ExecResult, Session
from mulligan.envs.code.tasks import TestCase

HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text()
PROGRAM = "main.py"
SOLUTION = "solution.py"
HARNESS_OUTPUT_BYTES = 512 * 1024
"""The harness's result stream (user prints go to a file and are cut per case)."""
MIN_TEST_WALL_S = 10.0
MAX_TEST_WALL_S = 120.0


class CaseResult(BaseModel):
    """How a candidate did on one test case.

    Attributes:
        input: The case (``"f(1) == 2"`` or its statements).
        expected: The expected value's expression, for call cases.
        got: ``repr`` of what the call returned (cut), when it returned.
        passed: Whether the case passed.
        error: The traceback (or limit) that ended the case, if any.
        output: What the candidate printed during the case (cut).
        timed_out: The case hit its time limit.
    """

    input: str
    expected: str | None = None
    got: str | None = None
    passed: bool = False
    error: str | None = None
    output: str = ""
    timed_out: bool = False


class TestReport(BaseModel):
    """A test run: one result per case, or the error that kept the candidate from loading.

    Attributes:
        cases: One result per case, in order (cases after a crash are failed as "not run").
        load_error: Traceback of a candidate that failed to load (syntax error, exception at import).
        process: The harness process's own result (exit code, limits hit) without its output.
    """

    __test__ = False  # not a pytest class

    cases: list[CaseResult] = Field(default_factory=list)
    load_error: str | None = None
    process: ExecResult = Field(default_factory=ExecResult)

    @property
    def passed(self) -> int:
        """Cases passed."""
        return sum(c.passed for c in self.cases)

    @property
    def total(self) -> int:
        """Cases run or meant to run."""
        return len(self.cases)

    @property
    def all_passed(self) -> bool:
        """The candidate loaded and passed every case (vacuously true with no cases)."""
        return self.load_error is None and all(c.passed for c in self.cases)

    def first_failure(self) -> CaseResult | None:
        """The first failed case, if any."""
        return next((c for c in self.cases if not c.passed), None)


def run_program(session: Session, program: str, stdin: str = "", wall_s: float | None = None) -> ExecResult:
    """Run a program as ``python3 main.py`` with ``stdin``."""
    return session.run(["python3", PROGRAM], files={PROGRAM: program}, stdin=stdin, wall_s=wall_s)


def tests_wall_s(cases: int, timeout_s: float) -> float:
    """Wall limit of a whole test run: every case may use its own limit, plus loading."""
    return min(MAX_TEST_WALL_S, max(MIN_TEST_WALL_S, timeout_s * (cases + 1) + 2))


def run_tests(
    session: Session, program: str, cases: list[TestCase], *, timeout_s: float = 3.0, setup: str = ""
) -> TestReport:
    """Run ``program`` against ``cases`` in the sandbox.

    Args:
        session: Where to run.
        program: The candidate program (stub included).
        cases: The tests.
        timeout_s: Time limit of one case (and of loading the program).
        setup: Code run after the program and before the cases.

    Returns:
        The report; a program that crashes, hangs or kills the test process gets failed cases.
    """
    spec = {"cases": [c.model_dump(exclude_none=True) for c in cases], "setup": setup, "timeout_s": timeout_s}
    result = session.run(
        ["python3", "_harness.py"],
        files={SOLUTION: program, "_tests.json": json.dumps(spec), "_harness.py": HARNESS_SOURCE},
        wall_s=tests_wall_s(len(cases), timeout_s),
        output_bytes=HARNESS_OUTPUT_BYTES,
    )
    return read_report(result, cases)


def _ended_early(process: ExecResult) -> str:
    reasons = {
        "timeout": "TimeoutError: the test run hit its wall-clock limit",
        "memory": "MemoryError: killed for using more memory than the sandbox allows",
        "output_limit": "the test run wrote more output than the sandbox allows",
        "cpu_limit": "killed for using more CPU time than the sandbox allows",
        "sandbox": "the program killed the test process",
    }
    if process.killed_reason:
        return reasons[process.killed_reason]
    tail = process.stderr.strip()[-500:]
    return f"the program ended the test process (exit code {process.exit_code})" + (f": {tail}" if tail else "")


def read_report(process: ExecResult, cases: list[TestCase]) -> TestReport:
    """Turn the harness's JSON lines into a report; missing lines become failed cases."""
    records: dict[int, dict] = {}
    load: dict | None = None
    for line in process.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("load"):
            load = record
        elif isinstance(record.get("index"), int):
            records[record["index"]] = record
    meta = process.model_copy(update={"stdout": "", "stderr": process.stderr[-2000:]})
    if load is None:
        return TestReport(load_error=_ended_early(process), cases=_unrun(cases, _ended_early(process)), process=meta)
    if load.get("error"):
        unrun = _unrun(cases, "not run: the program did not load")
        return TestReport(load_error=load["error"], cases=unrun, process=meta)
    timed_out = any(r.get("timed_out") for r in records.values())
    results, crash = [], "not run: an earlier test timed out" if timed_out else _ended_early(process)
    for i, case in enumerate(cases):
        r = records.get(i)
        if r is None:
            results.append(CaseResult(input=case.describe(), expected=case.expected, error=crash))
            crash = "not run: an earlier test timed out" if timed_out else "not run: the test process had ended"
            continue
        results.append(
            CaseResult(
                input=case.describe(), expected=case.expected, got=r.get("got"), passed=bool(r.get("passed")),
                error=r.get("error"), output=r.get("output", ""), timed_out=bool(r.get("timed_out")),
            )
        )
    return TestReport(cases=results, process=meta)


def _unrun(cases: list[TestCase], why: str) -> list[CaseResult]:
    return [CaseResult(input=c.describe(), expected=c.expected, error=why) for c in cases]
