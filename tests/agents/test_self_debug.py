"""The self-debugging agent on the real code env (local sandbox) with the scripted backend."""

from __future__ import annotations

import asyncio
import json

import pytest

from mulligan.agents import AGENTS, agent_needs_llm, make_agent
from mulligan.agents.self_debug import NO_CODE, SIMPLE_FEEDBACK, extract_code
from mulligan.envs import make_env
from mulligan.envs.code import builtin_suite
from mulligan.errors import ConfigError
from mulligan.llm.scripted import ScriptedLLM
from mulligan.records import Trajectory
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run

TASK = next(t.task_id for t in builtin_suite().tasks("train") if t.entry_point == "second_largest")
WRONG = "Here is my solution:\n```python\ndef second_largest(nums):\n    return sorted(nums)[-2]\n```"
ALSO_WRONG = "```python\ndef second_largest(nums):\n    return max(nums)\n```"
RIGHT = "```python\ndef second_largest(nums):\n    d = sorted(set(nums))\n    return d[-2] if d[1:] else None\n```"


def episode(replies: list[str], **options) -> Trajectory:
    agent = make_agent("self-debug", ScriptedLLM(replies), **options)
    env = make_env("mulligan/Code-v0", sandbox="local")
    try:
        return asyncio.run(agent.run_episode(env, TASK, key=TASK))
    finally:
        env.close()


def shape(traj: Trajectory) -> list[tuple]:
    return [(m.role, m.kind, m.train) for m in traj.messages[2:]]


def test_registered_and_needs_a_model():
    assert "self-debug" in AGENTS and agent_needs_llm("self-debug")


def test_a_pass_after_a_failed_test_is_a_recovery_with_unit_feedback():
    traj = episode([WRONG, RIGHT])
    assert traj.success and traj.end_reason == "won" and traj.recovered is True
    assert [s.info["tool"] for s in traj.steps] == ["test", "test", "submit"]
    assert [s.info.get("passed") for s in traj.steps[:2]] == [1, 2] and traj.steps[-1].info["recovered"] is True
    assert shape(traj) == [("assistant", "action", False), ("user", "feedback", None), ("assistant", "revision", True)]
    feedback = traj.messages[3].content
    assert "fails 1 of 2 tests" in feedback and "second_largest([7]) == None" in feedback and "IndexError" in feedback
    assert traj.steps[0].action.startswith('test({"code": ') and traj.steps[0].raw == WRONG
    assert traj.reward == 1.0


def test_simple_feedback_says_only_that_the_code_is_wrong():
    traj = episode([WRONG, RIGHT], feedback="simple")
    assert traj.success and traj.recovered and traj.messages[3].content == SIMPLE_FEEDBACK


def test_explanation_feedback_asks_for_a_line_by_line_explanation_first():
    traj = episode([WRONG, "Line 2 takes [-2] of a one-element list.", RIGHT], feedback="explanation")
    assert traj.success and traj.recovered
    assert shape(traj) == [
        ("assistant", "action", False), ("user", "feedback", None), ("assistant", "reflection", True),
        ("user", "feedback", None), ("assistant", "revision", True),
    ]
    assert "IndexError" in traj.messages[3].content and "line by line" in traj.messages[3].content


def test_a_first_time_pass_is_no_recovery():
    traj = episode([RIGHT])
    assert traj.success and traj.recovered is False and shape(traj) == [("assistant", "action", True)]
    assert [s.info["tool"] for s in traj.steps] == ["test", "submit"]


def test_the_last_program_is_submitted_when_the_budget_runs_out():
    traj = episode([WRONG, ALSO_WRONG, RIGHT], max_revisions=1)
    assert not traj.success and traj.end_reason == "terminated" and traj.recovered is False
    assert [s.info["tool"] for s in traj.steps] == ["test", "test", "submit"]
    assert json.loads(traj.steps[-1].action[len("submit("):-1])["code"] == extract_code(ALSO_WRONG)
    assert [m.train for m in traj.messages if m.role == "assistant"] == [False, False]


def test_replies_without_code_are_format_errors():
    traj = episode(["I think I should sort.", RIGHT])
    assert traj.success and traj.steps[0].valid is False and traj.steps[0].observation == NO_CODE
    assert traj.recovered is False
    traj = episode(["no", "still no", "nope"])
    assert traj.end_reason == "format errors" and not traj.success


def test_an_exhausted_script_ends_the_episode():
    traj = episode([WRONG])
    assert traj.end_reason == "script exhausted" and not traj.success and len(traj.steps) == 1


@pytest.mark.parametrize(
    "reply, code",
    [
        ("```python\nx = 1\n```\nand\n```python\ndef f():\n    pass\n```", "def f():\n    pass\n"),
        ("def f():\n    return 1", "def f():\n    return 1\n"),
        ("```\ndef g(): pass\n```", "def g(): pass\n"),
        ("Just words.", None),
        ("```text\nnot code\n```", None),
    ],
)
def test_extract_code(reply, code):
    assert extract_code(reply) == code


def test_other_envs_are_refused():
    agent = make_agent("self-debug", ScriptedLLM([RIGHT]))
    env = make_env("mulligan/Household-v0")
    with pytest.raises(ConfigError, match="code environments"):
        asyncio.run(agent.run_episode(env, "train-0", key="k"))


def test_recoveries_survive_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("MULLIGAN_SANDBOX", "local")
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([WRONG, RIGHT]))
    out = tmp_path / "run"
    config = RunConfig(env="mulligan/Code-v0", suite="builtin", split="train", tasks=1, start=int(TASK.split("-")[1]),
                       agent="self-debug", model=f"scripted:{script}", out=str(out))
    result = run(config)
    assert result.summary["success_rate"] == 1.0
    (traj,) = RunDir(out).trajectories()
    assert traj.recovered is True and traj.model_dump()["recovered"] is True


def test_step_exports_a_self_debug_recovery_from_a_recorded_run(tmp_path):
    from mulligan.records import append_jsonl
    from mulligan.training.export import export
    from mulligan.training.rowfile import load_rows

    unit = episode([WRONG, RIGHT])
    explained = episode([WRONG, "Line 2 takes [-2] of a one-element list.", RIGHT], feedback="explanation")
    first_pass, gave_up = episode([RIGHT]), episode([WRONG, ALSO_WRONG, RIGHT], max_revisions=1)
    recorded = tmp_path / "trajectories.jsonl"
    append_jsonl(recorded, [unit, explained, first_pass, gave_up])
    stats = export([recorded], "step", tmp_path / "data")
    rows = {r["traj_id"]: r for r in load_rows(tmp_path / "data" / "step.jsonl")}
    assert set(rows) == {unit.id, explained.id} and stats.total.rows == 2
    assert all(r["source"] == "policy" and r["corrections"] == 1 for r in rows.values())
    # The failed program stays in context without loss; the explanation and the fix carry it.
    assert [(m["role"], m["train"]) for m in rows[unit.id]["messages"][2:]] == [
        ("assistant", False), ("user", False), ("assistant", True)]
    assert [m["train"] for m in rows[explained.id]["messages"][2:]] == [False, False, True, False, True]
    assert rows[unit.id]["messages"][-1]["content"] == RIGHT
    only = load_rows(export([recorded], "step", tmp_path / "only", corrections_only=True).path)
    assert [[m["content"] for m in r["messages"] if m["train"]] for r in only] == [[RIGHT], [RIGHT]]
