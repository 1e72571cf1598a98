"""Keeping a policy's action among the env's admissible actions (constrained decoding).

Envs like the household list what can be done in ``info["admissible_actions"]``. A small policy
often says something close but not there (``go to cabinet 3`` while standing at it), repeats a
command that just did nothing, or goes round in a loop (the detectors of
:mod:`mulligan.reflection.detectors`). With ``admissible="likelihood"`` such an action is replaced by the
admissible action the model itself finds likeliest after its own thought (the backend scores the
candidates; see :class:`~mulligan.llm.base.ScoreRequest`); with ``"nearest"``, by the most similar
admissible string, which works with any backend. Actions that are admissible and no dead end pass
untouched, so a strong model is never overruled. Where the env says its list is incomplete
(ScienceWorld's leaves out actions it accepts), only actions it already answered as invalid are
rewritten: "open door to greenhouse" is never turned into "close door to greenhouse".
"""

from __future__ import annotations

import difflib
from typing import Any, Literal, Sequence

from mulligan.agents.parsing import ParsedReply
from mulligan.llm.base import ScoreRequest, can_score
from mulligan.records import Message, Step
from mulligan.reflection.detectors import find_loop
from mulligan.reflection.feedback import failed_since_last_change, normalize_action

AdmissibleMode = Literal["off", "nearest", "likelihood"]


def _dead_end(norm: str, failed: set[str], done: list[str]) -> bool:
    """Whether a normalized action did nothing since the last change, or would close a loop."""
    return norm in failed or find_loop([*done, norm]) is not None


def _done(history: Sequence[Step]) -> list[str]:
    return [normalize_action(s.action) for s in history if s.action is not None]


def needs_constraint(action: str, admissible: Sequence[str], history: Sequence[Step], *, complete: bool = True) -> bool:
    """Whether ``action`` is outside ``admissible``, already did nothing since the last change, or
    would repeat itself a third time or close a 2- or 3-action cycle.

    When the env says its list is incomplete (``info["admissible_complete"] is False``: it accepts
    actions it does not list), only an action it already answered as invalid since the last
    change is rewritten; an unlisted action runs and the env judges it.
    """
    norm = normalize_action(action)
    if not complete:
        return norm in failed_since_last_change(history)
    if norm not in {normalize_action(a) for a in admissible}:
        return True
    return _dead_end(norm, failed_since_last_change(history), _done(history))


def candidates_for(admissible: Sequence[str], history: Sequence[Step]) -> list[str]:
    """The admissible actions that are no dead end (all of them when every one is)."""
    failed, done = failed_since_last_change(history), _done(history)
    kept = [a for a in admissible if not _dead_end(normalize_action(a), failed, done)]
    return kept or list(admissible)


def nearest(action: str, candidates: Sequence[str]) -> str:
    """The candidate most similar to ``action`` as a string."""
    norm = normalize_action(action)
    return max(candidates, key=lambda c: difflib.SequenceMatcher(None, norm, normalize_action(c)).ratio())


async def constrain(
    mode: AdmissibleMode,
    parsed: ParsedReply,
    *,
    llm: Any,
    messages: list[Message],
    info: dict[str, Any],
    history: Sequence[Step],
    reply: str = "",
) -> ParsedReply | None:
    """The reply with its action moved into the admissible set, or None when it may stand.

    ``messages`` is the prompt that ``reply`` answered. ``likelihood`` scores each candidate as the
    reply's own text up to its ``Action:`` followed by the candidate; it falls back to ``nearest``
    when the backend cannot score.
    """
    admissible = info.get("admissible_actions")
    complete = info.get("admissible_complete", True) is not False
    if mode == "off" or not admissible or not needs_constraint(parsed.action, admissible, history, complete=complete):
        return None
    candidates = candidates_for([str(a) for a in admissible], history)
    if mode == "likelihood" and can_score(llm):
        prefix = _reply_prefix(reply) or rewritten_reply(ParsedReply("", parsed.thought))
        (scores,) = await llm.score([ScoreRequest(messages=messages, prefix=prefix, candidates=candidates)])
        choice = candidates[max(range(len(candidates)), key=scores.__getitem__)]
    else:
        choice = nearest(parsed.action, candidates)
    return ParsedReply(action=choice, thought=parsed.thought)


def _reply_prefix(reply: str) -> str:
    """The reply up to and including its last ``Action:`` and one space ("" without one)."""
    at = reply.lower().rfind("action:")
    return reply[: at + len("action:")] + " " if at >= 0 else ""


def rewritten_reply(parsed: ParsedReply) -> str:
    """The reply text that states ``parsed`` in the ReAct format (what the transcript records)."""
    return (f"Thought: {parsed.thought}\n" if parsed.thought else "") + f"Action: {parsed.action}"
