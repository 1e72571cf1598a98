"""Consistent renumbering of object instances in ALFWorld-style transcripts (data augmentation).

In generated households most objects are number 1 or 2, so a small model trained on them learns
to write the number it saw most often instead of the one in front of it. Renumbering every object
instance at random, consistently across one conversation (``egg 2`` becomes ``egg 7`` in every
observation, thought and action), keeps each transcript true to itself while making the number
something that can only be copied from the context. Receptacles (the things the room description
lists) keep their numbers: their order in the room is part of what the agent reads.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from mulligan.records import Message
from mulligan.reflection.observed import kind, room_places

_NAME = re.compile(r"\b([a-z]+) (\d+)\b")


def renumber(messages: Sequence[Message], rng: random.Random, *, max_number: int = 9) -> list[Message]:
    """A copy of ``messages`` with every object instance renumbered at random, consistently.

    Args:
        messages: A conversation whose first user message is the room description and task.
        rng: The random source.
        max_number: New numbers are drawn from 1..max_number, distinct within each object type.

    Returns:
        New messages (the originals are not changed). Receptacles listed in the room description
        keep their names; a conversation without a room description comes back unchanged.
    """
    first = next((m.content for m in messages if m.role == "user" and m.kind == "observation"), "")
    receptacle_types = {kind(p) for p in room_places(first)}
    if not receptacle_types:
        return [m.model_copy() for m in messages]
    mapping: dict[tuple[str, str], int] = {}
    used: dict[str, set[int]] = {}

    def swap(match: re.Match[str]) -> str:
        type_, number = match.groups()
        if type_ in receptacle_types:
            return match.group(0)
        key = (type_, number)
        if key not in mapping:
            taken = used.setdefault(type_, set())
            free = [n for n in range(1, max_number + 1) if n not in taken] or [int(number)]
            mapping[key] = rng.choice(free)
            taken.add(mapping[key])
        return f"{type_} {mapping[key]}"

    return [m.model_copy(update={"content": _NAME.sub(swap, m.content)}) if m.content else m.model_copy()
            for m in messages]
