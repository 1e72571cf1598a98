"""The Reflexion agent with the env-grounded reflector and scripted backends, alone and in the runner."""

from __future__ import annotations

import json

import pytest

from mulligan.errors import ConfigError
from mulligan.memory.reflections import MEMORY_HEADER
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run

FAIL = ["Action: go to drawer 1", "Action: open bed 1"]


def memory_of(traj):
    return [m for m in traj.messages if m.kind == "memory"]


def test_trials_chain_and_memory_keeps_the_last_three(run_household):
    trials = run_household("reflexion", "unseen-3", FAIL, trials=5)
    assert [t.trial for t in trials] == [0, 1, 2, 3, 4]
    assert [t.source for t in trials] == ["policy"] + ["reflexion-retry"] * 4
    assert [t.parent_id for t in trials] == [None] + [t.id for t in trials[:-1]]
    assert not any(t.success for t in trials)
    assert memory_of(trials[0]) == [] and trials[0].reflections == []
    for k, traj in enumerate(trials[1:], start=1):
        (memory,) = memory_of(traj)
        assert traj.messages[1] is memory and traj.messages[2].kind == "observation"
        lines = memory.content.splitlines()
        shown = list(range(max(0, k - 3), k))
        assert lines[0] == MEMORY_HEADER
        assert [line.split(":")[0] for line in lines[1:]] == [f"Trial {i}" for i in shown]
        assert all(line.split(": ", 1)[1].startswith("Reflection:") for line in lines[1:])
        assert "These actions did nothing: 'open bed 1'" in lines[-1]
        assert [r.traj_id for r in traj.reflections] == [trials[i].id for i in shown]
    lesson = trials[1].reflections[0]
    assert lesson.reflector == "env" and lesson.next_traj_id == trials[1].id


def test_stops_at_the_first_success(run_household, expert_replies):
    trials = run_household("reflexion", "unseen-3", expert_replies("unseen-3"), trials=4)
    assert len(trials) == 1 and trials[0].success and trials[0].source == "policy"


def test_a_retry_that_uses_its_memory_succeeds_and_ends_the_task(run_household, expert_replies, memory_aware_llm):
    llm = memory_aware_llm(FAIL, expert_replies("unseen-3"))
    trials = run_household("reflexion", "unseen-3", llm=llm, trials=5)
    assert [t.success for t in trials] == [False, True]
    retry = trials[1]
    assert retry.source == "reflexion-retry" and retry.parent_id == trials[0].id
    assert retry.reflections[0].return_before == 0.0 and retry.reflections[0].return_after == 1.0


def test_unknown_options_are_named(run_household):
    with pytest.raises(ConfigError, match="Did you mean 'trials'"):
        run_household("reflexion", "unseen-3", FAIL, trial=3)


def test_the_runner_keeps_every_trial_under_the_task_key(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(FAIL))
    out = tmp_path / "run"
    run(RunConfig(split="seen", tasks=2, agent="reflexion", model=f"scripted:{script}",
                  agent_options={"trials": 2}, out=str(out)))
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 4
    for key in {t.key for t in trajs}:
        assert sorted(t.trial for t in trajs if t.key == key) == [0, 1]
