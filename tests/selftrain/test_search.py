"""The Agent-R tree-search collector: MCTS finds wins, splices are sound and flagged right."""

from __future__ import annotations

import math
import random

import pytest
from selftrain_helpers import SLIP, TASK, SlipPolicy, search

from mulligan.agents import make_agent
from mulligan.agents.tree import Node, backup, best_child, uct
from mulligan.envs import make_env
from mulligan.errors import ConfigError
from mulligan.records import Message
from mulligan.runner.rundir import RunDir
from mulligan.runner.runner import RunConfig, run
from mulligan.training.export import build_rows
from mulligan.training.rows import Transcript, teacher_touched


@pytest.fixture(scope="module")
def searched():
    return search(SlipPolicy(), samples=3, iterations=6, max_depth=7)


def test_uct_prefers_unvisited_then_mean_plus_bonus():
    root = Node(0, 0, [], visits=10)
    a = Node(1, 1, [], parent=root, visits=5, value=4.0)
    b = Node(2, 1, [], parent=root, visits=5, value=1.0)
    root.children = [a, b]
    assert uct(a, 10) == pytest.approx(0.8 + 0.25 * math.sqrt(math.log(10) / 5))
    assert best_child(root, random.Random(0)) is a
    fresh = Node(3, 1, [], parent=root)
    root.children.append(fresh)
    assert best_child(root, random.Random(0)) is fresh
    leaf = Node(4, 2, [], parent=fresh, terminal=True, end="won")
    fresh.children = [leaf]
    backup(leaf, 1.0)
    assert (fresh.visits, fresh.value, fresh.terminal) == (1, 1.0, True)
    assert (root.visits, root.value, root.terminal) == (11, 1.0, False)


def test_greedy_search_is_refused(slip_policy):
    with pytest.raises(ConfigError, match="temperature above 0"):
        make_agent("search", slip_policy(), params={"temperature": 0.0})


def test_search_finds_a_win_and_expansions_are_deduplicated(searched):
    wins = [t for t in searched if t.source == "search" and t.success]
    assert wins and all(t.end_reason == "won" for t in wins)
    assert len(wins) <= 3
    assert min(len(w.steps) for w in wins) == 5  # the slip-free path
    fails = [t for t in searched if t.source == "search" and not t.success]
    assert fails and all(t.end_reason == "depth cap" for t in fails)
    # Three samples per expansion but only two distinct actions (the expert's and the slip).
    assert searched[0].search["generations"] == 3 * (searched[0].search["nodes"] - 1) // 2


def test_splices_cut_at_the_first_error_and_continue_soundly(searched):
    splices = [t for t in searched if t.source == "splice"]
    assert splices
    env = make_env("mulligan/Household-v0")
    for splice in splices:
        assert splice.success and Transcript.of(splice) is not None
        assistant = [m for m in splice.messages if m.role == "assistant"]
        revision = next(i for i, m in enumerate(assistant) if m.kind == "revision")
        assert [m.train for m in assistant[:revision]] == [False] * revision
        assert all(m.train for m in assistant[revision:])
        assert assistant[revision - 1].content == SLIP  # the bad segment ends at the first error
        assert assistant[revision].content.startswith("Reflection: 'open bed 1' had no effect")
        wrong = splice.steps[revision - 1]
        assert not wrong.valid and wrong.critique.verdict == "bad" and wrong.critique.critic == "env"
        assert splice.steps[revision].valid  # the revision fuses with an action that did something
        # Sound: replaying the spliced actions in a fresh env gives the recorded observations and wins.
        env.reset(options={"task": TASK})
        for step in splice.steps:
            observation, _, _, _, info = env.step(step.action)
            assert observation == step.observation
        assert info["won"]
    env.close()


