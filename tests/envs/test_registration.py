"""Open registration: register_env, entry-point plugins (a real package installed with pip), --import,
import paths, gymnasium ids with text spaces, seeds as tasks, default splits, --env-option, and
the agent side of the contract (reset in a worker thread, the concurrency hint)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium import spaces

import mulligan.envs as envs
from mulligan.envs import get_suite, make_env, register_env, suite_default_split
from mulligan.envs.contract import check_text_env
from mulligan.errors import ConfigError
from mulligan.runner.runner import RunConfig, run_suite

MULLIGAN = str(Path(sys.executable).parent / "mulligan")


class CountdownEnv(gym.Env):
    """Say the number shown, counting down to zero (a real text env for these tests)."""

    metadata = {"render_modes": [], "blocking_reset": True, "max_concurrency": 2}
    active = 0
    most = 0
    reset_threads: set[int] = set()
    lock = threading.Lock()

    def __init__(self, start: int = 3, max_steps: int = 10):
        self.start, self.max_steps = start, max_steps
        self.observation_space = spaces.Text(100, charset="0123456789 abcdefghijklmnopqrstuvwxyz.:")
        self.action_space = spaces.Text(20, min_length=0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        with CountdownEnv.lock:
            CountdownEnv.active += 1
            CountdownEnv.most = max(CountdownEnv.most, CountdownEnv.active)
            CountdownEnv.reset_threads.add(threading.get_ident())
        self.n = self.start + int(self.np_random.integers(0, 3))
        self.steps = 0
        return f"say {self.n}", {"won": False, "goal": "count down to 0"}

    def step(self, action):
        self.steps += 1
        valid = str(action).strip() == str(self.n)
        self.n -= int(valid)
        won = valid and self.n < 0
        truncated = not won and self.steps >= self.max_steps
        return ("done." if won else f"say {self.n}"), float(won), won, truncated, {"won": won, "valid": valid}

    def close(self):
        with CountdownEnv.lock:
            CountdownEnv.active = max(0, CountdownEnv.active - 1)

    def expert_action(self):
        return str(self.n)


def test_import_mulligan_registers_gymnasium_ids_without_heavy_imports():
    code = (
        "import sys, mulligan, gymnasium;"
        "env = gymnasium.make('mulligan/Household-v0'); print(env.reset(options={'task': 'unseen-1'})[0][:10]);"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'litellm', 'docker',"
        " 'scienceworld', 'textworld', 'alfworld', 'selenium')];"
        "assert not heavy, heavy;"
        "assert all(i in gymnasium.registry for i in ('mulligan/ScienceWorld-v0', 'mulligan/TextWorld-v0',"
        " 'mulligan/ALFWorld-v0'))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.startswith("You are in")


def test_register_env_with_a_suite_states_splits_once():
    suite = envs.IndexedSuite("test/Countdown-v0", "countdown", ["train", "eval"], {}, "count down")
    register_env("test/Countdown-v0", CountdownEnv, description="Count down.", suites={"countdown": suite})
    register_env("test/Countdown-v0", CountdownEnv)  # the same again: a no-op
    (info,) = [e for e in envs.list_envs() if e.id == "test/Countdown-v0"]
    assert [(s.name, s.splits, s.default_split) for s in info.suites] == [("countdown", ["train", "eval"], "eval")]
    assert suite_default_split("test/Countdown-v0") == "eval"  # neither test nor unseen: the last split
    with pytest.raises(ConfigError, match="already registered"):
        register_env("test/Countdown-v0", "mulligan.envs.household.env:HouseholdEnv")
    with pytest.raises(ConfigError, match="bad environment id"):
        register_env("not an id!", CountdownEnv)
    with pytest.raises(ConfigError, match="expected 'package.module:Name'"):
        register_env("test/Bad-v0", "no_colon_here")


def test_default_splits_come_from_the_suites():
    assert suite_default_split("mulligan/Household-v0") == "unseen"
    assert suite_default_split("mulligan/Code-v0") == "test"
    assert suite_default_split("mulligan/Gui-v0") == "unseen"


def test_a_gymnasium_id_with_text_spaces_runs_on_seeds_and_other_spaces_are_refused(tmp_path):
    gym.register(id="elsewhere/Countdown-v0", entry_point=CountdownEnv)
    suite = get_suite("elsewhere/Countdown-v0")
    assert suite.splits == ["seed"] and suite.task_ids("seed", 3, start=5) == ["seed-5", "seed-6", "seed-7"]
    env = make_env("elsewhere/Countdown-v0")
    first, info = env.reset(options={"task": "seed-5"})
    assert info["task_id"] == "seed-5" and first == env.reset(options={"task": "seed-5"})[0]
    assert check_text_env(lambda: make_env("elsewhere/Countdown-v0"), "seed-2").ok
    result = asyncio.run(run_suite(RunConfig(env="elsewhere/Countdown-v0", agent="expert", tasks=4,
                                             out=str(tmp_path / "run"))))
    assert result.summary["success_rate"] == 1.0 and result.summary["split"] == "seed"
    with pytest.raises(ConfigError, match="mulligan runs text envs"):
        make_env("CartPole-v1")


def test_unknown_ids_suggest_and_explain():
    with pytest.raises(ConfigError, match="Did you mean 'mulligan/Household-v0'.*package.module:Name"):
        make_env("mulligan/Househld-v0")
    with pytest.raises(ConfigError, match="cannot import the environment"):
        make_env("no_such_module_xyz:Env")


def test_env_options_reach_the_constructor_and_resets_run_in_worker_threads_within_the_hint(tmp_path):
    CountdownEnv.active, CountdownEnv.most, CountdownEnv.reset_threads = 0, 0, set()
    config = RunConfig(env=f"{__name__}:CountdownEnv", agent="expert", tasks=8, concurrency=8,
                       env_options={"start": 20, "max_steps": 5}, out=str(tmp_path / "run"))
    result = asyncio.run(run_suite(config))
    trajs = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert len(trajs) == 8 and all(len(t["steps"]) == 5 and not t["success"] for t in trajs)  # start=20, cap 5
    assert result.summary["split"] == "seed"
    assert threading.main_thread().ident not in CountdownEnv.reset_threads  # blocking_reset: worker threads
    assert 1 <= CountdownEnv.most <= 2  # metadata["max_concurrency"] caps --concurrency 8


PLUGIN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "mulligan-test-plugin"
        version = "0.1"

        [project.entry-points."mulligan.envs"]
        "plugin/Countdown-v0" = "countdown_plugin:CountdownEnv"
        countdown_suites = "countdown_plugin:register"
        broken = "countdown_plugin:no_such_function"
    """,
    "countdown_plugin.py": """
        import threading

        import gymnasium as gym
        from gymnasium import spaces

        from mulligan.envs import IndexedSuite, register_env

        def register():
            register_env("plugin/CountdownSuites-v0", "countdown_plugin:CountdownEnv", description="Count down.",
                         suites={"main": lambda: IndexedSuite("plugin/CountdownSuites-v0", "main", ["train", "test"])})
    """,
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A real package with ``mulligan.envs`` entry points, installed by pip into its own site folder."""
    src = tmp_path_factory.mktemp("plugin-src")
    for name, text in PLUGIN.items():
        (src / name).write_text(textwrap.dedent(text))
    with open(src / "countdown_plugin.py", "a") as f:
        f.write("\n\n" + inspect.getsource(CountdownEnv))
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    return site


def _mulligan(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    return subprocess.run([MULLIGAN, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_plugin_installed_with_pip_runs_from_the_cli(plugin_site, tmp_path):
    listed = _mulligan(["envs"], plugin_site, tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "plugin/Countdown-v0" in listed.stdout and "plugin/CountdownSuites-v0" in listed.stdout
    assert "plugin broken failed to load" in listed.stdout  # one broken entry point, the others still load
    done = _mulligan(["run", "plugin/Countdown-v0", "--agent", "expert", "--tasks", "3", "--out", "r1"],
                     plugin_site, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["success_rate"] == 1.0 and summary["split"] == "seed"
    done = _mulligan(["run", "plugin/CountdownSuites-v0", "--agent", "expert", "--tasks", "2", "--out", "r2",
                      "-e", "start=1"], plugin_site, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["split"] == "test" and summary["success_rate"] == 1.0


def test_import_option_registers_envs_of_a_module(tmp_path):
    (tmp_path / "countdown_copy.py").write_text(
        "import threading\nimport gymnasium as gym\nfrom gymnasium import spaces\n\n" + inspect.getsource(CountdownEnv))
    (tmp_path / "my_envs.py").write_text(
        "from mulligan.envs import register_env\n"
        "register_env('mine/Countdown-v0', 'countdown_copy:CountdownEnv')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([MULLIGAN, "run", "mine/Countdown-v0", "--import", "my_envs", "--agent", "expert",
                           "--tasks", "2", "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["success_rate"] == 1.0
    missing = subprocess.run([MULLIGAN, "run", "mine/Countdown-v0", "--tasks", "1"], capture_output=True,
                             text=True, env=env)
    assert missing.returncode == 2 and "unknown environment" in missing.stdout
