"""STeP data synthesis: the teacher corrects the policy's wrong steps as they happen."""

from __future__ import annotations

from mulligan.envs.household import solve

BAD = ["Thought: hmm\nAction: open bed 1"] * 40


def test_every_wrong_step_runs_then_a_reflected_correction_wins(run_household):
    (traj,) = run_household("teacher", "unseen-3", BAD)
    assert traj.success and traj.source == "teacher" and traj.agent == "teacher"
    assert [s.t for s in traj.steps] == list(range(len(traj.steps)))
    wrong, fixes = traj.steps[0::2], traj.steps[1::2]
    assert all(s.info["teacher"] == "wrong" and s.critique.verdict == "bad" and not s.valid for s in wrong)
    assert all(s.info["teacher"] == "correction" for s in fixes)
    # The mistakes changed nothing, so the corrections are exactly the expert's demonstration.
    assert [s.action for s in fixes] == [s.action for s in solve("unseen-3").steps]
    assistants = [m for m in traj.messages if m.role == "assistant"]
    assert [m.train for m in assistants] == [False, True] * len(fixes)
    for m in assistants[1::2]:
        assert m.kind == "revision" and m.content.startswith("Reflection: 'open bed 1' does nothing here. I should")
    after_wrong = [traj.messages[i + 1] for i, m in enumerate(traj.messages) if m in assistants[0::2]]
    assert all(m.kind == "observation" and m.content == "Nothing happens." for m in after_wrong)


def test_a_good_policy_is_left_alone(run_household, expert_replies):
    (traj,) = run_household("teacher", "unseen-3", expert_replies("unseen-3"))
    assert traj.success and traj.source == "teacher"
    assert not any(s.info.get("teacher") for s in traj.steps)
    assert all(m.train for m in traj.messages if m.role == "assistant")


def test_a_mistake_that_changes_the_state_is_repaired_from_where_it_led(run_household, expert_replies):
    demo = expert_replies("unseen-3")
    replies = demo[:4] + ["Thought: take it\nAction: take pencil 1 from drawer 1"] + demo[4:]
    (traj,) = run_household("teacher", "unseen-3", replies)
    wrong = next(i for i, s in enumerate(traj.steps) if s.info.get("teacher") == "wrong")
    assert traj.steps[wrong].observation == "You pick up the pencil 1 from the drawer 1."
    fix = traj.steps[wrong + 1]
    assert fix.action == "put pencil 1 in/on drawer 1" and "I have pencil 1, not a alarmclock; put it down" in fix.thought
    assert "I should put down pencil instead." in fix.raw
    assert traj.success


def test_max_corrections_and_the_step_cap(run_household):
    (once,) = run_household("teacher", "unseen-3", BAD[:5], max_corrections=1)
    assert sum(1 for s in once.steps if s.info.get("teacher") == "correction") == 1
    (capped,) = run_household("teacher", "unseen-3", BAD, max_steps=3)
    # Turn 1 runs the mistake and its correction; turn 2 has room for one step: the correction replaces it.
    assert [s.info.get("teacher") for s in capped.steps] == ["wrong", "correction", "correction"]
    assert capped.steps[2].info["rejected"][0]["action"] == "open bed 1"
    assert capped.end_reason == "step limit" and len(capped.steps) == 3


class IdsLLM:
    """The scripted backend, reporting its replies' UTF-8 bytes as generated token ids (any ids do here: the
    test is where the agent files them)."""

    supports_tools = False
    max_batch_size = 64

    def __init__(self, replies):
        from mulligan.llm import ScriptedLLM

        self.inner = ScriptedLLM(replies)
        self.name = "ids"

    async def generate(self, requests):
        outs = await self.inner.generate(requests)
        return [o.model_copy(update={"token_ids": list(o.text.encode()), "logprobs": [-0.5] * len(o.text.encode())})
                for o in outs]


def test_the_policys_token_ids_stay_on_its_own_steps(run_household):
    """A corrected turn's generated ids are the wrong step's; the teacher's correction (and a correction that
    replaced a mistake it had no room to run) generated none, so RL never trains them as the policy's."""
    (traj,) = run_household("teacher", "unseen-3", llm=IdsLLM(BAD), max_steps=3)
    assert [s.info.get("teacher") for s in traj.steps] == ["wrong", "correction", "correction"]
    assert traj.steps[0].token_ids == list(BAD[0].encode()) and len(traj.steps[0].logprobs) == len(BAD[0])
    assert traj.steps[1].token_ids is None and traj.steps[2].token_ids is None
    assert traj.steps[1].logprobs is None and traj.steps[2].logprobs is None
