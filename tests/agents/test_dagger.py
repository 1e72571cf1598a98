"""The DAgger agents: the policy acts, the expert labels every state it reaches."""

from __future__ import annotations

import asyncio

from mulligan.agents import make_agent
from mulligan.envs import make_env
from mulligan.llm import ScriptedLLM

HOUSEHOLD = "mulligan/Household-v0"
WRONG = "Thought: I will look around.\nAction: go to garbagecan 1"


def _run(agent, task="train-7"):
    env = make_env(HOUSEHOLD)
    return asyncio.run(agent.run_task(env, task, key=task))


def test_beta_one_runs_the_experts_labels_only(expert_replies):
    (traj,) = _run(make_agent("dagger", ScriptedLLM([WRONG] * 60), beta=1.0))
    assert traj.success and [s.info["dagger"] for s in traj.steps] == ["corrected"] * len(traj.steps)
    assert [s.raw for s in traj.steps] == expert_replies("train-7")
    assert all(m.train for m in traj.messages if m.role == "assistant")


def test_beta_zero_runs_the_policys_mistakes_untrained_and_labels_the_recovery():
    (traj,) = _run(make_agent("dagger", ScriptedLLM([WRONG] * 3 + ["Thought: hmm"] + [WRONG] * 60), beta=0.0))
    kinds = [s.info["dagger"] for s in traj.steps]
    assert kinds[:4] == ["policy"] * 4
    replies = [m for m in traj.messages if m.role == "assistant"]
    assert [m.train for m in replies[:4]] == [False] * 4
    assert traj.steps[3].action is None  # the unparseable reply ran as a format error
    # Once the policy goes to garbagecan 1 it repeats itself: that does nothing, and it agrees with
    # nothing the expert says, so every later turn is the policy's (beta 0), never trained.
    assert all(k in ("policy", "agree") for k in kinds)
    assert all(m.train is False for m, k in zip(replies, kinds) if k == "policy")


def test_agreeing_turns_carry_the_experts_thought(expert_replies):
    replies = expert_replies("train-7")
    actions_only = [r.split("\n")[1] for r in replies]  # the policy says the right actions, no thought
    (traj,) = _run(make_agent("dagger", ScriptedLLM(actions_only), beta=0.0))
    assert traj.success and {s.info["dagger"] for s in traj.steps} == {"agree"}
    assert [s.raw for s in traj.steps] == replies


def test_dagger_reflexion_retries_failures_with_lessons_and_expert_labels():
    agent = make_agent("dagger-reflexion", ScriptedLLM([WRONG] * 200), beta=1.0, trials=2, max_turns=10)
    trials = _run(agent, "train-3")
    assert [t.trial for t in trials] == [0, 1]
    first, retry = trials
    assert not first.success and all(s.info.get("dagger") is None for s in first.steps)
    assert any(m.kind == "memory" for m in retry.messages)
    assert {s.info["dagger"] for s in retry.steps} == {"corrected"}
