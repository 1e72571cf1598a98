"""The memory directory on real files: replay, merging, capacity, lessons, crashes and concurrent readers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mulligan.memory import Experience, KeyStep, Lesson, MemoryStore, usefulness
from mulligan.memory.entries import key_steps
from mulligan.records import Step, Trajectory

ENV = "mulligan/Household-v0"


def exp(instruction, actions=("go to fridge 1", "open fridge 1"), env=ENV, **fields):
    return Experience(env=env, instruction=instruction, steps=[KeyStep(action=a) for a in actions], **fields)


def test_entries_and_lessons_survive_reopening(tmp_path):
    store = MemoryStore(tmp_path, dense=False)
    a, status = store.add(exp("heat some egg and put it in fridge."))
    assert status == "added"
    store.add(exp("clean some lettuce and put it in garbagecan."))
    store.record_use([a], won=True)
    store.add_lesson(Lesson(env=ENV, task_id="unseen-3", text="Open the fridge before putting things in it."))
    store.close()

    again = MemoryStore(tmp_path, dense=False)
    assert len(again) == 2 and again.get(a).uses == 1 and again.get(a).wins == 1
    (lesson,) = again.lessons(ENV, "unseen-3")
    assert lesson.text == "Open the fridge before putting things in it."
    assert again.lessons(ENV, "unseen-4") == []
    ((top, hit),) = again.search("put a heated egg in the fridge", env=ENV, k=1)
    assert top.id == a and hit.bm25_rank == 1 and hit.dense_rank is None


def test_near_duplicates_merge_keeping_the_shorter_steps(tmp_path):
    store = MemoryStore(tmp_path, dense=False)
    first, _ = store.add(exp("heat some egg and put it in fridge.", ["a", "b", "c"], task_ids=["train-1"]))
    twin, status = store.add(exp("Heat some egg, and put it in fridge", ["x", "y"], task_ids=["train-9"]))
    assert (twin, status) == (first, "merged")
    other, status = store.add(exp("heat some egg and put it in microwave.", ["a"]))
    assert status == "added" and other != first
    entry = MemoryStore(tmp_path, dense=False).get(first)
    assert entry.count == 2 and [s.action for s in entry.steps] == ["x", "y"]
    assert entry.task_ids == ["train-1", "train-9"]


def test_capacity_evicts_the_least_useful(tmp_path):
    store = MemoryStore(tmp_path, dense=False, capacity=3)
    ids = [store.add(exp(f"task number {w} with the {w} object", [w]))[0] for w in ("one", "two", "three")]
    store.record_use([ids[0]], won=True)  # helped: (1+1)/(1+2)
    store.record_use([ids[1]], won=False)  # shown, did not help: (0+1)/(1+2)
    assert usefulness(store.get(ids[0])) > usefulness(store.get(ids[2])) > usefulness(store.get(ids[1]))
    store.add(exp("task number four with the four object", ["four"]))
    assert ids[1] not in {e.id for e in store.experiences()} and len(store) == 3
    assert store.stats()["evicted"] == 1
    assert ids[1] not in {e.id for e, _ in store.search("task number two with the two object", k=5)}
    # Compaction drops the history but keeps the live state.
    before = {e.id: (e.uses, e.wins) for e in store.experiences()}
    assert store.compact() > 0
    assert {e.id: (e.uses, e.wins) for e in MemoryStore(tmp_path, dense=False).experiences()} == before


def test_key_steps_keep_the_end_of_each_subgoal():
    thoughts = ["find apple"] * 4 + ["take apple", "heat apple", "put apple", "put apple"]
    actions = ["go to cabinet 1", "open cabinet 1", "go to microwave 1", "open microwave 1",
               "take apple 1 from microwave 1", "heat apple 1 with microwave 1", "go to fridge 1",
               "put apple 1 in/on fridge 1"]
    steps = [Step(t=i, thought=th, action=a) for i, (th, a) in enumerate(zip(thoughts, actions))]
    steps.insert(2, Step(t=99, action="open bed 1", valid=False))
    kept = key_steps(Trajectory(env=ENV, task_id="x", goal="g", steps=steps))
    assert [s.action for s in kept] == actions[2:]
    assert [s.action for s in key_steps(Trajectory(env=ENV, task_id="x", steps=steps), limit=2)] == actions[-2:]


def test_a_torn_last_line_is_ignored_and_cut_by_the_next_writer(tmp_path):
    store = MemoryStore(tmp_path, dense=False)
    kept, _ = store.add(exp("heat some egg and put it in fridge."))
    with open(tmp_path / "log.jsonl", "ab") as f:
        f.write(b'{"op":"add","entry":{"env":"mulligan/Hou')
    reader = MemoryStore(tmp_path, dense=False)
    assert [e.id for e in reader.experiences()] == [kept]
    new, _ = reader.add(exp("clean some lettuce and put it in garbagecan."))
    lines = (tmp_path / "log.jsonl").read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)
    assert {e.id for e in MemoryStore(tmp_path, dense=False).experiences()} == {kept, new}


WRITER = textwrap.dedent("""
    import os, sys, time
    import mulligan.memory.log as log
    from mulligan.memory import Experience, KeyStep, MemoryStore

    path, n = sys.argv[1], int(sys.argv[2])
    stop_event, stop_chunk = (int(x) for x in sys.argv[3:5]) if len(sys.argv) > 3 else (-1, -1)
    written = {"events": 0, "chunks": 0}
    real_write = os.write

    def short_write(fd, data):
        # POSIX lets write() be short; the log must cope, and a kill between two parts tears a line.
        if written["events"] == stop_event and written["chunks"] == stop_chunk:
            print("inside", flush=True)
            time.sleep(60)
        written["chunks"] += 1
        return real_write(fd, bytes(data[:1024]))

    if stop_event >= 0:
        log.os.write = short_write
    store = MemoryStore(path, dense=False, capacity=10**9)
    print("ready", flush=True)
    for i in range(n):
        # Long steps make each event a large write (about 25 KB).
        steps = [KeyStep(action=f"step {j} of task {i} " + "x" * 2000) for j in range(12)]
        entry = Experience(env="e", instruction=f"task {i} unique words w{i}a w{i}b", steps=steps)
        written["chunks"] = 0
        store.add(entry)
        written["events"] += 1
        print(entry.id, flush=True)
