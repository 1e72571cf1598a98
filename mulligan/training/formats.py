"""The whole-trajectory formats: ``sft`` (STaR/ReST), ``rerest`` (Re-ReST) and ``step`` (STeP).

- ``sft``: successful trajectories of a plain actor (policy, search, expert, scripted); loss on
  every assistant turn the transcript trains (format errors and rejected replies stay off).
- ``rerest``: those, plus successes reached after reflection (Reflexion retries, reflector
  replays), with the memory of lessons removed from the prompt.
- ``step``: successful trajectories in which a wrong step was followed by a reflection and a
  corrected step (the teacher mode's), or by the env's feedback and a revision (self-debug: a
  revision after a failed test, with its explanation in explanation mode); the wrong step stays in
  context with loss off, the reflection and correction carry loss, and so do the steps the teacher
  approved (STeP's stage 3); ``corrections_only`` keeps the loss on the corrections alone.

A trajectory the teacher touched is never plain policy data: ``sft`` and ``rerest`` leave it out
whatever its source says.
"""

from __future__ import annotations

from typing import Any, Iterable

from mulligan.records import Message, Trajectory
from mulligan.training.rows import message_dict, row, teacher_touched, without_memory

SFT_SOURCES = ("policy", "search", "expert", "scripted")
"""Sources whose successes are plain data of one actor."""
REFLECTED_SOURCES = ("reflexion-retry", "reflector")
"""Sources of successes reached with a lesson in the prompt."""


def _plain(trajs: Iterable[Trajectory], sources: Iterable[str], fmt: str) -> list[dict[str, Any]]:
    wanted = set(sources)
    return [
        row(t, [message_dict(m) for m in without_memory(t.messages)], fmt)
        for t in trajs
        if t.success and t.source in wanted and not teacher_touched(t)
    ]


def sft_rows(trajs: Iterable[Trajectory], *, sources: Iterable[str] = SFT_SOURCES) -> list[dict[str, Any]]:
    """``sft`` rows: the successes of ``sources`` (never teacher-touched ones)."""
    return _plain(trajs, sources, "sft")


def rerest_rows(trajs: Iterable[Trajectory], *, sources: Iterable[str] = SFT_SOURCES) -> list[dict[str, Any]]:
    """``rerest`` rows: successes of ``sources`` and of reflected retries, memory removed."""
    return _plain(trajs, (*sources, *REFLECTED_SOURCES), "rerest")


def is_revision_after_failure(messages: list[Message], i: int) -> bool:
    """Whether message ``i`` is a trained revision whose attempt before (explanations aside) is untrained."""
    m = messages[i]
    if m.role != "assistant" or m.kind != "revision" or m.train is False:
        return False
    before = [p for p in messages[:i] if p.role == "assistant" and p.kind != "reflection"]
    return bool(before) and before[-1].train is False


def is_reflected_correction(messages: list[Message], i: int) -> bool:
    """Whether message ``i`` is a revision after a failure that opens with a reflection (the teacher's)."""
    return messages[i].content.startswith("Reflection:") and is_revision_after_failure(messages, i)


def corrections(traj: Trajectory, messages: list[Message]) -> set[int]:
    """Indices of the messages of ``traj`` (memory removed) that correct a wrong step.

    A reflected correction always counts; in an episode the agent recorded as ``recovered`` (won
    after an attempt the env failed, e.g. self-debug's failed test), so does any revision after it.
    """
    return {i for i in range(len(messages)) if is_reflected_correction(messages, i)
            or (traj.recovered and is_revision_after_failure(messages, i))}


def step_rows(trajs: Iterable[Trajectory], *, corrections_only: bool = False) -> list[dict[str, Any]]:
    """``step`` rows: successes holding at least one wrong step followed by a correction (see :func:`corrections`)."""
    out = []
    for t in trajs:
        messages = without_memory(t.messages)
        fixes = corrections(t, messages)
        if not t.success or not fixes:
            continue
        off = corrections_only
        dicts = [message_dict(m, False if off and i not in fixes else None) for i, m in enumerate(messages)]
        out.append(row(t, dicts, "step", corrections=len(fixes)))
    return out
