"""Runs that survive their users and their providers: locks, resume keys, provider errors healed on
resume, secrets kept off disk, Ctrl-C, seeds. Real household envs, real processes, and a real local
fault-injecting OpenAI-compatible server (``tests/fault_server.py``) standing in for a paid API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fault_server import FaultServer

from mulligan.errors import ConfigError, RunError
from mulligan.records import read_jsonl
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run

HOUSEHOLD = "mulligan/Household-v0"
LOOK = "Thought: I look around.\nAction: look"
CLI = [sys.executable, "-m", "mulligan.cli"]


@pytest.fixture
def server():
    with FaultServer(reply=LOOK) as s:
        yield s


def react_config(server, out, tasks=3, **options):
    model = server.spec(retry_base_delay=0.01, **options)
    return RunConfig(env=HOUSEHOLD, split="seen", tasks=tasks, agent="react", model=model, max_steps=3,
                     concurrency=4, out=str(out), agent_options={"use_tools": False})


def cli(*args, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, **kwargs)


# -- one writer per run directory --------------------------------------------------------------


def test_a_second_writer_is_refused_while_another_process_holds_the_run(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom mulligan.runner.rundir import RunDir\n"
         f"with RunDir({str(out)!r}).locked():\n    print('locked', flush=True)\n    time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = cli("run", HOUSEHOLD, "--agent", "expert", "--tasks", "2", "--out", str(out))
        assert second.returncode == 2
        assert f"being written by another run (pid {holder.pid})" in second.stdout
        assert "Traceback" not in second.stdout + second.stderr
        assert not (out / "trajectories.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run(RunConfig(env=HOUSEHOLD, tasks=2, agent="expert", out=str(out))).summary["episodes"] == 2


def test_the_lock_is_held_for_the_whole_run_in_process_too(tmp_path):
    with RunDir(tmp_path / "run").locked():
        with pytest.raises(RunError, match="being written by another run"):
            run(RunConfig(env=HOUSEHOLD, tasks=1, agent="expert", out=str(tmp_path / "run")))


# -- resume keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, key",
    [
        ({"memory_options": {"k": 1}}, "memory_options"),
        ({"task_seed": 4}, "task_seed"),
        ({"suite": "household", "split": "train"}, "split"),
        ({"agent_options": {"noise": 0.5}}, "agent_options"),
        ({"env_options": {"shuffle_receptacles": True}}, "env_options"),
    ],
)
def test_every_option_that_changes_the_run_is_a_resume_key(tmp_path, change, key):
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=2, agent="expert", out=str(tmp_path / "run"),
                       memory=str(tmp_path / "mem"), memory_options={"dense": False})
    run(config)
    changed = config.model_copy(update={**change, "memory_options": {**config.memory_options,
                                                                      **change.get("memory_options", {})}})
    with pytest.raises(RunError, match=f"config changed .*{key}"):
        run(changed, resume=True)


def test_naming_the_default_suite_still_resumes(tmp_path):
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=2, agent="expert", out=str(tmp_path / "run"))
    run(config)
    assert run(config.model_copy(update={"suite": "household"}), resume=True).new_trajectories == 0


def test_a_run_saved_before_env_options_existed_still_resumes(tmp_path):
    config = RunConfig(env=HOUSEHOLD, split="seen", tasks=2, agent="expert", out=str(tmp_path / "run"))
    run(config)
    rundir = RunDir(config.out)
    saved = rundir.load_config()
    del saved["env_options"]
    rundir.write_config(saved)
    assert run(config, resume=True).new_trajectories == 0


def test_resume_without_out_is_an_error():
    result = cli("run", HOUSEHOLD, "--agent", "expert", "--resume")
    assert result.returncode == 2 and result.stdout.strip() == "error: --resume needs --out: the run directory to finish"


# -- provider errors heal on resume ------------------------------------------------------------


def test_resume_runs_provider_error_episodes_again(server, tmp_path):
    out = tmp_path / "run"
    server.fault, server.every = 500, 1
    first = run(react_config(server, out, max_retries=0))
    assert first.summary["end_reasons"] == {"provider error": 3}
    server.every = 0  # the outage is over
    healed = run(react_config(server, out, max_retries=0), resume=True)
    assert healed.retried == 3 and healed.summary["retried_provider_errors"] == 3
    assert healed.summary["end_reasons"] == {"step limit": 3} and healed.summary["episodes"] == 3
    assert len(read_jsonl(out / "trajectories.jsonl")) == 3
    assert [t["end_reason"] for t in read_jsonl(out / "retried.jsonl")] == ["provider error"] * 3
    again = run(react_config(server, out, max_retries=0), resume=True)
    assert again.retried == 0 and again.new_trajectories == 0


def test_no_retry_errors_keeps_them(server, tmp_path):
    out = tmp_path / "run"
    server.fault, server.every = 500, 1
    run(react_config(server, out, max_retries=0))
    server.every = 0
    kept = run(react_config(server, out, max_retries=0), resume=True, retry_errors=False)
    assert kept.retried == 0 and kept.new_trajectories == 0
    assert kept.summary["end_reasons"] == {"provider error": 3} and not (out / "retried.jsonl").exists()


def test_one_empty_reply_in_twenty_kills_no_episode(server, tmp_path):
    server.fault, server.every = "empty_choices", 20
    result = run(react_config(server, tmp_path / "run", tasks=20))
    assert server.faults_sent >= 2
    assert result.summary["end_reasons"] == {"step limit": 20}


def test_invalid_tool_call_json_is_a_format_error_never_trained(server, tmp_path):
    server.fault, server.every = "bad_tool_args", 1
    config = react_config(server, tmp_path / "run", tasks=1).model_copy(update={"agent_options": {}})
    result = run(config)
    assert result.summary["end_reasons"] == {"format errors": 1}
    (traj,) = RunDir(tmp_path / "run").trajectories()
    assert all(step.action is None and not step.valid for step in traj.steps)
    replies = [m for m in traj.messages if m.role == "assistant"]
    assert replies and all(m.train is False and m.tool_calls for m in replies)
    answers = [m for m in traj.messages if m.role == "tool"]
    assert [a.tool_call_id for a in answers] == [m.tool_calls[0].id for m in replies]
    assert "not a JSON object" in answers[0].content
    second = server.bodies[1]["messages"]
    assert second[-1]["role"] == "tool" and "not a JSON object" in second[-1]["content"]


def test_secrets_in_the_model_spec_never_reach_the_disk(server, tmp_path):
    out = tmp_path / "run"
    server.script = ["auth"]
    config = react_config(server, out, tasks=2, api_key="sk-live-secret-42", max_retries=0)
    run(config)
    assert server.headers["authorization"] == "Bearer sk-live-secret-42"
    written = {p.name: p.read_text() for p in out.iterdir() if p.is_file()}
    assert {"config.yaml", "summary.json", "trajectories.jsonl"} <= set(written)
    assert not [name for name, text in written.items() if "sk-live-secret-42" in text]
    assert "api_key=***" in written["config.yaml"] and "Incorrect API key" in written["trajectories.jsonl"]
    assert run(config, resume=True, retry_errors=False).new_trajectories == 0  # the masked spec still resumes


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_ends_cleanly_and_the_run_resumes(server, tmp_path):
    out = tmp_path / "run"
    server.delay_s = 0.05
    config = react_config(server, out, tasks=40)
    proc = subprocess.Popen(
        [*CLI, "run", HOUSEHOLD, "--split", "seen", "--tasks", "40", "--model", config.model, "--max-steps", "3",
         "--concurrency", "4", "-o", "use_tools=false", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A terminal's foreground process gets Ctrl-C; one started from a background job inherits
        # SIGINT ignored, so restore it as a shell would for a foreground command.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    path = out / "trajectories.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (path.exists() and path.read_bytes().count(b"\n")):
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("interrupted:")]
    saved = len(read_jsonl(path))
    assert f"{saved} finished task(s) saved" in line and "--resume" in line and 0 < saved < 40
    result = run(config, resume=True)
    keys = [t["key"] for t in read_jsonl(path)]
    assert len(keys) == 40 and len(set(keys)) == 40 and result.new_trajectories == 40 - saved


# -- seeds -------------------------------------------------------------------------------------


def test_seed_draws_the_tasks_and_a_run_records_them(tmp_path):
    from mulligan.envs import get_suite
    from mulligan.runner.runner import choose_tasks

    suite = get_suite(HOUSEHOLD, None)
    ordered = choose_tasks(suite, RunConfig(split="unseen", tasks=5))
    assert ordered == [f"unseen-{i}" for i in range(5)]
    one, again, other = (choose_tasks(suite, RunConfig(split="unseen", tasks=5, task_seed=s)) for s in (1, 1, 2))
    assert one == again and one != other and one != ordered and len(set(one)) == 5
    assert choose_tasks(suite, RunConfig(split="unseen", tasks=3, start=2, task_seed=1)) == one[2:5]
    code = get_suite("mulligan/Code-v0", "builtin")
    drawn = choose_tasks(code, RunConfig(env="mulligan/Code-v0", suite="builtin", split="test", tasks=None,
                                         task_seed=7))
    assert sorted(drawn) == sorted(code.task_ids("test")) and drawn != code.task_ids("test")
    with pytest.raises(ConfigError, match="has 20 tasks"):
        choose_tasks(code, RunConfig(env="mulligan/Code-v0", split="test", tasks=21, task_seed=7))
    result = cli("run", HOUSEHOLD, "--agent", "expert", "--tasks", "3", "--seed", "5", "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stdout + result.stderr
    keys = sorted(t["key"] for t in read_jsonl(tmp_path / "r" / "trajectories.jsonl"))
    assert keys == sorted(choose_tasks(suite, RunConfig(split="unseen", tasks=3, task_seed=5)))


def test_tasks_default_to_all_of_a_finite_split_and_fifty_of_an_unlimited_one():
    from mulligan.runner.runner import default_task_count

    assert default_task_count("mulligan/Code-v0", "builtin", "test") is None
    assert default_task_count(HOUSEHOLD, None, "unseen") == 50


def test_the_run_seed_reaches_the_model_where_the_backend_takes_one():
    from mulligan.llm.spec import takes_option

    assert takes_option("transformers:/some/checkpoint", "seed")
    assert takes_option("default", "seed")
    assert not takes_option("transformers:/some/checkpoint?seed=3", "seed")
    assert not takes_option("litellm:openai/x", "seed")


def test_config_yaml_that_is_not_text_gets_one_line(tmp_path):
    out = tmp_path / "run"
    run(RunConfig(env=HOUSEHOLD, tasks=1, agent="expert", out=str(out)))
    (out / "config.yaml").write_bytes(os.urandom(64) + b"\xff\xfe")
    result = cli("show", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.startswith(f"error: {out / 'config.yaml'}: not text")
    (out / "config.yaml").write_text("env: [unclosed\nsplit: x\n")
    result = cli("show", str(out))
    assert result.returncode == 2 and f"{out / 'config.yaml'}:" in result.stdout and "not valid YAML" in result.stdout
    (out / "config.yaml").write_text(json.dumps(["a", "list"]))
    assert "not a run config" in cli("show", str(out)).stdout


def test_error_messages_keep_their_brackets(tmp_path):
    result = cli("run", HOUSEHOLD, "--agent", "react", "-o", "admissible=mulligan[train]", "--tasks", "1",
                 "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "'mulligan[train]'" in result.stdout
