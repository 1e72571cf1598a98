"""Shared fixtures: the real tiny default policy, built once per session (cached on disk)."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def default_policy_path():
    """Path of the embedded default policy, trained here from expert demos on first use."""
    from mulligan.training.default_policy import ensure_default_policy, register_default_policy

    path = ensure_default_policy(progress=False)
    register_default_policy()
    return path


HOUSEHOLD = "mulligan/Household-v0"


@pytest.fixture(scope="session")
def run_household():
    """Run an agent on one household task: ``run_household(agent, task, replies=None, **options)``.

    ``replies`` feeds a scripted backend (None: no model, for the expert); ``llm`` passes a backend
    directly; ``max_steps`` sets the env's step cap. Returns the trajectories of ``run_task``.
    """
    import asyncio

    from mulligan.agents import make_agent
    from mulligan.envs import make_env
    from mulligan.llm import ScriptedLLM

    def run(agent, task_id, replies=None, *, llm=None, max_steps=None, **options):
        if llm is None and replies is not None:
            llm = ScriptedLLM(replies)
        env = make_env(HOUSEHOLD, **({"max_steps": max_steps} if max_steps else {}))
        try:
            return asyncio.run(make_agent(agent, llm, **options).run_task(env, task_id, key=task_id))
        finally:
            env.close()

    return run


@pytest.fixture(scope="session")
def expert_replies():
    """``expert_replies(task)``: the expert's demonstration of a household task as ReAct replies."""
    from mulligan.envs.household import solve

    def replies(task_id):
        return [f"Thought: {s.thought}\nAction: {s.action}" for s in solve(task_id).steps]

    return replies


class MemoryAwareLLM:
    """Two real scripted backends: one answers prompts without a memory message, the other those with one.

    ``header``: only memory messages that start with it count (``MEMORY_HEADER``: Reflexion lessons).
    """

    name = "memory-aware"
    supports_tools = False
    max_batch_size = 8

    def __init__(self, without, with_memory, header=""):
        from mulligan.llm import ScriptedLLM

        self.without, self.with_memory = ScriptedLLM(without), ScriptedLLM(with_memory)
        self.header = header

    async def generate(self, requests):
        out = []
        for r in requests:
            remembers = any(m.kind == "memory" and m.content.startswith(self.header) for m in r.messages)
            out.extend(await (self.with_memory if remembers else self.without).generate([r]))
        return out

    def close(self):
        pass


@pytest.fixture(scope="session")
def memory_aware_llm():
    """``memory_aware_llm(without, with_memory)``: a policy whose retries (with a memory) act differently."""
    return MemoryAwareLLM


@pytest.fixture(scope="module", autouse=True)
def _close_pooled_jvms():
    """ScienceWorld's pooled simulators (a 2-5 GB JVM each) close when the module that used them is done,
    rather than living to the end of the session (CI's machine has 24 GiB)."""
    yield
    adapter = sys.modules.get("mulligan.envs.adapters.scienceworld")
    if adapter is not None:
        adapter.POOL.close_all()
