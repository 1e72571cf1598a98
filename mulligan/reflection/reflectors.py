"""Reflectors: a failed trajectory and the env's feedback in, a lesson ("Reflection: ...") out.

:class:`EnvReflector` writes the lesson from the agent's own observations, with no model, so even
the tiny default policy gets useful memory. :class:`LLMReflector` asks a model (Reflexion /
Re-ReST style) and falls back to the env-grounded lesson when the model fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from mulligan.records import Reflection, Trajectory
from mulligan.reflection.base import REFLECTION_PREFIX, episode_feedback, first_observation, reflect
from mulligan.reflection.detectors import find_loop
from mulligan.reflection.observed import Observed, goal_words, items, observe
from mulligan.reflection.prompts import ask, render_prompt, render_steps

MAX_LISTED = 6
"""At most this many places or actions named in one sentence of a lesson."""


def _listing(names: list[str]) -> str:
    shown = names[:MAX_LISTED]
    more = f" (+{len(names) - len(shown)} more)" if len(names) > len(shown) else ""
    return ", ".join(shown) + more


def _object_sentences(facts: Observed, obj: str | None) -> list[str]:
    """Where the wanted object was (or was not) seen, and what to do about it next time."""
    if obj is None:
        return []
    taken = [(thing, place) for thing, place in facts.taken if thing.startswith(obj + " ")]
    if taken:
        thing, place = taken[0]
        return [f"I found {thing} in/on {place} and picked it up, but did not finish the task after that."]
    seen = facts.seen(obj)
    if seen:
        thing, place = seen[0]
        return [f"I saw {thing} in/on {place}: next time I should go to {place} first and take it."]
    out = []
    searched = list(facts.contents)
    if searched:
        out.append(f"I looked in/on {_listing(searched)} and there was no {obj} there.")
    if facts.closed:
        out.append(f"I did not open {_listing(facts.closed)}.")
    todo = facts.closed + [p for p in facts.unsearched() if p not in facts.closed]
    if todo:
        out.append(f"Next time I should search the places I have not looked into: {_listing(todo)}.")
    return out


@dataclass(frozen=True)
class LessonFacts:
    """What :class:`EnvReflector`'s lessons say about where things start out, read back from their text.

    An agent that retries a task with these lessons in its prompt may rely on exactly this much.

    Attributes:
        known: Receptacles whose starting contents a lesson tells (where the wanted object was
            seen or taken, or places searched and found without it).
        first: Receptacles a lesson says to search next time, in its order.
    """

    known: tuple[str, ...] = ()
    first: tuple[str, ...] = ()


_FOUND = re.compile(r"I (?:found|saw) [a-z]+ \d+ in/on ([a-z]+ \d+)")
_SEARCHED = re.compile(r"I looked in/on ([^.]*?) and there was no ")
_TODO = re.compile(r"search the places I have not looked into: ([^.]*)\.")


def lesson_facts(texts: Iterable[str]) -> LessonFacts:
    """Read :class:`LessonFacts` out of lesson texts (any memory message holding env lessons).

    The inverse of the object sentences :class:`EnvReflector` writes; names it cut off with
    ``(+N more)`` are not known.
    """
    known: list[str] = []
    first: list[str] = []
    for text in texts:
        known += _FOUND.findall(text)
        for listing in _SEARCHED.findall(text):
            known += items(listing)
        for listing in _TODO.findall(text):
            first += items(listing)
    return LessonFacts(tuple(dict.fromkeys(known)), tuple(dict.fromkeys(p for p in first if p not in known)))


class EnvReflector:
    """A lesson built only from what the agent observed: where things were, what failed, loops.

    Reads the transcript (observations, actions, the step cap reached); never the env's state.
    """

    name = "env"

    def __call__(self, traj: Trajectory, feedback: str | None = None) -> Reflection:
        """The lesson of a failed ``traj``; ``feedback`` defaults to the env's verdict on the episode."""
        facts = observe(first_observation(traj), traj.steps)
        words = goal_words(traj.goal)
        sentences = [f"{REFLECTION_PREFIX} I did not complete the task ({traj.goal.rstrip('.')}). "
                     f"{feedback or episode_feedback(traj)}"]
        sentences += _object_sentences(facts, words[0] if words else None)
        if facts.failed:
            sentences.append(
                f"These actions did nothing: {_listing([repr(a) for a in facts.failed])}; "
                "I should only use commands on things I can see where I am."
            )
        loop = find_loop([s.action for s in traj.steps if s.action is not None])
        if loop:
            sentences.append(f"I got stuck: {loop}; I must not repeat what does not help.")
        return Reflection(text=" ".join(sentences), reflector=self.name, traj_id=traj.id)


class LLMReflector:
    """Ask a model for the lesson (prompt ``prompts/reflect.txt``).

    Args:
        llm: Any backend of the LLM protocol.
        fallback: Used when the model fails or answers nothing (default: :class:`EnvReflector`).
        max_tokens: Length cap of the lesson.
    """

    name = "llm"

    def __init__(self, llm: Any, *, fallback: Any = None, max_tokens: int = 192):
        self.llm = llm
        self.fallback = fallback if fallback is not None else EnvReflector()
        self.max_tokens = max_tokens

    async def __call__(self, traj: Trajectory, feedback: str | None = None) -> Reflection:
        """The model's lesson on a failed ``traj`` (the fallback's when the model gives none)."""
        feedback = feedback or episode_feedback(traj)
        prompt = render_prompt(
            "reflect",
            goal=traj.goal,
            transcript=render_steps(first_observation(traj), traj.steps),
            feedback=feedback,
        )
        reply = await ask(self.llm, prompt, tag=f"{traj.id}:reflect", max_tokens=self.max_tokens)
        text = reply.text.strip()
        if reply.error or not text:
            return await reflect(self.fallback, traj, feedback)
        if not text.startswith(REFLECTION_PREFIX):
            text = f"{REFLECTION_PREFIX} {text}"
        return Reflection(text=text, reflector=self.name, traj_id=traj.id)
