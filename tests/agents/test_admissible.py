"""Constraining actions to the env's admissible set (``admissible`` agent option), on the real household env."""

from __future__ import annotations

import pytest

from mulligan.agents.admissible import candidates_for, needs_constraint, nearest
from mulligan.records import Step

TASK = "unseen-0"


def test_an_inadmissible_action_is_moved_to_the_nearest_admissible_one(run_household):
    (traj,) = run_household("react", TASK, ["Thought: look around\nAction: go to shelff 1"], admissible="nearest")
    step = traj.steps[0]
    assert step.info["proposed"] == "go to shelff 1"
    assert step.action == "go to shelf 1" and step.valid
    assert step.raw.endswith("go to shelff 1")  # the model's own words are kept
    reply = [m for m in traj.messages if m.role == "assistant"][0]
    assert reply.content == "Thought: look around\nAction: go to shelf 1"  # the transcript says what ran


def test_admissible_actions_pass_untouched_and_off_changes_nothing(run_household):
    replies = ["Thought: a\nAction: go to shelf 1", "Thought: b\nAction: go to shelff 1"]
    (guarded,) = run_household("react", TASK, replies, admissible="nearest")
    assert "proposed" not in guarded.steps[0].info and guarded.steps[0].action == "go to shelf 1"
    (plain,) = run_household("react", TASK, replies)
    assert [s.action for s in plain.steps] == ["go to shelf 1", "go to shelff 1"]
    assert not plain.steps[1].valid


def test_a_third_repeat_is_replaced(run_household):
    (traj,) = run_household("react", TASK, ["Action: look"] * 3, admissible="nearest")
    actions = [s.action for s in traj.steps]
    assert actions[:2] == ["look", "look"] and actions[2] != "look"
    assert traj.steps[2].info["proposed"] == "look"


def _step(action: str, valid: bool) -> Step:
    return Step(t=0, action=action, valid=valid, observation="Nothing happens." if not valid else "ok")


def test_dead_ends_leave_the_candidates_until_something_changes():
    admissible = ["go to desk 1", "open drawer 1", "look"]
    failed = [_step("open drawer 1", False)]
    assert needs_constraint("open drawer 1", admissible, failed)
    assert candidates_for(admissible, failed) == ["go to desk 1", "look"]
    changed = failed + [_step("go to desk 1", True)]
    assert not needs_constraint("open drawer 1", admissible, changed)
    cycle = [_step(a, True) for a in ("go to desk 1", "look", "go to desk 1", "look")]
    assert "go to desk 1" not in candidates_for(admissible, cycle)
    assert candidates_for(["look"], [_step("look", True)] * 2) == ["look"]  # never empty


@pytest.mark.parametrize("said, expected", [("go to cabinet 12", "go to cabinet 12"), ("Go to Cabnet 2.", "go to cabinet 2"),
                                            ("take mug from desk", "take mug 1 from desk 1")])
def test_nearest(said, expected):
    assert nearest(said, ["go to cabinet 2", "go to cabinet 12", "take mug 1 from desk 1"]) == expected


def test_an_incomplete_list_leaves_unlisted_actions_to_the_env():
    """ScienceWorld's list leaves out actions it accepts: nearest must not turn 'open door to greenhouse'
    into the listed 'close door to greenhouse'; it may only replace what the env already refused."""
    listed = ["close door to greenhouse", "look around", "go to hallway"]
    assert needs_constraint("open door to greenhouse", listed, [])  # with a complete list: rewritten
    assert not needs_constraint("open door to greenhouse", listed, [], complete=False)
    refused = [_step("open door to greenhouse", False)]
    assert needs_constraint("open door to greenhouse", listed, refused, complete=False)
    accepted = refused + [_step("look around", True)]
    assert not needs_constraint("open door to greenhouse", listed, accepted, complete=False)


def test_constrain_reads_admissible_complete_from_info():
    import asyncio

    from mulligan.agents.admissible import constrain
    from mulligan.agents.parsing import ParsedReply

    info = {"admissible_actions": ["close door to greenhouse", "look around"], "admissible_complete": False}
    said = ParsedReply(action="open door to greenhouse", thought=None)
    assert asyncio.run(constrain("nearest", said, llm=None, messages=[], info=info, history=[])) is None
    refused = [_step("open door to greenhouse", False)]
    moved = asyncio.run(constrain("nearest", said, llm=None, messages=[], info=info, history=refused))
    assert moved is not None and moved.action in info["admissible_actions"]
    info["admissible_complete"] = True
    assert asyncio.run(constrain("nearest", said, llm=None, messages=[], info=info, history=[])) is not None
