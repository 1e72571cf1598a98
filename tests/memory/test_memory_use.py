"""Memory in use: `mulligan run --memory` fills `retrieved` and writes back; Reflexion's lessons persist; the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.errors import ConfigError
from mulligan.memory import MemoryStore
from mulligan.memory.render import EXAMPLES_HEADER, LESSONS_HEADER
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run

HOUSEHOLD = "mulligan/Household-v0"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A memory holding the expert's successes on 12 train tasks (written back by the runner)."""
    root = tmp_path_factory.mktemp("memory")
    out = root / "fill"
    run(RunConfig(env=HOUSEHOLD, split="train", tasks=12, agent="expert", out=str(out), memory=str(root / "mem")))
    return root / "mem"


def test_a_run_with_memory_records_what_each_episode_was_shown(filled, tmp_path):
    before = MemoryStore(filled, dense=False)
    assert len(before) >= 10 and before.stats()["uses"] > 0  # later fill episodes already used earlier ones
    out = tmp_path / "run"
    config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=4, agent="expert", out=str(out), memory=str(filled),
                       memory_options={"k": 2, "write": False})
    run(config)
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 4
    for t in trajs:
        assert [r.kind for r in t.retrieved] == ["experience", "experience"]
        assert all(before.get(r.id) is not None and r.score > 0 for r in t.retrieved)
        assert all(r.dense_rank or r.bm25_rank for r in t.retrieved)
        (memory,) = [m for m in t.messages if m.kind == "memory"]
        assert t.messages[1] is memory and memory.content.startswith(EXAMPLES_HEADER)
        for r in t.retrieved:
            assert before.get(r.id).instruction in memory.content
    assert MemoryStore(filled, dense=False).stats()["uses"] == before.stats()["uses"]  # write=False
    # Without --memory nothing is retrieved and the prompt is as before.
    plain = tmp_path / "plain"
    run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=1, agent="expert", out=str(plain)))
    (t,) = RunDir(plain).trajectories()
    assert t.retrieved == [] and not [m for m in t.messages if m.kind == "memory"]


def test_write_back_adds_wins_and_counts_uses(tmp_path):
    mem = tmp_path / "mem"
    run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=3, agent="expert", out=str(tmp_path / "a"), memory=str(mem),
                  memory_options={"dense": False}))
    store = MemoryStore(mem, dense=False)
    assert sum(e.count for e in store.experiences()) == 3
    trajs = RunDir(tmp_path / "a").trajectories()
    assert store.stats()["uses"] == sum(len(t.retrieved) for t in trajs) > 0
    assert {t.id for t in trajs} == {i for e in store.experiences() for i in e.traj_ids}


def test_reflexion_lessons_persist_into_the_next_run(tmp_path):
    script = tmp_path / "fail.json"
    script.write_text(json.dumps(["Action: go to drawer 1", "Action: open bed 1"]))
    mem = tmp_path / "mem"

    def reflexion(out, trials):
        config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=1, start=3, agent="reflexion",
                           model=f"scripted:{script}", out=str(tmp_path / out), memory=str(mem),
                           agent_options={"trials": trials}, memory_options={"dense": False})
        run(config)
        return sorted(RunDir(tmp_path / out).trajectories(), key=lambda t: t.trial)

    first = reflexion("first", 2)
    assert first[0].retrieved == []
    (lesson,) = MemoryStore(mem, dense=False).lessons(HOUSEHOLD, "unseen-3")
    assert lesson.text == first[1].reflections[0].text and lesson.traj_id == first[0].id
    (again,) = reflexion("second", 1)
    assert [(r.kind, r.id) for r in again.retrieved] == [("lesson", lesson.id)]
    (memory,) = [m for m in again.messages if m.kind == "memory"]
    assert memory.content.startswith(LESSONS_HEADER) and lesson.text in memory.content


def test_bad_memory_options_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown memory option 'topk'"):
        run(RunConfig(env=HOUSEHOLD, tasks=1, agent="expert", out=str(tmp_path / "r"), memory=str(tmp_path / "m"),
                      memory_options={"topk": 3}))


def test_cli_run_stats_search_export_import(filled, tmp_path):
    cli = CliRunner()
    out = tmp_path / "run"
    result = cli.invoke(app, ["run", HOUSEHOLD, "--split", "unseen", "--tasks", "2", "--agent", "expert",
                              "--out", str(out), "--memory", str(filled), "--memory-option", "write=false"])
    assert result.exit_code == 0, result.output
    assert all(len(t.retrieved) == 2 for t in RunDir(out).trajectories())

    result = cli.invoke(app, ["memory", "stats", str(filled)])
    assert result.exit_code == 0 and "experiences" in result.output
    n = len(MemoryStore(filled, dense=False))
    goal = MemoryStore(filled, dense=False).experiences()[0].instruction
    result = cli.invoke(app, ["memory", "search", str(filled), goal, "--k", "1", "--no-dense", "--steps"])
    assert result.exit_code == 0, result.output
    assert goal.split()[0] in result.output

    dump = tmp_path / "dump.jsonl"
    assert cli.invoke(app, ["memory", "export", str(filled), str(dump)]).exit_code == 0
    copy = tmp_path / "copy"
    result = cli.invoke(app, ["memory", "import", str(copy), str(dump), "--no-dense"])
    assert result.exit_code == 0 and f"added: {n}" in result.output
    result = cli.invoke(app, ["memory", "import", str(copy), str(dump), "--no-dense"])
    assert f"known: {n}" in result.output
    assert {e.id for e in MemoryStore(copy, dense=False).experiences()} == {
        e.id for e in MemoryStore(filled, dense=False).experiences()
    }
    result = cli.invoke(app, ["memory", "stats", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "holds no memory" in result.output
