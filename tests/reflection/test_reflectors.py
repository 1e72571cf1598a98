"""Reflectors on real household failures: lessons grounded in what the agent saw, or from a model."""

from __future__ import annotations

import asyncio
import re

from mulligan.llm import ScriptedLLM
from mulligan.memory.reflections import ReflectionMemory
from mulligan.reflection import EnvReflector, LLMReflector, make_reflector, reflect

SEARCH = ["Action: go to drawer 1", "Action: open drawer 1", "Action: go to drawer 2", "Action: open drawer 2",
          "Action: go to drawer 3"]


def names(text):
    return set(re.findall(r"[a-z]+ \d+", text))


def test_env_reflector_remembers_where_the_object_was_seen(run_household):
    replies = SEARCH[:1] + ["Action: open bed 1", "Action: go to shelf 1"] + ["Action: look"] * 3
    (traj,) = run_household("react", "unseen-3", replies)
    lesson = asyncio.run(reflect(EnvReflector(), traj))
    assert lesson.text.startswith("Reflection:") and lesson.traj_id == traj.id and lesson.reflector == "env"
    assert "I saw alarmclock 1 in/on shelf 1: next time I should go to shelf 1 first" in lesson.text
    assert "These actions did nothing: 'open bed 1'" in lesson.text
    assert "'look' was repeated 3 times" in lesson.text


def test_env_reflector_lists_searched_and_unsearched_places_and_the_step_cap(run_household):
    (traj,) = run_household("react", "unseen-3", SEARCH, max_steps=5)
    assert traj.end_reason == "step limit"
    text = asyncio.run(reflect(EnvReflector(), traj)).text
    assert "within the step limit (5 steps)" in text
    assert "I looked in/on drawer 1, drawer 2 and there was no alarmclock there." in text
    assert "I did not open drawer 3." in text
    assert "Next time I should search the places I have not looked into: drawer 3, armchair 1, bed 1" in text


def test_env_reflector_uses_only_what_the_agent_observed(run_household):
    """Every object or place a lesson names appears in the transcript the agent saw."""
    for replies in (SEARCH, ["Action: open bed 1"] * 2, SEARCH[:2] + ["Action: take pencil 1 from drawer 1"]):
        (traj,) = run_household("react", "unseen-3", replies)
        seen = set().union(*(names(m.content) for m in traj.messages))
        assert names(EnvReflector()(traj).text) <= seen


def test_llm_reflector_prefixes_and_falls_back_to_the_env_lesson(run_household):
    (traj,) = run_household("react", "unseen-3", SEARCH[:2])
    llm = LLMReflector(ScriptedLLM(["I should have gone to the shelves before the drawers."]))
    lesson = asyncio.run(reflect(llm, traj))
    assert lesson.text == "Reflection: I should have gone to the shelves before the drawers."
    assert lesson.reflector == "llm"
    fallback = asyncio.run(reflect(LLMReflector(ScriptedLLM([])), traj))
    assert fallback.reflector == "env" and "drawer 1" in fallback.text
    assert isinstance(make_reflector("env"), EnvReflector)


def test_reflection_memory_keeps_the_last_three_per_task(run_household):
    (traj,) = run_household("react", "unseen-3", SEARCH[:1])
    memory = ReflectionMemory(3)
    for trial in range(4):
        memory.add("unseen-3", trial, EnvReflector()(traj).model_copy(update={"text": f"Reflection: lesson {trial}"}))
    assert memory.render("unseen-3").splitlines() == [
        "Your memory for the task below:", "Trial 1: Reflection: lesson 1", "Trial 2: Reflection: lesson 2",
        "Trial 3: Reflection: lesson 3",
    ]
    (message,) = memory.preamble("unseen-3")
    assert message.role == "user" and message.kind == "memory"
    assert memory.preamble("other-task") == [] and memory.render("other-task") is None


def test_lesson_facts_read_back_what_the_env_lesson_says(run_household):
    """lesson_facts is the inverse of the env reflector's object sentences, on real failures."""
    import random

    from mulligan.reflection import lesson_facts
    from mulligan.reflection.observed import goal_words, observe

    rng = random.Random(0)
    checked = {"seen": 0, "searched": 0}
    for i in range(40):
        task = f"train-{i}"
        replies = []
        from mulligan.envs import make_env

        env = make_env("mulligan/Household-v0")
        _, info = env.reset(options={"task": task})
        for _ in range(rng.randint(3, 14)):
            action = rng.choice(info["admissible_actions"])
            replies.append(f"Action: {action}")
            _, _, done, _, info = env.step(action)
            if done:
                break
        (traj,) = run_household("react", task, replies)
        if traj.success:
            continue
        lesson = EnvReflector()(traj)
        facts = lesson_facts([f"Your memory for the task below:\nTrial 0: {lesson.text}"])
        observed = observe(traj.messages[1].content, traj.steps)
        obj = goal_words(traj.goal)[0]
        sightings = [p for thing, p in observed.taken if thing.startswith(obj + " ")] or [p for _, p in observed.seen(obj)]
        if sightings:
            assert facts.known == (sightings[0],) and facts.first == ()
            checked["seen"] += 1
        else:
            assert set(facts.known) == set(list(observed.contents)[:6])
            todo = observed.closed + [p for p in observed.unsearched() if p not in observed.closed]
            assert list(facts.first) == [p for p in todo[:6] if p not in facts.known]
            checked["searched"] += 1
    assert checked["seen"] and checked["searched"]