""")


def _writer(tmp_path, n, *stop):
    argv = [sys.executable, "-c", WRITER, str(tmp_path), str(n), *map(str, stop)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _check_after_kill(tmp_path, reported):
    store = MemoryStore(tmp_path, dense=False)
    stored = {e.id for e in store.experiences()}
    # Every add() that returned is there; at most the one being written when killed is extra.
    assert set(reported) <= stored and len(stored) - len(reported) <= 1
    assert all(len(e.steps) == 12 for e in store.experiences())
    # The store takes writes again, and the log is whole lines only afterwards.
    store.add(exp("after the crash"))
    assert all(json.loads(line) for line in (tmp_path / "log.jsonl").read_bytes().splitlines())
    assert len(MemoryStore(tmp_path, dense=False)) == len(stored) + 1


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_a_random_moment_loses_nothing_written_before(tmp_path, seed):
    child = _writer(tmp_path, 100_000)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.2, 1.0))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reported = [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    assert len(reported) > 5, "the writer was killed before it wrote anything: nothing was tested"
    _check_after_kill(tmp_path, reported)


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_inside_a_write_leaves_a_torn_line_that_costs_nothing_else(tmp_path, seed):
    rng = random.Random(seed)
    child = _writer(tmp_path, 1000, rng.randint(5, 40), rng.randint(1, 20))
    lines = []
    while (line := child.stdout.readline().strip()) != "inside":
        assert line, "the writer ended without reaching the write it was to be killed in"
        lines.append(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "log.jsonl").read_bytes().endswith(b"\n"), "no torn line: nothing was tested"
    _check_after_kill(tmp_path, lines[1:])


def test_a_reader_sees_a_growing_consistent_store_while_another_process_writes(tmp_path):
    n = 150
    child = _writer(tmp_path, n)
    assert child.stdout.readline().strip() == "ready"
    reader = MemoryStore(tmp_path, dense=False)
    seen, refreshes = 0, 0
    while child.poll() is None or seen < n:
        reader.refresh()
        refreshes += 1
        count = len(reader)
        assert count >= seen
        seen = count
        if seen:
            ((top, _),) = reader.search(f"task {seen - 1} unique words w{seen - 1}a", k=1)
            assert top.instruction.startswith(f"task {seen - 1} ")
        if child.poll() is not None and seen < n:
            reader.refresh()
            assert len(reader) == n
            break
    assert child.wait() == 0 and refreshes > 1 and len(reader) == n
