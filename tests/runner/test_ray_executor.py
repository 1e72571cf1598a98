"""Runs on a real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``).

The head holds no CPUs, so every worker runs on one of the worker nodes, each a raylet of its own.
"""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")  # an extra of mulligan[dev]: CI always has it

from mulligan.records import repair_jsonl  # noqa: E402
from mulligan.runner.ray_executor import start_local_cluster  # noqa: E402
from mulligan.runner.rundir import RunDir  # noqa: E402
from mulligan.runner.runner import RunConfig, run  # noqa: E402

pytestmark = pytest.mark.ray

HOUSEHOLD = "mulligan/Household-v0"


@pytest.fixture(scope="module")
def cluster():
    c = start_local_cluster(2)
    yield c
    ray.shutdown()
    c.shutdown()


def _steps(trajs):
    return {t.key: [(s.action, s.observation, s.valid) for s in t.steps] for t in trajs}


def test_expert_run_on_two_nodes_writes_exactly_n(cluster, tmp_path):
    out = tmp_path / "run"
    result = run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=12, agent="expert", concurrency=4, out=str(out),
                           ray=cluster.address))
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 12 and len({t.key for t in trajs}) == 12
    assert result.summary["episodes"] == 12 and result.summary["success_rate"] == 1.0
    assert all(not t.retries for t in trajs)


def test_ray_run_equals_in_process_run(cluster, tmp_path, expert_replies):
    """The scripted backend is built in each worker; every step matches the in-process run."""
    from mulligan.envs import get_suite

    tasks = get_suite(HOUSEHOLD).task_ids("seen", 6)
    # One script for all episodes: the first task's solution, then looks (a real mix of wins and failures).
    script = tmp_path / "script.json"
    script.write_text(json.dumps(expert_replies(tasks[0]) + ["Thought: look\nAction: look"] * 4))
    common = dict(env=HOUSEHOLD, split="seen", tasks=6, agent="react", model=f"scripted:{script}", concurrency=6)
    run(RunConfig(**common, out=str(tmp_path / "local")))
    run(RunConfig(**common, out=str(tmp_path / "ray"), ray=cluster.address))
    here, there = RunDir(tmp_path / "local").trajectories(), RunDir(tmp_path / "ray").trajectories()
    assert len(there) == 6
    assert _steps(here) == _steps(there)
    assert {t.key for t in there if t.success} == {t.key for t in here if t.success} and any(t.success for t in there)


def test_resume_on_ray_finishes_a_torn_run(cluster, tmp_path):
    out = tmp_path / "run"
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=8, agent="expert", concurrency=4, out=str(out),
                       ray=cluster.address)
    run(config.model_copy(update={"ray": None}))
    lines = (out / "trajectories.jsonl").read_bytes().splitlines(keepends=True)
    kept = [json.loads(line)["id"] for line in lines[:3]]
    (out / "trajectories.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][:40])  # a writer killed mid-line
    run(config, resume=True)
    assert repair_jsonl(out / "trajectories.jsonl") == 0
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 8 and len({t.key for t in trajs}) == 8
    assert [t.id for t in trajs[:3]] == kept


def test_worker_node_killed_mid_run_loses_nothing(cluster, tmp_path):
    """A third node joins; after the first episode comes back it is removed with its worker's episodes."""
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Thought: look around\nAction: look"] * 30))
    out = tmp_path / "run"
    killed = []

    def on_episode(traj, done, total, successes):
        if not killed:
            killed.append(done)
            cluster.remove_node(doomed)

    # One episode in flight per worker, each about 0.6 s (30 replies 20 ms apart): when the first
    # comes back, every worker is inside one.
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=24, agent="react", concurrency=3, out=str(out),
                       model=f"scripted:{script}?latency_s=0.02", ray=cluster.address)
    result = run(config, on_episode=on_episode)
    trajs = RunDir(out).trajectories()
    assert killed and len(trajs) == 24 and len({t.key for t in trajs}) == 24
    assert all(t.error is None and t.end_reason == "script exhausted" and len(t.steps) == 30 for t in trajs)
    retried = [t for t in trajs if t.retries]
    assert retried and all("worker died" in t.retries[0] for t in retried)
    assert result.summary["episodes"] == 24


@pytest.mark.slow
def test_engine_killed_mid_run_reruns_its_episodes(cluster, tmp_path, default_policy_path):
    """Two transformers engines as actors; one is killed after the first episode; none is lost."""
    import asyncio
    import functools

    from mulligan.llm import make_llm
    from mulligan.runner.ray_executor import RayEngines, RayOptions
    from mulligan.runner.runner import run_suite

    engines = RayEngines(functools.partial(make_llm, f"transformers:{default_policy_path}"),
                         RayOptions(engines=2, engine_cpus=0), cluster.address)
    out = tmp_path / "run"
    killed = []

    def on_episode(traj, done, total, successes):
        if not killed:
            killed.append(done)
            ray.kill(engines.pool.members[0].actor, no_restart=True)

    config = RunConfig(env=HOUSEHOLD, split="unseen", tasks=8, agent="react", model=str(default_policy_path),
                       concurrency=8, max_steps=6, out=str(out), ray=cluster.address)
    try:
        asyncio.run(run_suite(config, llm=engines, on_episode=on_episode))
    finally:
        engines.close()
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 8 and len({t.key for t in trajs}) == 8
    assert all(t.error is None and t.steps for t in trajs)
    retried = [t for t in trajs if t.retries]
    assert retried and all("engine died" in r for t in retried for r in t.retries)


def test_cli_run_with_ray_options(cluster, tmp_path):
    from typer.testing import CliRunner

    from mulligan.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", HOUSEHOLD, "--agent", "expert", "--tasks", "4", "--split", "seen",
                                      "--out", str(out), "--ray", cluster.address, "--ray-option", "workers=2"])
    assert result.exit_code == 0, result.output
    assert len(RunDir(out).trajectories()) == 4
    bad = CliRunner().invoke(app, ["run", HOUSEHOLD, "--agent", "expert", "--tasks", "1", "--out", str(tmp_path / "b"),
                                   "--ray", cluster.address, "--ray-option", "wrokers=2"])
    assert bad.exit_code == 2 and "wrokers" in bad.output


@pytest.mark.slow
def test_selftrain_evaluation_on_ray(cluster, tmp_path, default_policy_path):
    """selftrain's evaluation with --ray: the checkpoint runs in an engine actor, episodes in workers."""
    from mulligan.training.methods import SelfTrainConfig
    from mulligan.training.selftrain import evaluate

    config = SelfTrainConfig(eval_tasks=4, max_steps=5, concurrency=4, ray=cluster.address,
                             ray_options={"engines": 1, "engine_cpus": 0})
    result = evaluate(config, default_policy_path, tmp_path / "eval")
    trajs = RunDir(tmp_path / "eval").trajectories()
    assert result["tasks"] == 4 and len(trajs) == 4
    assert all(t.error is None and t.steps and t.model.startswith("transformers:") for t in trajs)
