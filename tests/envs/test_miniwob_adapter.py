"""MiniWoB++ through the adapter in real Chromium: scripted policies solve click-button, click-test, enter-text.

Marked ``browser``: without Chromium (or the miniwob package) the tests skip with the reason on a
laptop and fail when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from browser_marks import browser_test

from mulligan.envs import get_suite, make_env
from mulligan.envs.adapters.miniwob import ENV_ID, MiniWoBSuite, chrome_paths, dom_text, split_task_id
from mulligan.errors import ConfigError, EnvError
from mulligan.llm.base import Completion


def _browser_missing() -> str | None:
    try:
        import miniwob  # noqa: F401
    except ImportError:
        return "the miniwob package is not installed (pip install 'mulligan[envs]')"
    if chrome_paths() is None:
        return "Chromium/chromedriver not installed (scripts/ci-browser.sh installs them)"
    return None


MISSING = _browser_missing()
needs_browser = browser_test(MISSING)


def policy(observation: str) -> str:
    """A scripted policy that reads only the text observation."""
    task = re.search(r"^Task: (.*)$", observation, re.MULTILINE).group(1)
    if m := re.search(r'Enter "(.*?)"', task):
        box = re.search(r'\[(\d+)\] textbox value="(.*?)"', observation)
        if box.group(2) != m.group(1):
            return f'type({box.group(1)}, "{m.group(1)}")'
        return "click(%s)" % re.search(r'\[(\d+)\] button "Submit"', observation).group(1)
    if m := re.search(r'Click on the "(.*?)" button', task):
        return "click(%s)" % re.search(rf'\[(\d+)\] button "{re.escape(m.group(1))}"', observation).group(1)
    return "click(%s)" % re.search(r"\[(\d+)\] button", observation).group(1)


class PolicyLLM:
    """A backend whose replies come from :func:`policy` on the latest observation."""

    name = "miniwob-policy"
    supports_tools = False
    max_batch_size = 8

    async def generate(self, requests):
        return [Completion(text=f"Action: {policy(r.messages[-1].content)}") for r in requests]

    def close(self):
        pass


@pytest.fixture(scope="module")
def env():
    env = make_env(ENV_ID)
    yield env
    env.close()


@needs_browser
@pytest.mark.parametrize("task", ["click-button", "click-test", "enter-text"])
@pytest.mark.parametrize("index", [0, 1])
def test_scripted_policy_solves_tasks_in_chromium(env, task, index):
    obs, info = env.reset(options={"task": f"{task}:train-{index}"})
    assert obs.startswith(f"Task: {info['goal']}\nScreen: MiniWoB > {task}\n[")
    assert info["elements"] and all(len(e["bbox"]) == 4 for e in info["elements"])
    for _ in range(4):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        if terminated:
            break
    assert terminated and info["won"] and reward > 0


@needs_browser
def test_react_agent_runs_miniwob_through_the_agent_interface(env):
    from mulligan.agents import make_agent

    (traj,) = asyncio.run(make_agent("react", PolicyLLM()).run_task(env, "enter-text:test-3", key="e3"))
    assert traj.success and [s.action.split("(")[0] for s in traj.steps] == ["type", "click"]


@needs_browser
def test_invalid_actions_are_answered_in_the_browser(env):
    obs, _ = env.reset(options={"task": "click-test:train-0"})
    for action, text in (("click(999)", "no element [999]"), ("back()", "does nothing"), ("dance", "do not know")):
        obs2, reward, terminated, _, info = env.step(action)
        assert text in obs2 and not info["valid"] and not terminated
    assert env.unwrapped.render() is None


# ---- no browser needed -------------------------------------------------------------------------


def test_task_ids_and_suites():
    assert split_task_id("click-test:train-3") == ("click-test", "train", 3)
    assert split_task_id("test-2") == ("click-button", "test", 2)
    for bad in ("click-test:dev-1", "click-test:x", 5):
        with pytest.raises(EnvError):
            split_task_id(bad)
    suite = get_suite(ENV_ID, "enter-text")
    assert isinstance(suite, MiniWoBSuite)
    assert suite.task_ids("train", 2) == ["enter-text:train-0", "enter-text:train-1"]
    if not MISSING:
        assert get_suite(ENV_ID, "click-checkboxes").name == "click-checkboxes"
        with pytest.raises(ConfigError, match="Did you mean"):
            get_suite(ENV_ID, "click-buton")


def test_dom_text_uses_the_gui_tree_format():
    flags = [0, 0, 0, 1]
    elements = [
        {"ref": 1, "parent": 0, "tag": "body", "text": "", "value": "", "flags": [0, 0, 0, 0]},
        {"ref": 2, "parent": 1, "tag": "button", "text": "okay", "value": "", "flags": flags},
        {"ref": 3, "parent": 1, "tag": "input_text", "text": "", "value": "hi", "flags": [1, 0, 0, 1]},
        {"ref": 4, "parent": 1, "tag": "input_checkbox", "text": "", "value": True, "flags": flags},
        {"ref": -1, "parent": 2, "tag": "t", "text": "okay", "value": "", "flags": flags},
    ]
    assert dom_text("click-button", "Click okay.", elements) == (
        'Task: Click okay.\nScreen: MiniWoB > click-button\n[2] button "okay"\n'
        '[3] textbox value="hi" (focused)\n[4] checkbox (selected)')
