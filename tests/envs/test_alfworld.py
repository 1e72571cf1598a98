"""Household tasks played in ALFWorld's real engine: the household expert's plan, written as ALFWorld
commands, wins the same task written as an ALFWorld game, and what the two worlds say agrees."""

from __future__ import annotations

import json

import pytest

from mulligan.envs import get_suite, make_env
from mulligan.envs.adapters.alfworld import ENV_ID, AlfworldSuite, game_path
from mulligan.envs.adapters.alfworld_games import mangled, to_alfworld_command
from mulligan.envs.household import solve
from mulligan.envs.household.rooms import TASK_TYPES
from mulligan.envs.household.suites import build_world
from mulligan.errors import ConfigError
from thirdparty import HOUSEHOLD_TASKS, needs

needs_alfworld = needs("alfworld", "fast_downward")


def test_names_and_commands():
    assert mangled("mug 2") == "mug_bar_998" and mangled("sinkbasin 1") == "sink_bar_999_basin"
    assert to_alfworld_command("put mug 1 in/on cabinet 2") == "move mug 1 to cabinet 2"
    assert to_alfworld_command("go to cabinet 2") == "go to cabinet 2"


def same_text(a: str, b: str) -> bool:
    """Equal, but for the order of the things listed after "you see" (TextWorld sorts them its way)."""
    def norm(text: str) -> tuple[str, list[str]]:
        head, sep, things = text.partition("you see ")
        return head, sorted(t.strip(" .") for t in things.replace(", and ", ", ").split(","))
    return norm(a) == norm(b)


def _play(task_id: str, root) -> tuple[list[tuple[str, str, str]], dict]:
    """The household expert's demonstration replayed in ALFWorld's engine: (command, household
    observation, ALFWorld observation) per step, and ALFWorld's last info."""
    demo = solve(task_id)
    assert demo.won, task_id
    env = make_env(ENV_ID)
    try:
        path = AlfworldSuite(root).task_ids(build_world(task_id).task.split, None)
        (task,) = [t for t in path if game_path(t)[0].parent.name == task_id]
        obs, info = env.reset(options={"task": task})
        steps = []
        for step in demo.steps:
            command = to_alfworld_command(step.action)
            assert command in info["admissible_actions"], (task_id, command, info["admissible_actions"])
            obs, _, terminated, truncated, info = env.step(command)
            steps.append((command, step.observation, obs))
        return steps, info
    finally:
        env.close()


@needs_alfworld
def test_household_tasks_are_won_by_the_household_expert_in_alfworlds_engine(alfworld_games):
    types = set()
    for task_id in HOUSEHOLD_TASKS:
        steps, info = _play(task_id, alfworld_games)
        assert info["won"], (task_id, steps[-3:])
        types.add(build_world(task_id).task.task_type)
        for command, ours, theirs in steps:
            if command.startswith(("go to", "open", "take")):
                # Arriving, opening and taking read the same in both worlds.
                assert same_text(theirs, ours), (task_id, command, ours, theirs)
    assert types == set(TASK_TYPES)


@needs_alfworld
def test_a_plan_that_stops_short_does_not_win(alfworld_games):
    task_id = HOUSEHOLD_TASKS[0]
    demo = solve(task_id)
    assert task_id.startswith("train-")
    env = make_env(ENV_ID)
    try:
        (task,) = [t for t in AlfworldSuite(alfworld_games).task_ids("train", None)
                   if game_path(t)[0].parent.name == task_id]
        obs, info = env.reset(options={"task": task})
        assert info["goal"] == build_world(task_id).task.goal  # "Your task is to: ...." in both worlds
        for step in demo.steps[:-1]:
            *_, info = env.step(to_alfworld_command(step.action))
        assert info["won"] is False
        *_, info = env.step("xyzzy")
        assert info["valid"] is False
    finally:
        env.close()


@needs_alfworld
def test_the_engines_planner_is_the_expert(alfworld_games, tmp_path):
    import asyncio

    from mulligan.runner.runner import RunConfig, run_suite

    config = RunConfig(env=ENV_ID, suite=str(alfworld_games), split="unseen", tasks=None, agent="expert",
                       concurrency=2, out=str(tmp_path / "run"))
    summary = asyncio.run(run_suite(config)).summary
    assert summary["episodes"] == 2 and summary["success_rate"] == 1.0


def test_without_data_the_suite_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match="alfworld-download"):
        get_suite(ENV_ID)


def test_games_are_alfworld_game_files(tmp_path):
    pytest.importorskip("alfworld")
    from mulligan.envs.adapters.alfworld_games import write_household_games

    (path,) = write_household_games(tmp_path, ["unseen-4"])
    data = json.loads(path.read_text())
    assert set(data) >= {"pddl_domain", "grammar", "pddl_problem", "solvable"}
    assert "(:domain alfred)" in data["pddl_problem"] and "UNKNOWN GOAL" not in data["grammar"]
