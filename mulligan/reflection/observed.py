"""What an agent observed in an ALFWorld-style text episode: places, their contents, what it held.

Only the transcript is read (the observations the agent itself got), never the env's state, so a
lesson built from these facts tells the agent nothing it could not have seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from mulligan.records import Step

_NAME = r"[a-z]+ \d+"
_ROOM = re.compile(r"you see (.*?)\.\s*(?:\n|$)", re.IGNORECASE)
_ON = re.compile(rf"On the ({_NAME}), you see ([^.]*)\.")
_IN = re.compile(rf"The ({_NAME}) is open\. In it, you see ([^.]*)\.")
_CLOSED = re.compile(rf"The ({_NAME}) is closed\.")
_TAKE = re.compile(rf"You pick up the ({_NAME}) from the ({_NAME})\.")
_ITEM = re.compile(_NAME)
_GOAL_FILLER = frozenset(
    "a an the some two put in on into find and them it clean hot cool heat look at under examine with to".split()
)


def goal_words(goal: str) -> list[str]:
    """The content words of a goal sentence: object type first, then target (``["mug", "cabinet"]``)."""
    return [w for w in re.findall(r"[a-z]+", goal.lower()) if w not in _GOAL_FILLER]


def items(text: str) -> list[str]:
    """The named things in an ALFWorld list (``a mug 1, and a apple 2`` -> ``["mug 1", "apple 2"]``)."""
    return _ITEM.findall(text)


def room_places(first_observation: str) -> list[str]:
    """The receptacles a room description lists, in order (``[]`` when there is none)."""
    room = _ROOM.search(first_observation)
    return items(room.group(1)) if room else []


def kind(name: str) -> str:
    """The type of a named thing (``"mug 1"`` -> ``"mug"``)."""
    return name.rsplit(" ", 1)[0]


@dataclass
class Observed:
    """Facts gathered from one episode's observations.

    Attributes:
        places: The receptacles the room description listed, in order.
        contents: Receptacle -> the things last seen in/on it (only receptacles looked into).
        closed: Receptacles found closed and never seen open.
        taken: (thing, receptacle) for everything the agent picked up, in order.
        failed: Actions that had no effect, in order, without repeats.
    """

    places: list[str] = field(default_factory=list)
    contents: dict[str, list[str]] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    taken: list[tuple[str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def seen(self, type_: str) -> list[tuple[str, str]]:
        """(thing, receptacle) for every thing of ``type_`` seen somewhere, in the order first seen."""
        return [(thing, place) for place, things in self.contents.items() for thing in things if kind(thing) == type_]

    def unsearched(self) -> list[str]:
        """Listed receptacles the agent never looked into."""
        return [p for p in self.places if p not in self.contents]


def observe(first_observation: str, steps: Sequence[Step]) -> Observed:
    """Gather :class:`Observed` facts from an episode's first observation and steps."""
    facts = Observed(places=room_places(first_observation))
    for step in steps:
        if step.action is None:
            continue
        if not step.valid:
            if step.action not in facts.failed:
                facts.failed.append(step.action)
            continue
        text = step.observation
        for pattern in (_ON, _IN):
            for place, things in pattern.findall(text):
                # Earlier sightings keep their place in the order; the latest contents win.
                facts.contents[place] = items(things)
                if place in facts.closed:
                    facts.closed.remove(place)
        for place in _CLOSED.findall(text):
            if place not in facts.contents and place not in facts.closed:
                facts.closed.append(place)
        taken = _TAKE.search(text)
        if taken:
            thing, place = taken.groups()
            facts.taken.append((thing, place))
            if thing in facts.contents.get(place, []):
                facts.contents[place].remove(thing)
    return facts
