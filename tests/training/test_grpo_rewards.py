"""GRPO reward functions: the env's verdict, penalties, critics and user functions, per episode and per step."""

from __future__ import annotations

import asyncio

import pytest

from mulligan.errors import ConfigError
from mulligan.records import Step, Trajectory
from mulligan.training.grpo_rewards import CriticReward, reward_function, reward_functions, step_rewards


def episode(actions, won=False):
    steps = [Step(t=i, action=a, valid=v, observation="Nothing happens." if not v else "ok")
             for i, (a, v) in enumerate(actions)]
    return Trajectory(env="mulligan/Household-v0", task_id="train-1", steps=steps, success=won)


LOOPING = episode([("look", True)] * 3 + [("open bed 1", False)])
WON = episode([("go to desk 1", True), ("take pen 1", True)], won=True)


def user_reward(trajectory, **_):
    return [float(len(t.goal)) for t in trajectory]


def test_builtin_rewards_per_episode():
    funcs, weights = reward_functions({"won": 1.0, "invalid": -0.1, "steps": -0.01})
    assert [f(trajectory=[LOOPING, WON]) for f in funcs] == [[0.0, 1.0], [1.0, 0.0], [4.0, 2.0]]
    assert weights == [1.0, -0.1, -0.01]


def test_replaced_counts_the_actions_the_constraint_rewrote():
    steps = [Step(t=0, action="go to desk 1", info={"proposed": "fly to desk"}), Step(t=1, action="take pen 1"),
             Step(t=2, action="look", info={"proposed": "dance"})]
    traj = Trajectory(env="mulligan/Household-v0", task_id="train-1", steps=steps)
    funcs, weights = reward_functions({"replaced": -0.1})
    assert funcs[0](trajectory=[traj, WON]) == [2.0, 0.0]
    assert asyncio.run(step_rewards(traj, funcs, weights)) == pytest.approx([-0.1, 0.0, -0.1])


def test_a_critic_counts_the_steps_it_judges_bad():
    critic = reward_function("critic:loop")
    assert isinstance(critic, CriticReward) and critic.__name__ == "critic:loop"
    assert asyncio.run(critic(trajectory=[LOOPING, WON])) == [1.0, 0.0]  # the third 'look' closes a loop


def test_step_rewards_split_each_episode_reward_over_its_steps():
    names = {"won": 1.0, "invalid": -0.1, "steps": -0.01, "critic:loop": -0.5, f"{__name__}:user_reward": 3.0}
    funcs, weights = reward_functions(names)
    for traj in (LOOPING, WON):
        per_step = asyncio.run(step_rewards(traj, funcs, weights))
        assert len(per_step) == len(traj.steps)
        episode_total = 0.0
        for f, w in zip(funcs[:-1], weights[:-1]):  # the user function scores episodes only
            (value,) = asyncio.run(f(trajectory=[traj])) if isinstance(f, CriticReward) else f(trajectory=[traj])
            episode_total += w * value
        assert sum(per_step) == pytest.approx(episode_total)
    assert asyncio.run(step_rewards(WON, funcs, weights))[-1] == pytest.approx(1.0 - 0.01)


def test_bad_reward_names_fail_with_a_clear_error():
    with pytest.raises(ConfigError, match="unknown reward 'wins'"):
        reward_function("wins")
    with pytest.raises(ConfigError, match="reads the live env"):
        reward_function("critic:teacher")
    with pytest.raises(ConfigError, match="cannot import the reward function"):
        reward_function("no.such.module:fn")
    with pytest.raises(ConfigError, match="at least one reward"):
        reward_functions({})
