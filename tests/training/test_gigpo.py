"""GiGPO-style step-level credit: steps from the same anchor state in a group are compared by their returns."""

from __future__ import annotations

import pytest

from mulligan.records import Step, Trajectory
from mulligan.training.gigpo import anchor_state, discounted_returns, step_advantages, token_advantages


def episode(task, actions, won=False):
    """Steps from ``(action, valid)`` pairs; the last step wins when ``won``."""
    steps = [Step(t=i, action=a, valid=v) for i, (a, v) in enumerate(actions)]
    if won:
        steps[-1].reward = 1.0
    return Trajectory(env="x", task_id=task, steps=steps, success=won)


def test_the_anchor_state_is_the_task_and_the_valid_actions_before_the_step():
    traj = episode("t1", [("go to desk 1", True), ("open bed 1", False), ("Take pen 1", True)])
    assert anchor_state(traj, 0) == ("t1", ())
    assert anchor_state(traj, 2) == ("t1", ("go to desk 1",))
    assert anchor_state(traj, 1) == anchor_state(traj, 2)  # an invalid action changes nothing
    assert anchor_state(episode("t2", []), 0) != anchor_state(traj, 0)


def test_discounted_returns():
    assert discounted_returns([0.0, 0.0, 1.0], 0.5) == [0.25, 0.5, 1.0]


def test_steps_sharing_a_state_are_compared_and_lonely_steps_get_nothing():
    good = episode("t", [("go to desk 1", True), ("take pen 1", True)], won=True)
    bad = episode("t", [("go to desk 1", True), ("look", True)])
    other_group = episode("u", [("go to desk 1", True)])
    trajs = [good, bad, other_group, episode("u", [("look", True)])]
    rewards = [[s.reward for s in t.steps] for t in trajs]
    out = step_advantages(trajs, rewards, group_size=2, gamma=0.5, scale=False)
    # t=0 of both: returns 0.5 and 0 -> +-0.25; t=1 shares ("t", ("go to desk 1",)): returns 1 and 0 -> +-0.5
    assert out[0] == pytest.approx([0.25, 0.5]) and out[1] == pytest.approx([-0.25, -0.5])
    # The "u" group: both t=0 share ("u", ()) with equal returns -> 0.
    assert out[2] == [0.0] and out[3] == [0.0]
    scaled = step_advantages(trajs, rewards, group_size=2, gamma=0.5)
    assert scaled[0][1] == pytest.approx(1.0, abs=1e-3) and scaled[1][1] == pytest.approx(-1.0, abs=1e-3)


def test_token_advantages_add_the_step_term_on_each_steps_tokens():
    rows = token_advantages([1.0, -1.0], [[0.5, -0.5], [0.0]], [[0, 0, -1, 1], [0, -1]], width=5, weight=2.0)
    assert rows == [[2.0, 2.0, 1.0, 0.0, 1.0], [-1.0, -1.0, -1.0, -1.0, -1.0]]
