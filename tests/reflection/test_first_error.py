"""First-error location in failed household trajectories: by the teacher and by a model as verifier."""

from __future__ import annotations

import asyncio

import pytest

from mulligan.envs import make_env
from mulligan.errors import EnvError
from mulligan.llm import ScriptedLLM
from mulligan.reflection import (
    first_error_by_teacher,
    first_error_by_verifier,
    mark_first_error,
    mark_first_errors_by_teacher,
)
from mulligan.reflection.first_error import parse_step_labels

HOUSEHOLD = "mulligan/Household-v0"


@pytest.fixture
def env():
    env = make_env(HOUSEHOLD)
    yield env
    env.close()


def test_teacher_finds_no_error_in_the_expert_and_the_first_wasted_step_otherwise(
    run_household, expert_replies, env
):
    demo = expert_replies("unseen-3")
    (expert,) = run_household("expert", "unseen-3")
    assert first_error_by_teacher(expert, env) is None
    (invalid,) = run_household("react", "unseen-3", demo[:2] + ["Action: open bed 1"] + demo[2:4])
    error = first_error_by_teacher(invalid, env)
    assert error.step == 2 and error.critique.critic == "teacher" and error.critique.suggestion == "go to drawer 1"
    (idle,) = run_household("react", "unseen-3", ["Action: inventory"] + demo)
    assert first_error_by_teacher(idle, env).step == 0
    # An unparseable reply executed nothing: the first error is the first wasted action after it.
    (garbled,) = run_household("react", "unseen-3", ["", demo[0], "Action: inventory"])
    assert first_error_by_teacher(garbled, env).step == 2


def test_teacher_replay_must_reproduce_the_trajectory(run_household, env):
    (traj,) = run_household("react", "unseen-3", ["Action: go to drawer 1"])
    traj.steps[0].observation = "You arrive somewhere else."
    with pytest.raises(EnvError, match="diverged at step 0"):
        first_error_by_teacher(traj, env)


def test_verifier_labels_steps_and_the_first_bad_one_is_the_error(run_household):
    (traj,) = run_household("react", "unseen-3", ["Action: go to drawer 1", "Action: open bed 1", "Action: look"])
    llm = ScriptedLLM(["Step 1: Good - new place\n**Step 2:** Bad - nothing happened\nStep 3: Bad - idle"])
    error = asyncio.run(first_error_by_verifier(traj, llm))
    assert error.step == 1 and error.critique.critic == "verifier" and error.critique.explanation == "nothing happened"
    assert asyncio.run(first_error_by_verifier(traj, ScriptedLLM(["Step 1: Good\nStep 2: Uncertain"]))) is None
    assert parse_step_labels("step 3) bad: x\nStep 1 - Good")[3] == ("bad", "x")


def test_marks_are_recorded_as_step_critiques(run_household, expert_replies):
    (failed,) = run_household("react", "unseen-3", ["Action: go to drawer 1", "Action: look"])
    (expert,) = run_household("expert", "unseen-3")
    (teacher,) = run_household("teacher", "unseen-3", ["Action: look"] * 40)
    assert mark_first_errors_by_teacher([failed, expert, teacher], lambda env_id: make_env(env_id)) == 1
    assert failed.steps[1].critique.verdict == "bad" and failed.steps[0].critique is None
    assert all(s.critique is None for s in expert.steps)
    before = teacher.model_dump()
    mark_first_error(teacher, None)
    assert teacher.model_dump() == before
