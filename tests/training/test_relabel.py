"""Renumbering object instances consistently across a conversation."""

from __future__ import annotations

import random
import re

from mulligan.records import Message
from mulligan.training.relabel import renumber

ROOM = ("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a cabinet 2, "
        "and a countertop 1.\n\nYour task is to: put a mug in cabinet.")


def _conversation():
    return [
        Message(role="system", content="You act."),
        Message(role="user", content=ROOM, kind="observation"),
        Message(role="assistant", content="Thought: find mug\nAction: go to countertop 1"),
        Message(role="user", content="You arrive at countertop 1. On the countertop 1, you see a mug 2, a mug 1, "
                                     "and a apple 1.", kind="observation"),
        Message(role="assistant", content="Thought: mug 2 is in countertop 1\nAction: take mug 2 from countertop 1",
                train=False),
        Message(role="user", content="You pick up the mug 2 from the countertop 1.", kind="observation"),
    ]


def test_renumbering_is_consistent_and_keeps_receptacles():
    conv = _conversation()
    seen_numbers = set()
    for seed in range(30):
        out = renumber(conv, random.Random(seed))
        assert out[1].content == ROOM and out[4].train is False and out[2].content == conv[2].content
        mug2 = re.search(r"take (mug \d) from countertop 1", out[4].content).group(1)
        assert f"a {mug2}," in out[3].content and f"the {mug2} from the countertop 1" in out[5].content
        mugs = re.findall(r"mug \d", out[3].content)
        assert len(set(mugs)) == 2  # two mugs stay two distinct mugs
        seen_numbers.add(mug2)
    assert len(seen_numbers) >= 5  # the number really varies
    assert conv[3].content.startswith("You arrive at countertop 1. On the countertop 1, you see a mug 2")  # untouched


def test_conversation_without_a_room_is_left_alone():
    conv = [Message(role="user", content="mug 2 and cabinet 1", kind="observation")]
    assert renumber(conv, random.Random(0))[0].content == "mug 2 and cabinet 1"


def test_receptacles_renumbered_on_request_keep_the_listed_order():
    conv = _conversation()
    out = renumber(conv, random.Random(3), receptacles=True)
    listed = re.findall(r"a (\w+ \d)", out[1].content.split("\n")[0])
    assert [p.split()[0] for p in listed] == ["cabinet", "cabinet", "countertop"]
    assert listed[0] != listed[1]
    counter = listed[2]
    assert out[2].content.endswith(f"go to {counter}") and out[3].content.startswith(f"You arrive at {counter}.")
    assert f"from the {counter}." in out[5].content
