"""Turning a model's reply into an action, forgivingly.

The text format is ReAct's::

    Thought: I need a mug first.
    Action: go to countertop 1

Parsing forgives case, extra whitespace, markdown emphasis, quotes, code fences, a ``>`` prompt
prefix and numbered labels (``Action 3:``). What still cannot be parsed raises
:class:`~mulligan.errors.FormatError` whose message is written for the model to read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mulligan.errors import FormatError
from mulligan.llm.base import RAW_ARGUMENTS
from mulligan.records import ToolCall

FORMAT_REMINDER = "Reply in the format:\nThought: <your reasoning>\nAction: <one command>"

_LABEL = r"^[ \t>*_#-]*{name}(?:[ \t]*\d+)?[ \t]*[*_]*[ \t]*:[*_]*[ \t]*"
_ACTION_RE = re.compile(_LABEL.format(name="action"), re.IGNORECASE | re.MULTILINE)
_THOUGHT_RE = re.compile(_LABEL.format(name="(?:thought|think)"), re.IGNORECASE | re.MULTILINE)
_OBSERVATION_RE = re.compile(_LABEL.format(name="observation"), re.IGNORECASE | re.MULTILINE)
_FENCE_RE = re.compile(r"```[a-zA-Z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class ParsedReply:
    """An action parsed from a reply, with the thought before it (if any)."""

    action: str
    thought: str | None = None


def _clean_line(text: str) -> str:
    text = text.strip()
    text = text.lstrip(">").strip()
    text = text.strip("*_").strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _unfence(text: str) -> str:
    """Replace fenced blocks by their contents, so labels inside fences are found."""
    return _FENCE_RE.sub(lambda m: m.group(1), text)


def parse_react(text: str, *, multiline: bool = False) -> ParsedReply:
    """Parse a ReAct reply into (thought, action).

    Args:
        text: The model's reply.
        multiline: Keep everything after ``Action:`` (for code actions) instead of its first line.

    Raises:
        FormatError: No action could be found; the message tells the model how to answer.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormatError(f"Your reply was empty. {FORMAT_REMINDER}")
    body = _unfence(text.replace("\r\n", "\n"))
    matches = list(_ACTION_RE.finditer(body))
    thought = None
    if matches:
        # The first action is the one meant for now; anything after a made-up
        # "Observation:" is the model imagining the future.
        last = matches[0]
        rest = _OBSERVATION_RE.split(body[last.end():], maxsplit=1)[0]
        if multiline:
            action = rest.strip()
        else:
            lines = [ln for ln in rest.split("\n") if ln.strip()]
            action = _clean_line(lines[0]) if lines else ""
        head = body[: last.start()]
        t = list(_THOUGHT_RE.finditer(head))
        if t:
            thought = head[t[-1].end():].strip() or None
        elif head.strip():
            thought = head.strip()
    else:
        lines = [ln for ln in body.split("\n") if ln.strip()]
        non_thought = [ln for ln in lines if not _THOUGHT_RE.match(ln)]
        if len(non_thought) != 1 or len(lines) > 2:
            raise FormatError(f"I could not find an action in your reply. {FORMAT_REMINDER}")
        action = _clean_line(non_thought[0])
        t = [ln for ln in lines if _THOUGHT_RE.match(ln)]
        thought = _THOUGHT_RE.sub("", t[0]).strip() if t else None
    if not action:
        raise FormatError(f"Your Action was empty. {FORMAT_REMINDER}")
    return ParsedReply(action=action, thought=thought)


def tool_call_to_action(call: ToolCall) -> str:
    """Render a native tool call as the env's text action.

    A tool whose only argument is ``command`` (the household's ``act``) becomes that command;
    any other call becomes ``name(<json arguments>)``, which env families with several tools parse.

    Raises:
        FormatError: The backend could not read the call's arguments as a JSON object.
    """
    args = call.arguments or {}
    if set(args) == {RAW_ARGUMENTS}:
        raise FormatError(
            f"The arguments of your {call.name or 'tool'} call are not a JSON object: {str(args[RAW_ARGUMENTS])[:200]!r}. "
            "Call the tool again with its arguments as a JSON object."
        )
    if set(args) == {"command"} and isinstance(args["command"], str):
        return args["command"].strip()
    return f"{call.name}({json.dumps(args, ensure_ascii=False)})"
