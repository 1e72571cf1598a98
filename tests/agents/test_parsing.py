import pytest

from mulligan.agents.parsing import parse_react, tool_call_to_action
from mulligan.errors import FormatError
from mulligan.records import ToolCall


@pytest.mark.parametrize(
    "text, action, thought",
    [
        ("Thought: find a mug\nAction: go to countertop 1", "go to countertop 1", "find a mug"),
        ("thought:find a mug\naction:   go to countertop 1  ", "go to countertop 1", "find a mug"),
        ("THOUGHT: x\nACTION: Open Drawer 2", "Open Drawer 2", "x"),
        ('Action: "take mug 1 from countertop 1"', "take mug 1 from countertop 1", None),
        ("Action: `look`", "look", None),
        ("**Thought:** hmm\n**Action:** inventory", "inventory", "hmm"),
        ("```\nThought: a\nAction: go to shelf 3\n```", "go to shelf 3", "a"),
        ("```text\nAction: look\n```", "look", None),
        ("Action 3: examine mug 1", "examine mug 1", None),
        ("> go to fridge 1", "go to fridge 1", None),
        ("go to fridge 1", "go to fridge 1", None),
        ("Thought: I will look around.\nlook", "look", "I will look around."),
        ("I think so.\nAction:\n  go to sinkbasin 1\n", "go to sinkbasin 1", "I think so."),
        ("Thought: one\nAction: look\nObservation: hallucinated\nAction: inventory", "look", "one"),
    ],
)
def test_forgiving_parse(text, action, thought):
    parsed = parse_react(text)
    assert parsed.action == action
    if thought is not None:
        assert parsed.thought == thought


@pytest.mark.parametrize(
    "text",
    ["", "   \n ", "Thought: only thinking, no action here.\nStill thinking.\nMore.", "Action:   ", "Action: ``"],
)
def test_unparseable_replies_explain_the_format(text):
    with pytest.raises(FormatError) as err:
        parse_react(text)
    assert "Action:" in str(err.value)


def test_multiline_keeps_code_block():
    text = "Thought: write it\nAction: run(\nprint(1)\nprint(2)\n)"
    assert parse_react(text, multiline=True).action == "run(\nprint(1)\nprint(2)\n)"


def test_tool_calls_become_text_actions():
    assert tool_call_to_action(ToolCall(name="act", arguments={"command": " look "})) == "look"
    assert tool_call_to_action(ToolCall(name="run", arguments={"code": "print(1)"})) == 'run({"code": "print(1)"})'
