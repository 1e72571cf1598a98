"""The ``agentr`` format (Agent-R): a failed prefix up to the first error with loss off, a revision
turn, then a good continuation from the same state with loss on.

The revision turn and the first good action share one assistant message (``Reflection: ...`` then
the continuation's own ``Thought:``/``Action:``): one reply per turn is what the policy produces at
test time. Rows come from what a run holds, in this order:

1. Precomputed splices (``source="splice"``, e.g. from the tree-search collector): as recorded.
2. Corrected trajectories (the teacher mode's): the first reflected correction is the revision
   turn; everything before it loses its loss.
3. Recovered trajectories: a success whose first error is marked (a step critique with verdict
   "bad", see ``mulligan.reflection.mark_first_error``) and which went on to win; the reply right
   after the error becomes the revision turn.
4. Failed/successful pairs of one task with a common prefix: the failure's first error is marked,
   and the success either passed through that same error (then it is case 3) or left the common
   prefix while the failure's steps from there to the error all had no effect, so the state after
   the error is the state the success continued from.

Rows built with anything the teacher touched have ``source="teacher"``; rows continued with an
expert demonstration have ``source="expert"``.
"""

from __future__ import annotations

from typing import Any, Iterable

from mulligan.records import Step, Trajectory
from mulligan.training.formats import is_reflected_correction
from mulligan.training.rows import Transcript, message_dict, revision_text, row, teacher_touched, without_memory


def splice_messages(prefix: Transcript, error: int, cont: Transcript, k: int, wrong: Step) -> list[dict[str, Any]]:
    """``prefix`` through its executed step ``error`` (loss off), then ``cont`` from its step ``k``.

    The reply that executed ``cont``'s step ``k`` opens with the reflection on ``wrong`` and carries
    loss; replies before it in that turn (rejected proposals) stay off; the rest keep their flags.
    """
    out = [message_dict(m, False) for m in prefix.messages[: prefix.observations[error] + 1]]
    reply = cont.reply(k)
    for i in range(cont.turn_start(k), len(cont.messages)):
        m = cont.messages[i]
        if i == reply:
            d = message_dict(m, True)
            d["content"] = f"{revision_text(wrong)}\n{m.content}"
        else:
            d = message_dict(m, False if i < reply else None)
        out.append(d)
    return out


def _corrected(t: Trajectory) -> list[dict[str, Any]] | None:
    """Case 2: everything before the first reflected correction loses its loss."""
    messages = without_memory(t.messages)
    first = next((i for i in range(len(messages)) if is_reflected_correction(messages, i)), None)
    if first is None:
        return None
    return [message_dict(m, False if i < first else None) for i, m in enumerate(messages)]


def _pair(fail: Transcript, succ: Transcript) -> tuple[list[dict[str, Any]], Trajectory] | None:
    """Case 4 (and case 3 through a shared error): the splice of a failure and a success, if sound."""
    e = fail.first_error()
    if e is None or not fail.same_prompt(succ):
        return None
    k = succ.common_prefix(fail)
    wrong = fail.steps[e]
    if k > e:
        if e + 1 >= len(succ.steps):
            return None
        return splice_messages(succ, e, succ, e + 1, wrong), succ.traj
    if k >= len(succ.steps) or any(s.valid for s in fail.steps[k : e + 1]):
        return None
    return splice_messages(fail, e, succ, k, wrong), succ.traj


def agentr_rows(trajs: Iterable[Trajectory]) -> list[dict[str, Any]]:
    """``agentr`` rows from the four sources listed in the module docstring."""
    trajs = list(trajs)
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for t in trajs:
        if t.source == "splice":
            out.append(row(t, [message_dict(m) for m in without_memory(t.messages)], "agentr"))
            used.add(t.id)
        elif t.success and (messages := _corrected(t)) is not None:
            out.append(row(t, messages, "agentr"))
            used.add(t.id)
    aligned = [tr for t in trajs if t.id not in used and (tr := Transcript.of(t)) is not None]
    for tr in aligned:
        e = tr.first_error()
        if tr.traj.success and e is not None and e + 1 < len(tr.steps):
            messages = splice_messages(tr, e, tr, e + 1, tr.steps[e])
            out.append(row(tr.traj, messages, "agentr", source=_source(tr.traj)))
            used.add(tr.traj.id)
    # The policy's own successes continue a failure before expert demonstrations do.
    successes = sorted((tr for tr in aligned if tr.traj.success), key=lambda tr: tr.traj.source == "expert")
    for fail in (tr for tr in aligned if not tr.traj.success):
        for succ in (tr for tr in successes if tr.traj.task_id == fail.traj.task_id):
            spliced = None if succ.traj.id in used else _pair(fail, succ)
            if spliced is not None:
                messages, cont = spliced
                out.append(row(cont, messages, "agentr", source=_source(fail.traj, cont), prefix_id=fail.traj.id))
                used.add(cont.id)
                break
    return out


def _source(*trajs: Trajectory) -> str:
    """Teacher data first, then expert data, else a plain splice of the policy's own steps."""
    if any(teacher_touched(t) for t in trajs):
        return "teacher"
    return "expert" if any(t.source == "expert" for t in trajs) else "splice"
