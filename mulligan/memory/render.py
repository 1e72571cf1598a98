"""How retrieved memory reads in a prompt: worked examples in the agent's own ReAct format, and lessons.

The examples are written as the Thought/Action turns the policy itself produces, so a policy
trained on such turns can copy the pattern (EchoTrail's in-context guidance)::

    Worked examples of similar tasks solved before (key steps only):

    Example 1. Task: heat some egg and put it in fridge.
    Thought: find egg
    Action: open microwave 1
    ...
"""

from __future__ import annotations

from mulligan.memory.entries import Experience, Lesson

EXAMPLES_HEADER = "Worked examples of similar tasks solved before (key steps only):"
LESSONS_HEADER = "Lessons from earlier attempts at this task:"


def render_examples(entries: list[Experience]) -> str | None:
    if not entries:
        return None
    blocks = [EXAMPLES_HEADER]
    for i, e in enumerate(entries, start=1):
        lines = [f"Example {i}. Task: {e.instruction.strip()}"]
        for step in e.steps:
            if step.thought:
                lines.append(f"Thought: {step.thought.strip()}")
            lines.append(f"Action: {step.action.strip()}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_lessons(lessons: list[Lesson]) -> str | None:
    if not lessons:
        return None
    return "\n".join([LESSONS_HEADER, *(f"- {lesson.text.strip()}" for lesson in lessons)])
