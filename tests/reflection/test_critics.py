"""Critics on real household states: env feedback, the LLM critic, the teacher, chains and names."""

from __future__ import annotations

import asyncio

import pytest

from mulligan.envs import make_env
from mulligan.errors import ConfigError
from mulligan.llm import ScriptedLLM
from mulligan.records import Critique
from mulligan.reflection import (
    CriticChain,
    LLMCritic,
    Proposal,
    TeacherCritic,
    env_feedback_critic,
    judge,
    make_critic,
    normalize_action,
    parse_critique,
)

HOUSEHOLD = "mulligan/Household-v0"


@pytest.fixture
def env():
    env = make_env(HOUSEHOLD)
    env.reset(options={"task": "unseen-3"})
    yield env
    env.close()


def test_env_feedback_critic_judges_executed_steps_by_their_outcome(run_household):
    replies = ["Action: go to drawer 1", "Action: open bed 1", "Action: open drawer 1"]
    (traj,) = run_household("react", "unseen-3", replies)
    verdicts = [env_feedback_critic(Proposal.from_step(traj, i)).verdict for i in range(3)]
    assert verdicts == ["good", "bad", "good"]
    assert "Nothing happens." in env_feedback_critic(Proposal.from_step(traj, 1)).explanation


def test_env_feedback_critic_checks_proposals_against_admissible_actions(env):
    obs, info = env.reset(options={"task": "unseen-3"})
    _, _, _, _, info = env.step("go to drawer 1")
    ok = env_feedback_critic(Proposal(action="Open Drawer 1.", info=info))
    bad = env_feedback_critic(Proposal(action="take pencil 1 from drawer 1", info=info))  # still closed
    assert ok.verdict == "good" and bad.verdict == "bad" and bad.suggestion
    assert normalize_action("put mug 1 in cabinet 2") == normalize_action("put mug 1 in/on cabinet 2")
    assert env_feedback_critic(Proposal(action=None)).verdict == "bad"


def test_env_feedback_critic_without_admissible_actions_uses_past_failures(run_household):
    (traj,) = run_household("react", "unseen-3", ["Action: go to drawer 1", "Action: open bed 1"])
    again = Proposal(action="open bed 1", history=tuple(traj.steps))
    assert env_feedback_critic(again).verdict == "bad"
    assert env_feedback_critic(Proposal(action="look", history=tuple(traj.steps))).verdict == "uncertain"
    # A step that did something since the failure makes it worth another try.
    (later,) = run_household("react", "unseen-3", ["Action: open bed 1", "Action: go to drawer 1"])
    assert env_feedback_critic(Proposal(action="open bed 1", history=tuple(later.steps))).verdict == "uncertain"


def test_llm_critic_parses_its_model_and_never_blocks_on_failure():
    llm = ScriptedLLM(["Verdict: **Bad**\nExplanation: the mug is not there.\nSuggestion: go to shelf 1",
                       "I think this is fine", "Verdict: good\nExplanation: ok\nSuggestion: none"])
    critic = LLMCritic(llm)
    p = Proposal(action="go to bed 1", goal="put a mug in cabinet.", first_observation="In a room.", episode="e1")
    first = asyncio.run(critic(p))
    assert (first.verdict, first.explanation, first.suggestion, first.critic) == (
        "bad", "the mug is not there.", "go to shelf 1", "llm")
    assert asyncio.run(critic(p)).verdict == "uncertain"
    third = asyncio.run(critic(p))
    assert third.verdict == "good" and third.suggestion is None
    assert asyncio.run(critic(p)).verdict == "uncertain"  # the script ran out: no verdict, no block
    assert parse_critique("verdict - uncertain").verdict == "uncertain"


def test_teacher_judges_from_the_true_state_and_suggests_the_expert_action(env):
    teacher = TeacherCritic()
    subgoal, best = teacher.next_step(env)
    assert (subgoal, best) == ("find alarmclock", "go to armchair 1")
    good = teacher(Proposal(action=best, env=env))
    invalid = teacher(Proposal(action="open bed 1", env=env, goal="put a alarmclock in sidetable."))
    idle = teacher(Proposal(action="inventory", env=env))
    assert good.verdict == "good"
    assert invalid.verdict == "bad" and invalid.suggestion == best and invalid.subgoal == subgoal
    assert idle.verdict == "bad" and "closer" in idle.explanation
    # Judging simulates on a copy: the live env did not move.
    assert env.unwrapped.steps_taken == 0 and env.unwrapped.world.location is None
    with pytest.raises(ConfigError, match="true state"):
        teacher(Proposal(action=best))


def test_chain_first_bad_wins_and_env_reaches_only_privileged_critics(env):
    seen = {}

    def spy(proposal):
        seen["env"] = proposal.env
        return Critique(verdict="good")

    chain = CriticChain([spy, TeacherCritic()])
    assert chain.privileged
    out = asyncio.run(judge(chain, Proposal(action="open bed 1", env=env)))
    assert seen["env"] is None and out.verdict == "bad" and out.critic == "teacher"
    assert asyncio.run(judge(CriticChain([spy, spy]), Proposal(action="look"))).verdict == "good"


def test_make_critic_by_name():
    chain = make_critic("env+loop")
    assert isinstance(chain, CriticChain) and chain.name == "env+loop" and not chain.privileged
    assert make_critic("teacher").privileged
    with pytest.raises(ConfigError, match="Did you mean 'loop'"):
        make_critic("lopo")
    with pytest.raises(ConfigError, match="needs a model"):
        make_critic("llm")
    assert isinstance(make_critic("llm", ScriptedLLM([])), LLMCritic)
