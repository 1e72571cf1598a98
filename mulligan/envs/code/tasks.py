"""Code tasks: a problem statement, visible tests the agent may run, hidden tests that judge it."""

from __future__ import annotations

import ast
import textwrap

from pydantic import BaseModel, ConfigDict, Field

from mulligan.errors import ConfigError


class TestCase(BaseModel):
    """One test: a call and its expected value, or statements that raise on failure.

    Attributes:
        call: An expression, e.g. ``"add(1, 2)"``.
        expected: An expression for the expected value, e.g. ``"3"``; the case passes when
            ``eval(call) == eval(expected)``.
        code: Statements instead (``assert ...``, HumanEval's ``check``); the case passes when they
            raise nothing.
    """

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest class

    call: str | None = None
    expected: str | None = None
    code: str | None = None

    @classmethod
    def parse(cls, text: str) -> "TestCase":
        """A case from ``"f(x) == y"`` or ``"assert f(x) == y"``; other statements become ``code``.

        Raises:
            ConfigError: The text is not valid Python.
        """
        text = text.strip()
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            raise ConfigError(f"test {text!r} is not valid Python: {e.msg}") from None
        node = tree.body[0] if len(tree.body) == 1 else None
        expr = node.test if isinstance(node, ast.Assert) and node.msg is None else getattr(node, "value", None)
        if isinstance(node, (ast.Assert, ast.Expr)) and isinstance(expr, ast.Compare):
            if len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq):
                call, expected = (ast.get_source_segment(text, e) for e in (expr.left, expr.comparators[0]))
                return cls(call=call, expected=expected)
        return cls(code=text)

    def describe(self) -> str:
        """The case as one line of Python (``f(x) == y`` or its code)."""
        return f"{self.call} == {self.expected}" if self.code is None else self.code


class CodeTask(BaseModel):
    """A programming problem.

    Attributes:
        task_id: The id the env was reset with (``"train-3"``, ``"humaneval:test-17"``).
        name: The problem's own name (``"HumanEval/17"``, ``"builtin/run_length"``).
        suite: The suite it comes from.
        split: Its split.
        statement: What the agent is asked to do (shown in the first observation).
        entry_point: The function the tests call.
        stub: Code the agent completes (HumanEval's prompt); it is put in front of every program,
            so an answer may be the body alone, as in HumanEval, or the whole function.
        setup: Code run before the tests, after the candidate (imports the tests need).
        visible: Tests the agent can run with ``test``.
        hidden: Tests that judge ``submit``.
        reference: A correct solution (what the expert submits).
        timeout_s: Time limit of one test case.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    name: str
    suite: str
    split: str
    statement: str
    entry_point: str
    stub: str = ""
    setup: str = ""
    visible: list[TestCase] = Field(default_factory=list)
    hidden: list[TestCase] = Field(default_factory=list)
    reference: str = ""
    timeout_s: float = 3.0

    def program(self, code: str) -> str:
        """The program that runs for an answer: the stub, then the answer.

        An answer whose first line is indented continues the stub (a function body, as in
        HumanEval); any other answer follows it and redefines what it needs.
        """
        if not self.stub:
            return code
        first = next((line for line in code.splitlines() if line.strip()), "")
        if first[:1] in (" ", "\t"):
            return self.stub + code
        return self.stub.rstrip("\n") + "\n\n" + code

    def defines_entry_point(self, program: str) -> bool | None:
        """Whether ``program`` defines :attr:`entry_point` at top level (None: it does not parse)."""
        try:
            tree = ast.parse(program)
        except (SyntaxError, ValueError):
            return None
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            else:
                names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        return self.entry_point in names


def dedent_code(text: str) -> str:
    """Code from a text block: dedented, trailing spaces gone, one final newline."""
    return textwrap.dedent(text).strip("\n") + "\n"
