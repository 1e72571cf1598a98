"""check_text_env (gymnasium's check_env plus mulligan's contract) over every registered env, and
that the checker fails an env that breaks the contract."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium import spaces

from mulligan.envs import default_split, get_suite, list_envs, make_env
from mulligan.envs.contract import check_text_env
from thirdparty import IN_CI, marks

# What an env needs to be checked here; a registered env not named here is checked with its
# defaults, so a newly registered env is covered without editing this file.
SETUP = {
    "mulligan/Code-v0": dict(kwargs={"sandbox": "local"}),
    "mulligan/MiniWoB-v0": dict(expert=False, marks=[pytest.mark.browser, *marks("miniwob", "selenium")]),
    "mulligan/ScienceWorld-v0": dict(task="find-animal:test-0", marks=marks("scienceworld", java=True)),
    "mulligan/TextWorld-v0": dict(fixture="textworld_games", marks=marks("textworld")),
    "mulligan/ALFWorld-v0": dict(fixture="alfworld_games", marks=marks("alfworld", "fast_downward")),
}
MULLIGAN_ENVS = [e.id for e in list_envs() if e.origin == "mulligan"]


@pytest.mark.parametrize(
    "env_id", [pytest.param(i, marks=SETUP.get(i, {}).get("marks", []), id=i) for i in MULLIGAN_ENVS]
)
def test_every_registered_env_keeps_the_contract(env_id, request):
    setup = SETUP.get(env_id, {})
    if env_id == "mulligan/MiniWoB-v0":
        from mulligan.envs.adapters.miniwob import chrome_paths

        if chrome_paths() is None:
            if IN_CI:
                pytest.fail("CI must have Chromium (scripts/ci-browser.sh)")
            pytest.skip("Chromium is not installed (scripts/ci-browser.sh)")
    suite_name = str(request.getfixturevalue(setup["fixture"])) if "fixture" in setup else None
    task = setup.get("task")
    if task is None:
        suite = get_suite(env_id, suite_name)
        task = suite.task_ids(default_split(suite), 1)[0]
    kwargs = {**setup.get("kwargs", {}), "task": task}  # check_env's own resets play it too
    report = check_text_env(lambda: make_env(env_id, **kwargs), task)
    assert report.ok, report.failures
    assert report.offers["expert"] == ("yes" if setup.get("expert", True) else "no")


class ListValidEnv(gym.Env):
    """Breaks the contract the way ScienceWorld's raw info does: ``valid`` is a list, ``won`` missing."""

    def __init__(self):
        self.observation_space = spaces.Text(50)
        self.action_space = spaces.Text(50, min_length=0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "start", {"goal": "nothing"}

    def step(self, action):
        return "ok", 0.0, False, False, {"valid": ["look around", "open door"]}


def test_the_checker_fails_an_env_that_breaks_the_contract():
    report = check_text_env(ListValidEnv)
    assert not report.ok
    failures = "\n".join(report.failures)
    assert "info['won']: missing" in failures and "info['valid']: list" in failures


def test_check_env_command(tmp_path):
    mulligan = str(Path(sys.executable).parent / "mulligan")
    done = subprocess.run([mulligan, "check-env", "mulligan/Household-v0", "--task", "unseen-3"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "checks passed" in done.stdout, done.stdout + done.stderr
    (tmp_path / "broken.py").write_text(
        "import gymnasium as gym\nfrom gymnasium import spaces\n\n" + inspect.getsource(ListValidEnv))
    done = subprocess.run([mulligan, "check-env", "broken:ListValidEnv"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 1 and "checks failed" in done.stdout, done.stdout + done.stderr
