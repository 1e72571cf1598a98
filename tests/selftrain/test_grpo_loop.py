"""GRPO in the self-training loop and on the command line, at smoke scale on a tiny real checkpoint."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.records import Trajectory, read_jsonl
from mulligan.training.methods import SelfTrainConfig
from mulligan.training.selftrain import selftrain


def test_a_grpo_iteration_trains_on_its_own_episodes_and_resumes(tmp_path, tiny_checkpoint):
    config = SelfTrainConfig(
        method="grpo", iterations=1, model=str(tiny_checkpoint), out=str(tmp_path / "grpo"), train_tasks=2,
        train_start=51, eval_tasks=1, samples=2, max_steps=3, max_tokens=12, batch_size=4, concurrency=4,
        eval_bootstrap=False, grpo={"rewards": {"won": 1.0, "invalid": -0.1}},
    )
    (record,) = selftrain(config)
    iteration = tmp_path / "grpo" / "iter-1"
    assert (iteration / "model" / "config.json").exists()
    episodes = read_jsonl(iteration / "model" / "rollouts.jsonl", Trajectory)
    assert len(episodes) == 4 and sorted({t.task_id for t in episodes}) == ["train-51", "train-52"]
    assert all(s.token_ids and len(s.logprobs) == len(s.token_ids) for t in episodes for s in t.steps)
    assert record["method"] == "grpo" and record["trained"] and record["rows"] == 4 and record["k"] == 2
    assert record["pass@k"] is not None and record["diversity"] is not None
    assert set(record["stage_wall_s"]) == {"train", "eval"}
    stages = json.loads((iteration / "stages.json").read_text())
    assert [point[0] for point in stages["train"]["reward_curve"]] == [4.0]
    assert [point[0] for point in stages["train"]["won_curve"]] == [4.0]
    # A finished iteration resumes without playing or training again.
    (again,) = selftrain(config, resume=True)
    assert again["stage_wall_s"] == record["stage_wall_s"]
    assert len(read_jsonl(iteration / "model" / "rollouts.jsonl")) == 4


def test_train_grpo_on_the_command_line(tmp_path, tiny_checkpoint):
    out = tmp_path / "ckpt"
    args = ["train", "--grpo", "mulligan/Household-v0", "--model", str(tiny_checkpoint), "--out", str(out),
            "--batch-size", "4", "-o", "tasks=2", "-o", "num_generations=2", "-o", "max_env_steps=2",
            "-o", "max_tokens=8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "grpo on mulligan/Household-v0: 1 steps, 4 episodes" in result.output
    assert (out / "config.json").exists() and (out / "grpo.json").exists()
    assert len(read_jsonl(out / "rollouts.jsonl")) == 4


def test_bad_grpo_commands_say_what_is_wrong(tmp_path, tiny_checkpoint):
    runner = CliRunner()
    base = ["train", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "x")]
    result = runner.invoke(app, base)
    assert result.exit_code == 2 and "or --grpo ENV" in result.output
    result = runner.invoke(app, [*base, "--grpo", "mulligan/Household-v0", "-o", "num_generation=2"])
    assert result.exit_code == 2 and "unknown GRPO option 'num_generation'" in result.output
    assert "Did you mean 'num_generations'" in result.output
    result = runner.invoke(app, [*base, "--grpo", "mulligan/Household-v0", "-o", "rewards={wins: 1}"])
    assert result.exit_code == 2 and "unknown reward 'wins'" in result.output
    assert not (tmp_path / "x").exists()
