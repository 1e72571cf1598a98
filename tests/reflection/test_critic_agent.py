"""The critic-guided agent: a bad proposal is blocked before it runs and revised with the critique."""

from __future__ import annotations

import json

from mulligan.reflection.detectors import REPEATS


def roles(traj):
    return [(m.role, m.kind, m.train) for m in traj.messages[2:]]


def test_env_critic_blocks_a_bad_action_and_the_revision_runs(run_household):
    (traj,) = run_household("critic", "unseen-3", ["Action: open bed 1", "Action: go to drawer 1"], critic="env")
    assert roles(traj) == [
        ("assistant", "action", False), ("user", "feedback", None), ("assistant", "revision", True),
        ("user", "observation", None),
    ]
    feedback = traj.messages[3].content
    assert "'open bed 1' is not a command that does anything here" in feedback and "Action:" in feedback
    (step,) = traj.steps
    assert step.action == "go to drawer 1" and step.critique.verdict == "good"
    assert [r["action"] for r in step.info["rejected"]] == ["open bed 1"]
    assert traj.source == "policy" and not any(s.action == "open bed 1" for s in traj.steps)


def test_after_max_revisions_the_last_one_runs(run_household):
    (traj,) = run_household("critic", "unseen-3", ["Action: open bed 1"] * 4, critic="env", max_revisions=2)
    step = traj.steps[0]
    assert step.action == "open bed 1" and step.critique.verdict == "bad" and len(step.info["rejected"]) == 2
    assert [m.train for m in traj.messages if m.role == "assistant"][:3] == [False, False, True]


def test_loop_critic_stops_the_third_repeat(run_household):
    replies = ["Action: look"] * REPEATS + ["Action: go to drawer 1", "Action: open drawer 1"]
    (traj,) = run_household("critic", "unseen-3", replies, critic="loop")
    assert [s.action for s in traj.steps] == ["look", "look", "go to drawer 1", "open drawer 1"]
    assert traj.steps[2].info["rejected"][0]["critique"]["critic"] == "loop"


def test_llm_critic_from_a_model_spec(run_household, tmp_path):
    verdicts = tmp_path / "critic.json"
    verdicts.write_text(json.dumps([
        "Verdict: bad\nExplanation: the alarmclock is rarely in a bed.\nSuggestion: go to drawer 1",
        "Verdict: good\nExplanation: fine\nSuggestion: none",
    ]))
    (traj,) = run_household("critic", "unseen-3", ["Action: go to bed 1", "Action: go to drawer 1"],
                            critic="llm", critic_model=f"scripted:{verdicts}")
    assert "Suggestion: go to drawer 1" in traj.messages[3].content
    assert traj.steps[0].action == "go to drawer 1" and traj.steps[0].critique.critic == "llm"


def test_a_teacher_critic_marks_the_trajectory_as_teacher_data(run_household):
    (traj,) = run_household("critic", "unseen-3", ["Action: open bed 1", "Action: go to armchair 1"], critic="teacher")
    assert traj.source == "teacher" and traj.steps[0].action == "go to armchair 1"