def test_agentr_export_takes_splices_as_recorded_and_sft_takes_winning_paths(searched):
    splices = {t.id: t for t in searched if t.source == "splice"}
    rows = build_rows(searched, "agentr")
    assert {r["traj_id"] for r in rows} == set(splices)
    for row in rows:
        assert row["source"] == "splice"
        assert [m["train"] for m in row["messages"]] == [
            bool(m.train) and m.role == "assistant" for m in splices[row["traj_id"]].messages
        ]
    sft = build_rows(searched, "sft")
    assert sft and {r["source"] for r in sft} == {"search"}


def test_teacher_located_errors_make_teacher_data(slip_policy):
    trajs = search(slip_policy(), samples=3, iterations=6, max_depth=7, verifier="teacher")
    splices = [t for t in trajs if t.source == "splice"]
    assert splices and all(teacher_touched(t) for t in splices)
    assert {r["source"] for r in build_rows(trajs, "agentr")} == {"teacher"}
    assert not any(r["traj_id"] in {t.id for t in splices} for r in build_rows(trajs, "sft"))


def test_unsound_splices_only_when_loose():
    """A failed path that went somewhere else before its error has no sound continuation."""
    from selftrain_helpers import expert_replies

    demo = expert_replies(TASK)

    class Wander:
        name, supports_tools, max_batch_size = "wander", False, 8

        async def generate(self, requests):
            from mulligan.llm.base import Completion

            out = []
            for i, r in enumerate(requests):
                steps = sum(1 for m in r.messages if m.role == "assistant")
                if i == 0:
                    out.append(Completion(text=demo[min(steps, len(demo) - 1)]))
                else:  # a valid detour, then a slip
                    out.append(Completion(text="Action: go to shelf 1" if steps == 0 else SLIP))
            return out

        def close(self):
            pass

    strict = search(Wander(), samples=2, iterations=4, max_depth=6)
    loose = search(Wander(), samples=2, iterations=4, max_depth=6, loose=True)
    assert not [t for t in strict if t.source == "splice" and not t.splice["sound"]]
    assert any(not t.splice["sound"] for t in loose if t.source == "splice")


def test_search_agent_runs_in_the_runner(tmp_path, slip_policy):
    config = RunConfig(split="train", start=51, tasks=1, agent="search", concurrency=1, out=str(tmp_path / "run"),
                       agent_options={"samples": 2, "iterations": 3, "max_depth": 7})
    result = run(config, llm=slip_policy())
    trajs = RunDir(tmp_path / "run").trajectories()
    assert result.summary["successes"] == 1 and {t.key for t in trajs} == {TASK}
    assert {t.source for t in trajs} >= {"search"}
    assert sum(t.usage.total for t in trajs) == trajs[0].usage.total > 0


def test_messages_of_a_format_error_child_keep_the_env_unchanged(slip_policy):
    class Garbled:
        name, supports_tools, max_batch_size = "garbled", False, 8

        def __init__(self):
            self.inner = slip_policy(period=1000)

        async def generate(self, requests):
            from mulligan.llm.base import Completion

            good = await self.inner.generate(requests[:1])
            return good + [Completion(text="")] * (len(requests) - 1)

        def close(self):
            pass

    trajs = search(Garbled(), samples=2, iterations=3, max_depth=7)
    garbled = [s for t in trajs for s in t.steps if s.action is None]
    assert garbled and all(not s.valid for s in garbled)
    for t in trajs:
        assert all(m.train is False for m in t.messages if m.role == "assistant" and not m.content)
        assert Transcript.of(t) is not None
    assert isinstance(trajs[0].messages[0], Message)


def test_a_model_that_never_answers_still_leaves_a_record():
    class Dead:
        name, supports_tools, max_batch_size = "dead", False, 8

        async def generate(self, requests):
            from mulligan.llm.base import Completion

            return [Completion(error="connection refused", finish_reason="error") for _ in requests]

        def close(self):
            pass

    (traj,) = search(Dead(), samples=2, iterations=2)
    assert not traj.success and traj.end_reason == "no replies" and traj.error == "connection refused"
    assert traj.search["generations"] == 2
