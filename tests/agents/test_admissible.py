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
