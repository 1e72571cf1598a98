"""mulligan/Code-v0 on the local backend: the gymnasium contract, the tools, the expert, the rules."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import gymnasium as gym
import pytest
from env_check_warnings import check_env_warnings
from gymnasium.utils.env_checker import check_env

import mulligan.envs as envs
from mulligan.agents.parsing import tool_call_to_action
from mulligan.envs.code import CodeEnv, builtin_suite, humaneval_suite
from mulligan.envs.code.env import to_charset
from mulligan.envs.code.sandbox import default_backend, make_sandbox
from mulligan.errors import ConfigError, EnvError
from mulligan.records import ToolCall

ENV_ID = "mulligan/Code-v0"
INFO_KEYS = {"won", "valid", "goal", "task_id", "name", "suite", "split", "entry_point", "visible_tests", "step",
             "tools"}
SECOND = next(t.task_id for t in builtin_suite().tasks("train") if t.entry_point == "second_largest")
WRONG = "def second_largest(nums):\n    return sorted(nums)[-2]\n"
RIGHT = "def second_largest(nums):\n    d = sorted(set(nums))\n    return d[-2] if len(d) > 1 else None\n"


@pytest.fixture
def env(local_sandbox):
    env = CodeEnv(sandbox=local_sandbox, max_steps=6)
    yield env
    env.close()


def fenced(tool: str, code: str) -> str:
    return f"Action: {tool}\n```python\n{code}```"


def test_check_env_direct_and_through_make(local_sandbox):
    assert check_env_warnings(CodeEnv(sandbox=local_sandbox)) == []
    for made in (gym.make(ENV_ID, sandbox=local_sandbox), envs.make_env(ENV_ID, sandbox="local")):
        assert isinstance(made.unwrapped, CodeEnv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the wrappers differ from the unwrapped env by design
            check_env(made)
        made.close()


def test_importing_and_using_the_env_never_imports_docker():
    code = (
        "import sys, mulligan, mulligan.envs as e, mulligan.envs.code, mulligan.cli\n"
        "env = e.make_env('mulligan/Code-v0', sandbox='local'); env.reset(options={'task': 'train-1'})\n"
        "env.step('test\\nx = 1'); env.close()\n"
        "assert 'docker' not in sys.modules, 'docker imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_first_observation_shows_problem_tests_and_tools(env):
    obs, info = env.reset(options={"task": SECOND})
    assert set(info) >= INFO_KEYS and info["won"] is False and info["step"] == 0
    assert info["name"] == "builtin/second_largest" and info["entry_point"] == "second_largest"
    assert "second_largest([3, 1, 4, 1, 5]) == 4" in obs and "Action: test" in obs
    assert info["visible_tests"] == ["second_largest([3, 1, 4, 1, 5]) == 4", "second_largest([7]) == None"]
    assert [t["function"]["name"] for t in info["tools"]] == ["run", "test", "submit"]
    assert obs in env.observation_space


def test_test_shows_expected_got_and_traceback(env):
    env.reset(options={"task": SECOND})
    obs, reward, terminated, truncated, info = env.step(fenced("test", WRONG))
    assert (reward, terminated, truncated, info["valid"], info["tool"]) == (0.0, False, False, True, "test")
    assert obs.startswith("test: 1 of 2 visible tests passed.")
    assert "PASSED second_largest([3, 1, 4, 1, 5]) == 4" in obs
    assert "FAILED second_largest([7]) == None" in obs and "IndexError: list index out of range" in obs
    assert 'File "solution.py", line 2, in second_largest' in obs
    fb = info["feedback"]
    assert (fb["passed"], fb["total"], fb["all_passed"]) == (1, 2, False)
    ok, bad = fb["cases"]
    assert ok == {**ok, "input": "second_largest([3, 1, 4, 1, 5]) == 4", "expected": "4", "got": "4", "passed": True}
    assert bad["passed"] is False and bad["got"] is None and "IndexError" in bad["error"]


def test_a_program_that_does_not_define_the_function_is_told_so(env):
    env.reset(options={"task": SECOND})
    obs, *_, info = env.step(fenced("test", "def other():\n    pass\n"))
    assert obs.startswith("Note: your code does not define `second_largest`")
    obs, *_, info = env.step(fenced("test", "def second_largest(:\n"))
    assert "failed before any test ran" in obs and "SyntaxError" in info["feedback"]["load_error"]


def test_run_returns_stdout_stderr_exit_code_and_timeouts(env):
    env.reset(options={"task": "train-0"})
    program = "import sys\nname = input()\nprint('hi', name)\nprint('careful', file=sys.stderr)\nsys.exit(3)\n"
    obs, *_, info = env.step(f"run\n```python\n{program}```\nInput:\nada")
    fb = info["feedback"]
    assert (fb["stdout"], fb["stderr"], fb["exit_code"], fb["timed_out"]) == ("hi ada\n", "careful\n", 3, False)
    assert obs.startswith("run: exit code 3") and "hi ada" in obs and "careful" in obs
    obs, *_, info = env.step(tool_call_to_action(ToolCall(name="run", arguments={"code": "while True: pass"})))
    assert info["feedback"]["timed_out"] is True and info["feedback"]["killed_reason"] == "timeout"
    assert "time limit" in obs


def test_submit_ends_the_episode_and_wins_only_when_every_hidden_test_passes(env):
    env.reset(options={"task": SECOND})
    obs, reward, terminated, truncated, info = env.step(fenced("submit", WRONG))
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert "hidden tests passed. Not solved." in obs and "IndexError" in obs and "[7]" not in obs
    assert set(info["feedback"]) == {"won", "passed", "total", "error_type"}
    obs, reward, terminated, truncated, info = env.step(fenced("submit", RIGHT))
    assert info["valid"] is False and "already submitted" in obs and info["won"] is False
    env.reset(options={"task": SECOND})
    obs, reward, terminated, truncated, info = env.step(fenced("submit", RIGHT))
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)
    assert obs == f"submit: all {info['feedback']['total']} hidden tests passed. Solved."


def test_bare_submit_submits_the_last_code(env):
    env.reset(options={"task": SECOND})
    obs, *_, info = env.step("submit")
    assert info["valid"] is False and "no code to submit" in obs
    env.step(fenced("test", RIGHT))
    *_, info = env.step("Action: submit")
    assert info["won"] is True


def test_bad_actions_are_answered_never_raised(env):
    env.reset(options={"task": "train-0"})
    for action in ["", "hello", "test", None, 17, "\x00\x01"]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["valid"] is False and "Action: test" in obs and not terminated
    assert truncated is True and info["step"] == 6  # max_steps=6 truncates


def test_step_before_reset_and_bad_options_raise():
    env = CodeEnv(sandbox="local")
    with pytest.raises(EnvError):
        env.step("test\nx = 1")
    with pytest.raises(EnvError):
        env.reset(options={"task": "train-9999"})
    with pytest.raises(EnvError):
        env.reset(options={"suite": "builtin", "split": "nope"})
    with pytest.raises(ConfigError):
        CodeEnv(max_steps=0)


def test_seeded_draws_are_reproducible(env):
    drawn = [env.reset(seed=s, options={"suite": "humaneval", "split": "test"})[1]["task_id"] for s in (1, 2, 1)]
    assert drawn[0] == drawn[2] and drawn[0].startswith("humaneval:test-")
    assert env.reset(seed=3)[1]["task_id"] in builtin_suite().task_ids("train")


def test_observations_stay_in_the_charset(env):
    env.reset(options={"task": "train-0"})
    obs, *_ = env.step("run\nprint('x' * 40000 + 'caf\\u00e9 \\x1b[31m\\r\\n')")
    assert obs in env.observation_space and "caf\\xe9" in obs and "\\x1b[31m" in obs
    assert to_charset("a\u2603\tb\r\n") == "a\\u2603\tb\n"


def test_the_expert_solves_every_builtin_task(local_sandbox):
    env = CodeEnv(sandbox=local_sandbox)
    for split in ("train", "test"):
        for task_id in builtin_suite().task_ids(split):
            env.reset(options={"task": task_id})
            action = env.expert_action()
            assert "\n" not in action and json.loads(action[len("submit("):-1])["code"]
            *_, info = env.step(action)
            assert info["won"], (task_id, info["feedback"])
    env.close()


def test_humaneval_answers_may_be_bodies_or_whole_functions(env):
    task = humaneval_suite().task("test", 2)
    body = "    return number % 1.0\n"
    for answer in (body, "def truncate_number(number: float) -> float:\n" + body):
        env.reset(options={"task": task.task_id})
        *_, info = env.step(tool_call_to_action(ToolCall(name="test", arguments={"code": answer})))
        assert info["feedback"]["all_passed"]
        *_, info = env.step("submit")
        assert info["won"] and info["feedback"] == {"won": True, "passed": 1, "total": 1, "error_type": None}


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("MULLIGAN_SANDBOX", raising=False)
    assert default_backend() == "docker"
    monkeypatch.setenv("MULLIGAN_SANDBOX", "local")
    assert default_backend() == "local"
    with pytest.raises(ConfigError, match="unknown sandbox backend"):
        make_sandbox("podman")
