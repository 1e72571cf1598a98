"""mulligan/TextWorld-v0 on games generated here with tw-make: disjoint splits, the expert wins every
game, a missing .json is a clear error, and clone() replays a game to the same state."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mulligan.envs import get_suite, make_env
from mulligan.envs.adapters.textworld import ENV_ID, TextWorldSuite, games_in
from mulligan.envs.adapters.textworld_make import fingerprint, settings_args
from mulligan.errors import ConfigError, EnvError
from mulligan.runner.runner import RunConfig, run_suite
from thirdparty import TEXTWORLD_SIZES, needs

needs_textworld = needs("textworld")


def test_settings_args():
    assert settings_args("rewards=dense goal=detailed") == ["--rewards", "dense", "--goal", "detailed"]
    assert settings_args("5") == ["--level", "5"]
    assert settings_args("recipe=2 cook cut") == ["--recipe", "2", "--cook", "--cut"]


@needs_textworld
def test_generated_splits_are_disjoint(textworld_games):
    suite = get_suite(ENV_ID, str(textworld_games))
    assert suite.splits == ["test", "train", "valid"] and suite.default_split == "test"
    assert {s: suite.size(s) for s in suite.splits} == {**TEXTWORLD_SIZES}
    prints = [fingerprint(g.with_suffix(".json")) for s in suite.splits for g in games_in(textworld_games / s)]
    assert len(prints) == sum(TEXTWORLD_SIZES.values()) == len(set(prints))


@needs_textworld
def test_the_expert_wins_every_game_of_the_suite(textworld_games, tmp_path):
    for split in ("train", "valid", "test"):
        config = RunConfig(env=ENV_ID, suite=str(textworld_games), split=split, tasks=None, agent="expert",
                           concurrency=2, out=str(tmp_path / split))
        summary = asyncio.run(run_suite(config)).summary
        assert summary["episodes"] == TEXTWORLD_SIZES[split] and summary["success_rate"] == 1.0, split


@needs_textworld
def test_info_and_clone(textworld_games):
    (task,) = get_suite(ENV_ID, str(textworld_games)).task_ids("test", 1)
    env = make_env(ENV_ID)
    try:
        obs, info = env.reset(options={"task": task})
        assert info["goal"] and info["admissible_actions"] and info["won"] is False
        *_, info = env.step("xyzzy")
        assert info["valid"] is False
        inner = env.unwrapped
        expert = inner.expert_action()
        inner.step(expert)
        twin = inner.clone()
        a, b = inner.step(inner.expert_action()), twin.step(twin.expert_action())
        assert a[0] == b[0] and a[4]["admissible_actions"] == b[4]["admissible_actions"]
        twin.close()
    finally:
        env.close()


@needs_textworld
def test_a_game_without_its_json_is_a_clear_error(textworld_games, tmp_path):
    root = tmp_path / "games"
    shutil.copytree(textworld_games / "test", root / "test")
    games = games_in(root / "test")
    games[0].with_suffix(".json").unlink()
    env = make_env(ENV_ID)
    with pytest.raises(EnvError, match="has no .*json beside it"):
        env.reset(options={"task": f"{root}:test-0"})
    with pytest.raises(ConfigError, match="mulligan textworld make"):
        TextWorldSuite(tmp_path / "nothing here")


@needs_textworld
def test_textworld_make_command(tmp_path):
    mulligan = str(Path(sys.executable).parent / "mulligan")
    out = tmp_path / "cc"
    # Level 5: level 1 is one room and one coin whatever the seed, so it has one distinct game, not two.
    args = [mulligan, "textworld", "make", str(out), "--challenge", "tw-coin_collector", "--level", "5",
            "--train", "1", "--valid", "0", "--test", "1", "--seed", "7"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    made = sorted(p.relative_to(out) for p in out.rglob("*.z8"))
    assert [p.parent.name for p in made] == ["test", "train"]
    again = subprocess.run(args, capture_output=True, text=True)  # complete already: nothing more to make
    assert again.returncode == 0 and sorted(p.relative_to(out) for p in out.rglob("*.z8")) == made
