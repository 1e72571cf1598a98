"""The default policy's recipe, built from scratch at a reduced size, and the shipped policy's checks."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run
from mulligan.training.default_policy import (
    POLICY_ENV_VAR,
    SHIPPED_DIR,
    PolicyError,
    Recipe,
    build_default_policy,
    ensure_default_policy,
    verify_policy,
)
from mulligan.training.policy_build import build_policy, load_conversations

# Every stage of the real recipe, at a size that builds in about a minute on two cores.
REDUCED = Recipe(
    demos=40, lesson_demos=8, memory_demos=8, memory_fill=20, vocab_size=600, hidden_size=32, num_layers=1,
    num_heads=2, epochs=1, dagger_rounds=1, dagger_tasks=6, dagger_lesson_tasks=4, dagger_memory_tasks=3,
    max_new_tokens=48, concurrency=8,
)


@pytest.fixture(scope="module")
def reduced_policy(tmp_path_factory):
    """The reduced recipe built from scratch (demonstrations, SFT, one DAgger round)."""
    return build_default_policy(tmp_path_factory.mktemp("policy") / "default", REDUCED, progress=False)


@pytest.mark.slow
def test_reduced_recipe_builds_a_policy_that_loads_and_acts(reduced_policy, tmp_path, monkeypatch):
    meta = verify_policy(reduced_policy)
    assert meta["digest"] == REDUCED.digest() and meta["recipe"] == REDUCED.model_dump()
    assert meta["demonstrations"] > 40 and meta["dagger_round_1"] > 0 and meta["parameters"] > 0
    assert (reduced_policy / "model.safetensors").is_file() and not (reduced_policy.parent / "default.building").exists()
    monkeypatch.setenv(POLICY_ENV_VAR, str(reduced_policy))
    assert ensure_default_policy() == reduced_policy
    run(RunConfig(split="unseen", tasks=2, max_steps=3, concurrency=2, out=str(tmp_path / "run")))
    trajs = RunDir(tmp_path / "run").trajectories()
    assert len(trajs) == 2 and all(t.end_reason != "error" and t.steps for t in trajs)


@pytest.mark.slow
def test_build_resumes_at_the_first_unfinished_stage(reduced_policy, tmp_path):
    """A build directory a killed build left behind is reused stage by stage, never redone."""
    work = tmp_path / "work"
    small = REDUCED.model_copy(update={"dagger_rounds": 0, "lesson_demos": 0, "memory_demos": 0})
    first, _ = build_policy(work, small, progress=False)
    data, weights = work / "data-0.jsonl", first / "model.safetensors"
    stamps = (data.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    again, counts = build_policy(work, small, progress=False)
    assert again == first and (data.stat().st_mtime_ns, weights.stat().st_mtime_ns) == stamps
    assert counts["demonstrations"] == len(load_conversations(data))
    # Demonstrations keep the train flags of the noisy expert's slips and renumber objects.
    convs = load_conversations(data)
    assert any(m.train is False for c in convs for m in c if m.role == "assistant")


def test_shipped_policy_matches_its_checksums():
    meta = verify_policy(SHIPPED_DIR)
    assert meta["parameters"] > 0 and "model.safetensors" in meta["checksums"]
    assert Recipe(**meta["recipe"]).digest() == meta["digest"]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_damaged_weights_get_one_line_naming_the_rebuild(tmp_path, monkeypatch, damage):
    copy = tmp_path / "policy"
    shutil.copytree(SHIPPED_DIR, copy)
    weights = copy / "model.safetensors"
    if damage == "corrupt":
        raw = bytearray(weights.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        weights.write_bytes(bytes(raw))
    else:
        weights.unlink()
    with pytest.raises(PolicyError, match="mulligan bootstrap --rebuild"):
        verify_policy(copy)
    monkeypatch.setenv(POLICY_ENV_VAR, str(copy))
    result = CliRunner().invoke(app, ["run", "--tasks", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message and "model.safetensors" in message and "mulligan bootstrap --rebuild" in message


def test_bootstrap_checks_the_shipped_policy():
    result = CliRunner().invoke(app, ["bootstrap"])
    assert result.exit_code == 0, result.output
    meta = json.loads((SHIPPED_DIR / "meta.json").read_text())
    assert meta["digest"] in result.output and "checksums match" in result.output
