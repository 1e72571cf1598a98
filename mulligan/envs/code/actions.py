"""The code env's three tools, as OpenAI tool schemas and as forgiving text actions.

Every one of these is understood (the name is case-insensitive; ``Action:`` may precede it)::

    test                         submit({"code": "def f(): ..."})       # a native tool call, rendered
    ```python                    run({"code": "print(input())", "stdin": "hi"})
    def f(): ...                 submit(code="def f(): ...")            # Python call syntax
    ```
    run                          submit                                 # the code last run or tested
    print(input())
    Input:
    hi

Fences are optional (the agents' parser removes them); for ``run``, standard input follows a line
``Input:`` (or ``stdin:``), or sits in a second fenced block. A fenced block with no tool name is
tested.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from mulligan.errors import FormatError

Tool = Literal["run", "test", "submit"]
TOOLS: tuple[Tool, ...] = ("run", "test", "submit")

ACTION_HELP = """\
Use one tool per turn: write its name after "Action:", then your complete code in a ```python block.
  test    run your code against the visible tests
  run     run your code as a script; give its standard input after a line "Input:"
  submit  judge your code with the hidden tests; this ends the episode
For example:
Action: test
```python
def add(a, b):
    return a + b
```"""

_TOOL_RE = re.compile(r"^[\s>*_`]*(?:action\s*:\s*)?[*_`]*(run|test|submit)\b[*_`]*[ \t]*:?", re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_INPUT_LINE_RE = re.compile(r"^[ \t]*(?:input|stdin)[ \t]*:[ \t]?(.*)$", re.IGNORECASE | re.MULTILINE)
_STDIN_LANGS = {"stdin", "input", "text", "txt"}


@dataclass(frozen=True)
class CodeAction:
    """A parsed action.

    Attributes:
        tool: ``run``, ``test`` or ``submit``.
        code: The program; None for a bare ``submit`` (submit the code last run or tested).
        stdin: Standard input for ``run``.
    """

    tool: Tool
    code: str | None
    stdin: str = ""


def tool_schemas() -> list[dict[str, Any]]:
    """The env's tools as OpenAI function schemas (a fresh list on every call)."""

    def tool(name: str, description: str, **extra: dict[str, str]) -> dict[str, Any]:
        props = {"code": {"type": "string", "description": "A complete Python program (imports included)."}}
        props.update(extra)
        return {"type": "function", "function": {
            "name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": ["code"]}}}

    return [
        tool("run", "Run code as a script and see its stdout, stderr, exit code and whether it timed out.",
             stdin={"type": "string", "description": "Text for standard input (default empty)."}),
        tool("test", "Run code against the visible tests: each test's input, expected value, result and traceback."),
        tool("submit", "Judge code with the hidden tests. This ends the episode; it is won when all pass."),
    ]


def parse_action(text: Any) -> CodeAction:
    """Parse a text action (see the module docstring).

    Raises:
        FormatError: No tool, or no code where the tool needs it; the message says how to answer.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormatError(f"Your action was empty.\n{ACTION_HELP}")
    text = text.replace("\r\n", "\n")
    m = _TOOL_RE.match(text)
    if m is None:
        if _FENCE_RE.search(text):
            return CodeAction("test", *_code_and_stdin(text))
        raise FormatError(f"Start your action with a tool name: run, test or submit.\n{ACTION_HELP}")
    tool: Tool = m.group(1).lower()  # type: ignore[assignment]
    rest = text[m.end():]
    args = _call_arguments(rest)
    if args is not None:
        code, stdin = args
    else:
        code, stdin = _code_and_stdin(rest)
    if not code.strip():
        if tool == "submit":
            return CodeAction("submit", None)
        raise FormatError(f"Give the code to {tool} after the tool name.\n{ACTION_HELP}")
    return CodeAction(tool, code, stdin if tool == "run" else "")


def _call_arguments(rest: str) -> tuple[str, str] | None:
    """(code, stdin) from ``({"code": ...})`` or ``(code="...", stdin="...")``; None if not a call."""
    rest = rest.strip()
    if not (rest.startswith("(") and rest.endswith(")")):
        return None
    inner = rest[1:-1].strip()
    try:
        args = json.loads(inner)
        if isinstance(args, dict):
            return _from_mapping(args)
    except ValueError:
        pass
    try:
        call = ast.parse(f"f({inner})", mode="eval").body
        assert isinstance(call, ast.Call)
        positional = [ast.literal_eval(a) for a in call.args]
        named = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError, AssertionError, TypeError):
        return None
    named.update(zip(("code", "stdin"), positional, strict=False))
    return _from_mapping(named)


def _from_mapping(args: dict[str, Any]) -> tuple[str, str]:
    code, stdin = args.get("code", ""), args.get("stdin", "")
    if not isinstance(code, str) or not isinstance(stdin, str):
        raise FormatError(f"The arguments code and stdin must be strings.\n{ACTION_HELP}")
    return code, stdin


def _code_and_stdin(rest: str) -> tuple[str, str]:
    """(code, stdin) from fenced blocks or plain text; stdin is a ``stdin``/``text`` block, or
    what follows an ``Input:`` line."""
    blocks = list(_FENCE_RE.finditer(rest))
    if not blocks:
        rest = rest.lstrip(" \t")  # code may start on the tool's line: "test: def f(): ..."
        m = _INPUT_LINE_RE.search(rest)
        if m is None:
            return _tidy(rest), ""
        stdin = m.group(1) + rest[m.end():] if m.group(1).strip() else rest[m.end():]
        return _tidy(rest[:m.start()]), stdin.lstrip("\n")
    code: str | None = None
    stdin: str | None = None
    previous_end = code_end = 0
    for block in blocks:
        lang, body, gap = block.group(1).lower(), block.group(2), rest[previous_end:block.start()]
        previous_end = block.end()
        if lang in _STDIN_LANGS or (code is not None and _INPUT_LINE_RE.search(gap)):
            stdin = body if stdin is None else stdin
        elif code is None:
            code, code_end = body, block.end()
    if stdin is None and code is not None:
        m = _INPUT_LINE_RE.search(rest, code_end)
        stdin = m.group(1) + rest[m.end():] if m else None
    return _tidy(code or ""), (stdin or "").lstrip("\n")


def _tidy(code: str) -> str:
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip() + "\n" if any(ln.strip() for ln in lines) else ""


def render_action(action: CodeAction) -> str:
    """The action in the one-line call form every parser accepts: ``tool({"code": ..., ...})``."""
    args: dict[str, str] = {} if action.code is None else {"code": action.code}
    if action.stdin:
        args["stdin"] = action.stdin
    return f"{action.tool}({json.dumps(args)})" if args else action.tool
