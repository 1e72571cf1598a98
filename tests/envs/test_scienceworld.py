"""mulligan/ScienceWorld-v0 on the real simulator (Java): its splits, its info, and the gold-path
expert on 100 test variations across the 30 task types."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from mulligan.envs import get_suite, make_env
from mulligan.envs.adapters.scienceworld import ENV_ID, GOLD_WAITS, POOL, SPLIT_SIZES, TASKS, split_task_id, variation_of
from mulligan.errors import ConfigError, EnvError
from mulligan.runner.runner import RunConfig, run_suite
from thirdparty import needs

needs_scienceworld = needs("scienceworld", java=True)


def test_suites_and_task_ids():
    suite = get_suite(ENV_ID)
    assert suite.splits == ["train", "dev", "test"] and suite.default_split == "test"
    first = suite.task_ids("test", 30)
    assert sorted(t.partition(":")[0] for t in first) == TASKS  # one of each type first
    assert suite.task_ids("test", 2, start=30) == ["boil:test-1", "change-the-state-of-matter-of:test-1"]
    assert suite.size("test") == sum(s[2] for s in SPLIT_SIZES.values())
    assert get_suite(ENV_ID, "melt").task_ids("dev", 2) == ["melt:dev-0", "melt:dev-1"]
    assert variation_of("melt", "test", 0) == 21
    with pytest.raises(ConfigError, match="Did you mean 'melt'"):
        get_suite(ENV_ID, "mlt")
    with pytest.raises(EnvError, match="past the end"):
        split_task_id("power-component:test-5")


@needs_scienceworld
def test_the_split_table_is_scienceworlds():
    sim = POOL.take()
    try:
        assert sorted(sim.get_task_names()) == TASKS
        for name in TASKS:
            sim.load(name, 0, "")
            got = (sim.get_variations_train(), sim.get_variations_dev(), sim.get_variations_test())
            want = [list(range(variation_of(name, s, 0), variation_of(name, s, 0) + n))
                    for s, n in zip(("train", "dev", "test"), SPLIT_SIZES[name])]
            assert [sorted(g) for g in got] == want, name
    finally:
        POOL.give_back(sim)


@needs_scienceworld
def test_info_reward_and_incomplete_admissible_actions():
    env = make_env(ENV_ID)
    try:
        obs, info = env.reset(options={"task": "find-animal:test-0"})
        assert "This room is called" in obs and obs.endswith(info["goal"]) and "animal" in info["goal"]
        assert info["admissible_complete"] is False and "look around" in info["admissible_actions"]
        *_, info = env.step("frobnicate the hallway")
        assert info["valid"] is False and info["won"] is False
        total = 0.0
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
            total += reward
            assert info["valid"] is True
            if terminated or truncated:
                break
        assert info["won"] and info["score"] == 100 and total == pytest.approx(1.0)
    finally:
        env.close()


@needs_scienceworld
def test_the_expert_waits_for_a_gold_action_the_world_refuses_then_skips_it():
    # The simulator is random past the variation: a gold action may come before the world is ready for it.
    env = make_env(ENV_ID, admissible=False)
    try:
        env.reset(options={"task": "find-non-living-thing:test-0"})
        expert = env.unwrapped
        unready = "examine molten unobtainium"
        expert.gold.insert(1, unready)
        actions = []
        for _ in range(100):
            actions.append(expert.expert_action())
            *_, terminated, truncated, info = env.step(actions[-1])
            if terminated or truncated:
                break
        assert actions[1:2 + 2 * GOLD_WAITS] == [unready, "wait1"] * GOLD_WAITS + [unready]
        assert unready not in actions[2 + 2 * GOLD_WAITS:] and info["won"]
    finally:
        env.close()


@needs_scienceworld
@pytest.mark.slow
def test_the_expert_wins_99_percent_of_100_test_variations_across_task_types(tmp_path):
    # Inclined-plane gold paths look at the sliding block more than 150 times: a longer cap.
    config = RunConfig(env=ENV_ID, agent="expert", split="test", tasks=100, concurrency=4,
                       env_options={"admissible": False, "max_steps": 400}, out=str(tmp_path / "run"))
    result = asyncio.run(run_suite(config))
    trajs = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    types = Counter(t["task_id"].partition(":")[0] for t in trajs)
    assert len(trajs) == 100 and len(types) == 30
    lost = [(t["task_id"], t["end_reason"], (t.get("error") or "")[:200]) for t in trajs if not t["success"]]
    assert result.summary["success_rate"] >= 0.99, lost
