"""Real runs to report on: the household env with the noisy expert (and a memory), Reflexion and a critic.

- ``expert``: the expert with noise 0.3 under a 20-step cap: slips, recoveries, step-limit failures,
  and worked examples recalled from the run's own memory.
- ``reflexion``: a scripted policy that fails until a lesson is in its prompt, then plays the
  expert's solution of ``unseen-4``: that task is won on the retry, the others fail with lessons.
- ``critic``: a scripted policy whose first proposal the env critic rejects; the revision runs.
"""

from __future__ import annotations

import shutil

import pytest

from mulligan.memory.reflections import MEMORY_HEADER
from mulligan.runner.runner import RunConfig, run

HOUSEHOLD = "mulligan/Household-v0"
FAIL = ["Thought: the bed may open\nAction: open bed 1", "Action: go to drawer 1", "Action: open bed 1"]


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory, expert_replies, memory_aware_llm):
    """``{"expert": dir, "reflexion": dir, "critic": dir}``: finished run directories (see the module docstring)."""
    from mulligan.llm import ScriptedLLM

    root = tmp_path_factory.mktemp("report-runs")
    runs = {name: root / name for name in ("expert", "reflexion", "critic")}
    run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=30, agent="expert", max_steps=20, concurrency=1,
                  agent_options={"noise": 0.3, "noise_seed": 3}, memory=str(root / "memory"),
                  memory_options={"dense": False}, out=str(runs["expert"])))
    solution = expert_replies("unseen-4")
    run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=6, agent="reflexion", max_steps=12,
                  agent_options={"trials": 3, "reflector": "env"}, out=str(runs["reflexion"])),
        llm=memory_aware_llm(FAIL, solution, header=MEMORY_HEADER))
    run(RunConfig(env=HOUSEHOLD, split="unseen", tasks=6, agent="critic", max_steps=12,
                  agent_options={"critic": "env"}, out=str(runs["critic"])),
        llm=ScriptedLLM(["Action: open bed 1", *solution]))
    return runs


@pytest.fixture
def run_copy(report_runs, tmp_path):
    """``run_copy(name)``: a fresh copy of one of :func:`report_runs`' directories, free to change."""
    def copy(name):
        return shutil.copytree(report_runs[name], tmp_path / name)

    return copy
