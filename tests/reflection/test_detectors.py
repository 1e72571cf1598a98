"""Loop and stall detectors, as functions and as critics, on sequences and real household steps."""

from __future__ import annotations

from mulligan.records import Step
from mulligan.reflection import (
    Proposal,
    action_cycle,
    find_loop,
    loop_critic,
    repeated_action,
    stall_critic,
    stalled,
)


def steps(*pairs):
    return tuple(Step(t=i, action=a, observation=o) for i, (a, o) in enumerate(pairs))


def test_repeats_cycles_and_stalls():
    assert repeated_action(["a", "b", "b", "b"]) == "b"
    assert repeated_action(["b", "b"]) is None and repeated_action(["b", "a", "b"]) is None
    assert action_cycle(["x", "a", "b", "a", "b"], 2) == ("a", "b")
    assert action_cycle(["a", "b", "c", "a", "b", "c"], 3) == ("a", "b", "c")
    assert action_cycle(["a", "a", "a", "a"], 2) is None  # a repeat, not a cycle
    assert action_cycle(["a", "b", "c", "a", "b", "d"], 3) is None
    assert stalled(["x", "Nothing happens.", "Nothing happens.", "Nothing happens."])
    assert not stalled(["Nothing happens.", "ok", "Nothing happens."])
    assert "repeated 3 times" in find_loop(["go to a", "go to a", "go to a"])
    assert "cycle" in find_loop(["go to a", "go to b", "go to a", "go to b"])
    assert find_loop(["go to a", "go to b", "go to c"]) is None


def test_loop_critic_stops_the_third_repeat_and_cycles():
    history = steps(("open bed 1", "Nothing happens."), ("open bed 1", "Nothing happens."))
    bad = loop_critic(Proposal(action="open bed 1", history=history))
    assert bad.verdict == "bad" and "'open bed 1' was repeated 3 times" in bad.explanation
    assert loop_critic(Proposal(action="go to drawer 1", history=history)).verdict == "good"
    cycle = steps(("go to a 1", "x"), ("go to b 1", "y"), ("go to c 1", "z"), ("go to a 1", "x"), ("go to b 1", "y"))
    assert loop_critic(Proposal(action="go to c 1", history=cycle)).verdict == "bad"


def test_stall_critic_blames_only_the_actions_that_kept_things_still():
    history = steps(("go to bed 1", "You arrive."), ("open bed 1", "Nothing happens."),
                    ("take x 1 from bed 1", "Nothing happens."), ("open bed 1", "Nothing happens."))
    assert stall_critic(Proposal(action="open bed 1", history=history)).verdict == "bad"
    assert stall_critic(Proposal(action="go to drawer 1", history=history)).verdict == "uncertain"
    assert stall_critic(Proposal(action="open bed 1", history=history[:2])).verdict == "good"


def test_detectors_on_a_real_looping_episode(run_household):
    replies = ["Action: go to drawer 1", "Action: open bed 1"] + ["Action: look"] * 3
    (traj,) = run_household("react", "unseen-3", replies)
    actions = [s.action for s in traj.steps]
    assert find_loop(actions) == "'look' was repeated 3 times in a row"
    # Judged after the fact, the last step completes the loop and the stall.
    last = Proposal.from_step(traj, len(traj.steps) - 1)
    assert loop_critic(last).verdict == "bad" and stall_critic(last).verdict == "bad"
    assert loop_critic(Proposal.from_step(traj, 2)).verdict == "good"
