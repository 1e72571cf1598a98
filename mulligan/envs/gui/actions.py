"""The GUI action grammar, parsed forgivingly.

``click(id)``, ``type(id, "text")``, ``scroll(up|down)``, ``back()``, ``answer("text")``. Also
accepted: no parentheses (``click 3``), brackets or ``#`` around ids (``click([3])``), keyword
arguments (``type(id=5, text="hi")``), JSON arguments as native tool calls give them
(``type({"id": 5, "text": "hi"})``), unquoted text, a trailing period, and synonyms (``tap``,
``enter``, ``swipe``, ``finish``). What cannot be read gives an error message, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ACTION_HELP = ('Actions: click(id), type(id, "text"), scroll(up) or scroll(down), back(), answer("text"). '
               "Ids are the numbers in brackets.")

VERBS = {
    "click": "click", "tap": "click", "press": "click", "select": "click", "toggle": "click",
    "type": "type", "input": "type", "enter": "type", "fill": "type", "write": "type",
    "scroll": "scroll", "swipe": "scroll",
    "back": "back", "goback": "back", "go_back": "back",
    "answer": "answer", "finish": "answer", "respond": "answer", "reply": "answer", "done": "answer",
}
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\((.*)\)|[\s:]+(.*?))?\s*\.?\s*$", re.DOTALL)
_INT = re.compile(r"^\s*(?:(?:id|ref|element|target)\s*[=:]\s*)?[\[#\"']*\s*(\d+)\s*[\]\"']*\s*$", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class GuiAction:
    """A parsed action: ``kind`` is click, type, scroll, back or answer."""

    kind: str
    target: int | None = None
    text: str | None = None


def unquote(text: str) -> str:
    """Strip whitespace and one pair of matching quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1]
    return text


def _keyword(text: str, names: tuple[str, ...]) -> str:
    """``text="hi"`` -> ``"hi"`` for one of ``names``; anything else unchanged."""
    m = re.match(rf"^\s*(?:{'|'.join(names)})\s*[=:]\s*(.*)$", text, re.IGNORECASE | re.DOTALL)
    return m.group(1) if m else text


def _json_args(args: str) -> dict[str, Any] | None:
    if not args.strip().startswith("{"):
        return None
    try:
        data = json.loads(args)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _target(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _INT.match(str(value))
    return int(m.group(1)) if m else None


def parse(action: Any) -> GuiAction | str:
    """Read one action; returns a :class:`GuiAction` or an error message for the agent."""
    if not isinstance(action, str) or not action.strip():
        return f"Your action was empty. {ACTION_HELP}"
    line = action.strip().splitlines()[0].strip().strip("`").strip()
    line = re.sub(r"^go\s+back\b", "back", line, flags=re.IGNORECASE)
    m = _CALL.match(line)
    verb = VERBS.get(m.group(1).lower()) if m else None
    if m is None or verb is None:
        return f"I do not know the action {line[:60]!r}. {ACTION_HELP}"
    args = m.group(2) if m.group(2) is not None else (m.group(3) or "")
    data = _json_args(args)
    if verb == "back":
        return GuiAction("back")
    if verb == "scroll":
        raw = str(data.get("direction", "")) if data else _keyword(args, ("direction",))
        direction = unquote(raw).lower().replace("page ", "")
        if direction not in ("up", "down"):
            return f"scroll needs a direction, up or down: scroll(down). {ACTION_HELP}"
        return GuiAction("scroll", text=direction)
    if verb == "answer":
        raw = str(next(iter(data.values()), "")) if data else _keyword(args, ("text", "answer"))
        text = unquote(raw)
        if not text:
            return f'answer needs the answer text: answer("..."). {ACTION_HELP}'
        return GuiAction("answer", text=text)
    if data is not None:
        target = _target(next((data[k] for k in ("id", "ref", "element", "target") if k in data), ""))
        text = data.get("text", data.get("value")) if verb == "type" else None
        text = None if text is None else str(text)
    else:
        head, sep, rest = args.partition(",")
        if verb == "type" and not sep:
            head, sep, rest = args.strip().partition(" ")
        target = _target(head)
        text = unquote(_keyword(rest, ("text", "value"))) if verb == "type" and sep else None
    if target is None:
        return f"{verb} needs the id of an element, the number in brackets: {verb}(3). {ACTION_HELP}"
    if verb == "type" and text is None:
        return f'type needs an id and the text: type(3, "hello"). {ACTION_HELP}'
    return GuiAction(verb, target=target, text=text)


def tool_schema() -> list[dict[str, Any]]:
    """OpenAI-style tools, one per action (fresh on every call)."""
    def tool(name: str, description: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)}}}
    ident = {"type": "integer", "description": "The element's id, the number in brackets."}
    return [
        tool("click", "Click an element.", {"id": ident}),
        tool("type", "Replace the text of a textbox.", {"id": ident, "text": {"type": "string"}}),
        tool("scroll", "Scroll the screen's list.", {"direction": {"type": "string", "enum": ["up", "down"]}}),
        tool("back", "Go back to the previous screen.", {}),
        tool("answer", "Give the final answer and end the task.", {"text": {"type": "string"}}),
    ]
