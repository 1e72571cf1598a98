"""The runner on the real household env: expert and scripted agents, errors, resume, kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mulligan.errors import RunError
from mulligan.records import read_jsonl
from mulligan.runner.runner import RunConfig, _run_one, run
from mulligan.agents import make_agent
from mulligan.runner.rundir import RunDir

HOUSEHOLD = "mulligan/Household-v0"


def test_expert_run_writes_run_dir(tmp_path):
    out = tmp_path / "run"
    result = run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=20, agent="expert", concurrency=4, out=str(out)))
    s = result.summary
    assert s["episodes"] == 20 and s["success_rate"] == 1.0
    for key in ("episodes", "success_rate", "avg_steps", "invalid_action_rate", "tokens", "wall_s"):
        assert key in json.loads((out / "summary.json").read_text())
    trajs = RunDir(out).trajectories()
    assert len({t.key for t in trajs}) == 20
    t = trajs[0]
    assert t.source == "expert" and t.success and t.end_reason == "won"
    assert t.messages[0].role == "system" and t.messages[1].role == "user"
    assert [m.role for m in t.messages[2:4]] == ["assistant", "user"]
    assert len(t.steps) == sum(1 for m in t.messages if m.role == "assistant")


def test_scripted_agent_records_format_errors_and_exhaustion(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Thought: look first\nAction: look", "I am not sure.\nMaybe.\nHmm.", "Action: inventory"]))
    out = tmp_path / "run"
    result = run(
        RunConfig(env=HOUSEHOLD, split="seen", tasks=3, agent="react", model=f"scripted:{script}", out=str(out))
    )
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 3
    for t in trajs:
        assert t.end_reason == "script exhausted" and not t.success
        assert [s.valid for s in t.steps][1] is False
        assert t.steps[0].action == "look" and t.steps[2].action == "inventory"
        bad = [m for m in t.messages if m.role == "assistant" and m.train is False]
        assert len(bad) == 1
    assert result.summary["invalid_action_rate"] > 0


def test_consecutive_format_errors_end_the_episode(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["", "no\naction\nhere", "   "] * 3))
    out = tmp_path / "run"
    run(RunConfig(env=HOUSEHOLD, split="seen", tasks=1, agent="react", model=f"scripted:{script}", out=str(out)))
    (t,) = RunDir(out).trajectories()
    assert t.end_reason == "format errors" and len(t.steps) == 3


def test_dead_provider_is_recorded_not_fatal(tmp_path):
    out = tmp_path / "run"
    model = "litellm:openai/x?api_base=http://127.0.0.1:9/v1&api_key=x&max_retries=0&timeout=2"
    result = run(RunConfig(env=HOUSEHOLD, split="seen", tasks=2, agent="react", model=model, out=str(out)))
    trajs = RunDir(out).trajectories()
    assert len(trajs) == 2 and result.summary["episodes"] == 2
    assert all(t.end_reason == "provider error" and t.error for t in trajs)


def test_bad_task_becomes_a_failed_trajectory():
    import asyncio

    agent = make_agent("expert")
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=1, agent="expert")
    (t,) = asyncio.run(_run_one(agent, config, "no-such-split-7", seed=0))
    assert t.end_reason == "error" and t.error and not t.success


def test_existing_run_needs_resume_and_same_config(tmp_path):
    out = tmp_path / "run"
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=3, agent="expert", out=str(out))
    run(config)
    with pytest.raises(RunError, match="--resume"):
        run(config)
    with pytest.raises(RunError, match="config changed"):
        run(config.model_copy(update={"split": "unseen"}), resume=True)
    assert run(config, resume=True).new_trajectories == 0


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "run"
    n = 3000
    cmd = [sys.executable, "-m", "mulligan.cli", "run", HOUSEHOLD, "--split", "train", "--tasks", str(n),
           "--agent", "expert", "--concurrency", "4", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = out / "trajectories.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= 50:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; raise n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = path.read_bytes().count(b"\n")
    assert 0 < before < n
    with open(path, "ab") as f:  # a writer killed mid-line leaves a torn record
        f.write(b'{"format": "mulligan-1", "id": "traj-torn", "key": "tr')
    assert not path.read_bytes().endswith(b"\n")
    result = run(RunConfig(env=HOUSEHOLD, split="train", tasks=n, agent="expert", concurrency=4, out=str(out)),
                 resume=True)
    keys = [r["key"] for r in read_jsonl(path)]
    assert len(keys) == n and len(set(keys)) == n
    assert result.summary["episodes"] == n and result.new_trajectories == n - before
    assert b"traj-torn" not in path.read_bytes()


def test_native_tool_calls_drive_the_env(tmp_path):
    """A backend with tool calls gets the env's tools and its calls become env actions.

    The upstream is a local fake OpenAI-compatible server standing in for a paid API.
    """
    from llm_test_helpers import FakeUpstream

    upstream = FakeUpstream()
    upstream.tool_calls = [
        {"id": "call_1", "type": "function", "function": {"name": "act", "arguments": '{"command": "look"}'}}
    ]
    try:
        model = f"litellm:openai/fake?api_base={upstream.api_base}&api_key=x&max_retries=0"
        run(RunConfig(env=HOUSEHOLD, split="seen", tasks=1, max_steps=3, model=model, out=str(tmp_path / "run")))
    finally:
        upstream.stop()
    (t,) = RunDir(tmp_path / "run").trajectories()
    assert [s.action for s in t.steps] == ["look"] * 3 and t.end_reason == "step limit"
    assert [m.role for m in t.messages[2:4]] == ["assistant", "tool"]
    assert t.messages[3].tool_call_id == "call_1" and t.messages[2].tool_calls[0].name == "act"
    assert [tool["function"]["name"] for tool in upstream.bodies[0]["tools"]] == ["act"]
