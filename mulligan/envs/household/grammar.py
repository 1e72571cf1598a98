"""The household command grammar (ALFWorld's): parsing action strings into commands.

Parsing forgives what a language model tends to add around a command: case, surrounding
whitespace, repeated spaces, trailing periods and surrounding quotes. Anything else that does not
match a command is not a command; the world answers it with "Nothing happens.".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_COMMAND_CHARS = 200
"""Longer strings are never commands; they are rejected before any pattern runs."""

_NAME = r"([a-z]+ \d+)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (verb, re.compile(pattern.replace("NAME", _NAME) + r"\Z"))
    for verb, pattern in (
        ("goto", r"go to NAME"),
        ("open", r"open NAME"),
        ("close", r"close NAME"),
        ("take", r"take NAME from NAME"),
        ("put", r"put NAME (?:in/on|in|on) NAME"),
        ("clean", r"clean NAME with NAME"),
        ("heat", r"heat NAME with NAME"),
        ("cool", r"cool NAME with NAME"),
        ("use", r"use NAME"),
        ("examine", r"examine NAME"),
        ("inventory", r"inventory"),
        ("look", r"look"),
    )
)
_QUOTES = "\"'`"

GRAMMAR = (
    "go to <receptacle>; open <receptacle>; close <receptacle>; take <object> from <receptacle>; "
    "put <object> in/on <receptacle>; clean <object> with <receptacle>; heat <object> with <receptacle>; "
    "cool <object> with <receptacle>; use <lamp>; examine <object or receptacle>; inventory; look"
)
"""The commands, one line, as shown to agents."""


@dataclass(frozen=True)
class Command:
    """A parsed command.

    Attributes:
        verb: One of ``goto``, ``open``, ``close``, ``take``, ``put``, ``clean``, ``heat``, ``cool``,
            ``use``, ``examine``, ``inventory``, ``look``.
        args: The names the command mentions (``("mug 1", "countertop 1")`` for ``take``).
    """

    verb: str
    args: tuple[str, ...] = ()


def normalize(action: str) -> str:
    """Lower-case an action and strip the decoration a model adds around it.

    Args:
        action: The raw action string.

    Returns:
        The action with case folded, whitespace collapsed, and surrounding quotes and trailing
        periods removed (repeatedly, in any order).
    """
    text = " ".join(action.lower().split())
    while True:
        before = text
        text = text.rstrip(".").strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
            text = text[1:-1].strip()
        if text == before:
            return text


def parse(action: Any) -> Command | None:
    """Parse an action into a command.

    Args:
        action: Anything an agent may send; only strings can be commands.

    Returns:
        The command, or None where the action is not one (wrong type, too long, no match).
    """
    if not isinstance(action, str) or len(action) > 4 * MAX_COMMAND_CHARS:
        return None
    text = normalize(action)
    if len(text) > MAX_COMMAND_CHARS:
        return None
    for verb, pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            return Command(verb, match.groups())
    return None
