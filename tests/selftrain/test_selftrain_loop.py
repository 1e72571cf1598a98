"""The self-training loop at smoke scale: one iteration per method, resume, never expert data."""

from __future__ import annotations

import functools
import json

import pytest
from selftrain_helpers import SLIP, SlipPolicy
from typer.testing import CliRunner

import mulligan.training.selftrain as loop
from mulligan.cli import app
from mulligan.errors import RunError
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run
from mulligan.training.methods import CollectRun, SelfTrainConfig
from mulligan.training.rowfile import load_rows
from mulligan.training.selftrain import SelfTrainer, selftrain, weights_digest

EXPECTED_SOURCES = {
    "star": {"policy"},
    "rerest": {"policy", "reflexion-retry"},
    "step": {"policy", "teacher"},
    "agentr": {"policy", "search", "splice"},
}


def smoke(tmp_path, method, checkpoint, **overrides):
    options = dict(
        method=method, iterations=1, model=str(checkpoint), out=str(tmp_path / method), train_tasks=1,
        train_start=51, eval_tasks=1, samples=2, max_steps=9, epochs=1, batch_size=1, concurrency=4,
        eval_bootstrap=False, search={"iterations": 3, "samples": 3, "max_depth": 8},
    )
    return SelfTrainConfig(**{**options, **overrides})


def policy(_checkpoint):
    return SlipPolicy()


@pytest.mark.parametrize("method", ["star", "rerest", "step", "agentr"])
def test_one_iteration_writes_data_checkpoint_and_metrics(method, tmp_path, tiny_checkpoint):
    config = smoke(tmp_path, method, tiny_checkpoint)
    (record,) = selftrain(config, llm_factory=policy)
    out = tmp_path / method
    assert (out / "iter-1" / "model" / "config.json").exists()
    assert json.loads((out / "iter-1" / "model" / "finetune.json").read_text())["base"] == str(tiny_checkpoint)
    assert [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()] == [record]
    assert record["trained"] and record["rows"] > 0 and record["iteration"] == 1
    assert record["pass@k"] == 1.0 and record["k"] == 2 and 0 < record["diversity"] <= 1
    assert set(record["stage_wall_s"]) == {"collect", "export", "train", "eval"}
    rows = load_rows(out / "iter-1" / "data" / "train.jsonl")
    sources = {r["source"] for r in rows}
    assert sources <= EXPECTED_SOURCES[method] and sources & (EXPECTED_SOURCES[method] - {"policy"} or {"policy"})
    assert "expert" not in sources
    slips = [m for r in rows for m in r["messages"] if m["content"] == SLIP]
    assert slips and not any(m["train"] for m in slips)  # no-effect actions stay in context without loss
    if method == "rerest":
        assert record["cl_pairs"] > 0 and record["cl"] is not None
    else:
        assert record["cl"] is None and record["cs"] is None


def test_an_interrupted_loop_resumes_without_redoing_finished_stages(tmp_path, tiny_checkpoint, monkeypatch):
    config = smoke(tmp_path, "star", tiny_checkpoint, iterations=2, eval_bootstrap=True)
    calls = {"policy": 0, "finetune": 0, "evaluate": 0}
    real_finetune, real_evaluate = loop.finetune, loop.evaluate

    def counted_policy(checkpoint):
        calls["policy"] += 1
        return SlipPolicy()

    def counted_finetune(*args, **kwargs):
        calls["finetune"] += 1
        return real_finetune(*args, **kwargs)

    def interrupted_evaluate(*args, **kwargs):
        calls["evaluate"] += 1
        if calls["evaluate"] == 2:  # iteration 1's evaluation: collection, export and training are done
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "finetune", counted_finetune)
    monkeypatch.setattr(loop, "evaluate", interrupted_evaluate)
    with pytest.raises(KeyboardInterrupt):
        selftrain(config, llm_factory=counted_policy)
    stages = json.loads((tmp_path / "star" / "iter-1" / "stages.json").read_text())
    assert set(stages) == {"collect", "export", "train"}
    model = tmp_path / "star" / "iter-1" / "model" / "model.safetensors"
    stamp = model.stat().st_mtime_ns
    assert calls == {"policy": 2, "finetune": 1, "evaluate": 2}

    with pytest.raises(RunError, match="--resume"):
        selftrain(config, llm_factory=counted_policy)
    with pytest.raises(RunError, match="config changed"):
        selftrain(config.model_copy(update={"samples": 3}), resume=True, llm_factory=counted_policy)
    records = selftrain(config, resume=True, llm_factory=counted_policy)
    # Resumed: iteration 0 and iteration 1's first stages are not redone; iteration 2 runs whole.
    assert [r["iteration"] for r in records] == [0, 1, 2]
    assert calls == {"policy": 2 + 1 + 2, "finetune": 2, "evaluate": 2 + 2}
    assert model.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "star" / "iter-1" / "stages.json").read_text())["collect"] == stages["collect"]
    assert len((tmp_path / "star" / "metrics.jsonl").read_text().splitlines()) == 3
    # init="base": iteration 2 trains the bootstrap on the rows of both iterations, each conversation once.
    first, second = (load_rows(tmp_path / "star" / f"iter-{k}" / "data" / "rows.jsonl") for k in (1, 2))
    train = load_rows(tmp_path / "star" / "iter-2" / "data" / "train.jsonl")
    assert train[: len(first)] == first  # every earlier row, verbatim
    conversations = [json.dumps(r["messages"]) for r in train]
    assert len(set(conversations)) == len(conversations)
    assert set(conversations) == {json.dumps(r["messages"]) for r in first + second}
    assert json.loads((tmp_path / "star" / "iter-2" / "model" / "finetune.json").read_text())["base"] == str(
        tiny_checkpoint)


