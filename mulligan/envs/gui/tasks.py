"""Tasks: a goal sentence, the goal's slots, a check on the world, and the expert's plan.

A template (see :mod:`mulligan.envs.gui.templates`) turns a random source and a fresh world into
a :class:`Spec`. The plan is a list of :class:`Stage` s, each a route of clicks from the home
screen to one screen and the operations to do there; it is recomputed from the world on every
step, so the expert also finishes episodes someone else started.

Goal slots say, in data, what the goal sentence says in words: which irreversible effects the
goal calls for (``"allows"``), their parameters (``"to"``, ``"items"``, ...), and whether the
task is a question. An irreversible effect is allowed when its kind is in ``allows`` and every
parameter it shares with the slots is equal; any other irreversible effect fails the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from mulligan.envs.gui.world import World

Intent = tuple[Any, ...]
Check = Callable[[World], bool]


@dataclass(frozen=True)
class Op:
    """One operation on a screen: click an element (by intent), type into a field, or answer.

    ``done`` skips the operation once it holds (None: do it whenever the stage gets here).
    """

    kind: str
    intent: Intent | None = None
    field: str | None = None
    text: str | None = None
    done: Check | None = None


def click(intent: Intent, done: Check | None = None) -> Op:
    return Op("click", intent=intent, done=done)


def type_into(field_name: str, value: str) -> Op:
    return Op("type", field=field_name, text=value,
              done=lambda w: w.top.form.get(field_name) == value)


def answer(text: str) -> Op:
    return Op("answer", text=text)


@dataclass(frozen=True)
class Stage:
    """Go to the screen ``route`` opens (clicks from home), then do ``ops`` until ``done`` holds."""

    subgoal: str
    route: tuple[Intent, ...]
    ops: tuple[Op, ...]
    done: Check = lambda w: False


@dataclass
class Spec:
    """What a template makes of a world.

    Attributes:
        goal: The goal sentence.
        slots: The goal's slots (see the module docstring).
        combo: The parameters that decide the task's partition (split), as one string.
        check: Whether the world satisfies the goal (action tasks).
        plan: The expert's stages for the current world.
        answer: The expected answer of question tasks.
    """

    goal: str
    slots: dict[str, Any]
    combo: str
    check: Check
    plan: Callable[[World], list[Stage]]
    answer: str | None = None


@dataclass
class Task:
    """A generated task: the template's spec and where it came from."""

    task_id: str
    split: str
    template: str
    app: str
    spec: Spec
    fingerprint: str = field(default="", repr=False)

    @property
    def goal(self) -> str:
        return self.spec.goal

    @property
    def is_question(self) -> bool:
        return self.spec.answer is not None


def effect_allowed(effect: dict[str, str], slots: dict[str, Any]) -> bool:
    """Whether the goal calls for an irreversible effect (see the module docstring)."""
    if effect.get("kind") not in slots.get("allows", ()):
        return False
    return all(same(v, slots[k]) for k, v in effect.items() if k != "kind" and k in slots)


def normalize(text: str) -> str:
    """Case, quotes, dollar signs, trailing punctuation and extra spaces removed."""
    text = re.sub(r"[\"'`$]", "", str(text).lower())
    return " ".join(text.split()).strip(" .!?,;:")


def same(a: Any, b: Any) -> bool:
    return normalize(a) == normalize(b)


def question(goal: str, expected: str, route: tuple[Intent, ...]) -> dict[str, Any]:
    """The spec fields of a question task answered on the screen ``route`` opens."""
    stage = Stage("answer the question", route, (answer(expected),))
    return {"goal": goal, "slots": {"allows": (), "question": True}, "check": lambda w: False,
            "plan": lambda w: [stage], "answer": expected}
