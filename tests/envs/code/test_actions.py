"""The code env's text actions: every documented form parses, and mistakes get a readable error."""

from __future__ import annotations

import json

import pytest

from mulligan.agents.parsing import parse_react, tool_call_to_action
from mulligan.envs.code.actions import CodeAction, parse_action, render_action, tool_schemas
from mulligan.errors import FormatError
from mulligan.records import ToolCall

CODE = "def f(x):\n    return x + 1\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"test\n```python\n{CODE}```", CodeAction("test", CODE)),
        (f"Action: submit\n```python\n{CODE}```", CodeAction("submit", CODE)),
        (f"**Submit**:\n```py\n{CODE}```", CodeAction("submit", CODE)),
        (f"TEST\n{CODE}", CodeAction("test", CODE)),
        ("test: def f(x): return 1", CodeAction("test", "def f(x): return 1\n")),
        (f"submit({json.dumps({'code': CODE})})", CodeAction("submit", CODE)),
        ('run({"code": "print(input())", "stdin": "hi"})', CodeAction("run", "print(input())", "hi")),
        ("run(code='print(1)', stdin='x')", CodeAction("run", "print(1)", "x")),
        ("run('print(2)')", CodeAction("run", "print(2)")),
        ("run\nprint(input())\nInput:\nhello\nworld", CodeAction("run", "print(input())\n", "hello\nworld")),
        ("run\nprint(input())\nstdin: 5", CodeAction("run", "print(input())\n", "5")),
        ("run\n```python\nprint(input())\n```\nInput:\n```\n5 6\n```", CodeAction("run", "print(input())\n", "5 6\n")),
        ("run\n```python\nprint(input())\n```\n```stdin\n7\n```", CodeAction("run", "print(input())\n", "7\n")),
        ("run\n```python\nprint(input())\n```\nInput: 8", CodeAction("run", "print(input())\n", "8")),
        (f"```python\n{CODE}```", CodeAction("test", CODE)),
        ("submit", CodeAction("submit", None)),
        ("test\n    return x\n", CodeAction("test", "    return x\n")),
    ],
)
def test_text_forms(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "hello world", "testing 1 2 3", "test", "run\n", None, 42])
def test_mistakes_are_format_errors_that_teach_the_format(text):
    with pytest.raises(FormatError) as err:
        parse_action(text)
    assert "Action: test" in str(err.value)


def test_stdin_is_only_kept_for_run():
    assert parse_action('test({"code": "x = 1", "stdin": "ignored"})') == CodeAction("test", "x = 1")


def test_a_replies_action_after_the_react_parser_unfences_it():
    reply = "Thought: try it\nAction: run\n```python\nprint(input())\n```\nInput:\n```\n1 2\n```"
    action = parse_react(reply, multiline=True).action
    assert parse_action(action) == CodeAction("run", "print(input())\n", "1 2")


@pytest.mark.parametrize("tool", ["run", "test", "submit"])
def test_native_tool_calls_round_trip_through_the_agents_renderer(tool):
    args = {"code": CODE, "stdin": "a\nb"} if tool == "run" else {"code": CODE}
    action = tool_call_to_action(ToolCall(name=tool, arguments=args))
    assert parse_action(action) == CodeAction(tool, CODE, args.get("stdin", ""))
    assert parse_action(render_action(parse_action(action))) == parse_action(action)


def test_tool_schemas_are_openai_functions():
    schemas = tool_schemas()
    assert [s["function"]["name"] for s in schemas] == ["run", "test", "submit"]
    for s in schemas:
        assert s["type"] == "function" and s["function"]["parameters"]["required"] == ["code"]
    assert "stdin" in schemas[0]["function"]["parameters"]["properties"]
    assert tool_schemas() is not schemas