def test_the_loop_evaluates_the_checkpoint_it_just_trained(tmp_path, tiny_checkpoint):
    """The real tiny model throughout: its own samples fail, the teacher corrects it (``step``), the
    bootstrap is fine-tuned on those rows, and the new weights, not the bootstrap's, are evaluated."""
    config = smoke(tmp_path, "step", tiny_checkpoint, samples=1, lr=1e-2, epochs=2)
    (record,) = selftrain(config)
    model = tmp_path / "step" / "iter-1" / "model"
    assert record["trained"] and record["rows"] > 0 and set(record["rows_by_source"]) == {"teacher"}
    assert record["policy"] == str(model) and record["policy_weights"] == weights_digest(model)
    assert weights_digest(model) != weights_digest(tiny_checkpoint)
    (evaluated,) = RunDir(model.parent / "eval").trajectories()
    assert evaluated.model == f"transformers:{model}"  # the name the backend gave itself when it loaded

    def greedy_play(checkpoint, name):
        run_config = loop._run_config(config, checkpoint, tmp_path / name, split=config.eval_split, tasks=1)
        run(run_config, llm=loop.transformers_llm(checkpoint))
        (traj,) = RunDir(tmp_path / name).trajectories()
        return traj

    def logprobs(traj):
        return [p for s in traj.steps for p in s.logprobs or []]

    # The evaluation recorded the trained weights' greedy play, to the logprob of each token: the
    # untrained tiny model may write the same text, but with other logprobs.
    trained, bootstrap = greedy_play(model, "trained"), greedy_play(tiny_checkpoint, "bootstrap")
    assert [m.content for m in evaluated.messages] == [m.content for m in trained.messages]
    assert logprobs(evaluated) and logprobs(evaluated) == pytest.approx(logprobs(trained), abs=1e-4)
    assert logprobs(bootstrap) != pytest.approx(logprobs(trained), abs=1e-4)


def test_expert_demonstrations_never_become_self_training_data(tmp_path, tiny_checkpoint):
    config = smoke(tmp_path, "star", tiny_checkpoint)
    folder = tmp_path / "star" / "iter-1"
    run(RunConfig(split="train", start=51, tasks=1, agent="expert", out=str(folder / "collect" / "sample-0")))
    trainer = SelfTrainer(config, llm_factory=policy)
    with pytest.raises(RunError, match="expert demonstrations"):
        trainer._export(1, [CollectRun("sample-0", "react", {}, True)], folder)


def test_cli_reports_bad_options_and_prints_the_table(tmp_path, tiny_checkpoint, monkeypatch):
    result = CliRunner().invoke(app, ["selftrain", "--method", "stra", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "Did you mean 'star'?" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["selftrain", "-o", "nonsense=1", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "nonsense" in result.output

    monkeypatch.setattr(loop, "selftrain", functools.partial(selftrain, llm_factory=policy))
    args = ["selftrain", "--method", "star", "--iterations", "1", "--train-tasks", "1", "--eval-tasks", "1",
            "--samples", "2", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "cli"), "-o", "train_start=51",
            "-o", "max_steps=9", "-o", "epochs=1", "-o", "batch_size=1", "-o", "eval_bootstrap=false"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "star" in result.output and "100.0%" in result.output  # pass@k of the slip policy


def test_the_admissible_option_reaches_every_collection_and_evaluation_run(tmp_path):
    from pathlib import Path

    config = smoke(tmp_path, "rerest", "ckpt", admissible="likelihood")
    runs = [loop._run_config(config, Path("ckpt"), tmp_path, split="unseen", tasks=1)]
    runs += [loop._run_config(config, Path("ckpt"), tmp_path, split="train", tasks=1, agent="reflexion",
                              options={"trials": 2})]
    assert [r.agent_options.get("admissible") for r in runs] == ["likelihood", "likelihood"]
    assert runs[1].agent_options["trials"] == 2
    plain = loop._run_config(smoke(tmp_path, "star", "ckpt"), Path("ckpt"), tmp_path, split="unseen", tasks=1)
    assert "admissible" not in plain.agent_options
