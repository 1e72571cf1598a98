"""Consistent renumbering of object instances in ALFWorld-style transcripts (data augmentation).

In generated households most objects are number 1 or 2, so a small model trained on them learns
to write the number it saw most often instead of the one in front of it. Renumbering every object
instance at random, consistently across one conversation (``egg 2`` becomes ``egg 7`` in every
observation, thought and action), keeps each transcript true to itself while making the number
something that can only be copied from the context.

Receptacles (the things the room description lists) are renumbered only on request
(``receptacles=True``): the env numbers them 1, 2, 3 in the order it lists them, so a model learns
that the place after ``cabinet 2`` is ``cabinet 3`` and walks into a cabinet that does not exist
when there are two. With receptacles renumbered (``cabinet 4, cabinet 2, cabinet 7``, still in the
listed order) the next place can only be read off the room description.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from mulligan.records import Message
from mulligan.reflection.observed import kind, room_places

_NAME = re.compile(r"\b([a-z]+) (\d+)\b")


def renumber(messages: Sequence[Message], rng: random.Random, *, max_number: int = 9,
             receptacles: bool = False) -> list[Message]:
    """A copy of ``messages`` with every object instance renumbered at random, consistently.

    Args:
        messages: A conversation whose first user message is the room description and task.
        rng: The random source.
        max_number: New numbers are drawn from 1..max_number, distinct within each type.
        receptacles: Renumber the receptacles the room description lists too.

    Returns:
        New messages (the originals are not changed); a conversation without a room description
        comes back unchanged.
    """
    first = next((m.content for m in messages if m.role == "user" and m.kind == "observation"), "")
    places = room_places(first)
    receptacle_types = {kind(p) for p in places}
    if not receptacle_types:
        return [m.model_copy() for m in messages]
    mapping: dict[tuple[str, str], int] = {}
    used: dict[str, set[int]] = {}
    if receptacles:
        for place in places:  # in listed order, so the room description keeps its order
            type_, number = place.rsplit(" ", 1)
            _draw(mapping, used, (type_, number), rng, max_number)

    def swap(match: re.Match[str]) -> str:
        type_, number = match.groups()
        if type_ in receptacle_types and not receptacles:
            return match.group(0)
        key = (type_, number)
        if key not in mapping:
            _draw(mapping, used, key, rng, max_number)
        return f"{type_} {mapping[key]}"

    return [m.model_copy(update={"content": _NAME.sub(swap, m.content)}) if m.content else m.model_copy()
            for m in messages]


def _draw(mapping: dict[tuple[str, str], int], used: dict[str, set[int]], key: tuple[str, str],
          rng: random.Random, max_number: int) -> None:
    """Give ``key`` (type, old number) a new number not yet used for its type."""
    taken = used.setdefault(key[0], set())
    free = [n for n in range(1, max_number + 1) if n not in taken] or [int(key[1])]
    mapping[key] = rng.choice(free)
    taken.add(mapping[key])
