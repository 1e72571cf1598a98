"""The ``dpo`` format: (prompt, chosen, rejected) at the same state, in TRL's conversational form.

Pairs are one reply each, chosen over rejected after the same transcript:

- ``divergence``: a failure and a success of one task from the same prompt (memory removed, so a
  Reflexion retry pairs with the trial it improved on, as in Re-ReST); at the first step where
  they differ, the success's reply is chosen.
- ``revision``: a critic rejected a proposal and the model's revision passed it; the revision is
  chosen over the rejected proposal.
- ``correction``: the teacher judged an executed step wrong; its expert reply from the state before
  the step (``Thought: <subgoal>`` / ``Action: <suggestion>``) is chosen. Source ``"teacher"``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from mulligan.records import Message, Trajectory
from mulligan.training.rows import Transcript, teacher_touched


def _turns(messages: Iterable[Message]) -> list[dict[str, Any]]:
    return [m.to_openai() for m in messages]


def _pair(chosen_tr: Transcript, prompt_tr: Transcript, prompt_end: int, chosen: Message, rejected: Message,
          kind: str) -> dict[str, Any]:
    """A row: ``prompt_tr``'s first ``prompt_end`` messages, then the two replies."""
    traj, other = chosen_tr.traj, prompt_tr.traj
    return {
        "prompt": _turns(prompt_tr.messages[:prompt_end]),
        "chosen": _turns([chosen]),
        "rejected": _turns([rejected]),
        "format": "dpo",
        "pair": kind,
        "source": "teacher" if teacher_touched(traj) or teacher_touched(other) else traj.source,
        "task_id": traj.task_id,
        "traj_id": traj.id,
        "rejected_id": other.id,
        "env": traj.env,
    }


def _divergence(fail: Transcript, successes: list[Transcript]) -> dict[str, Any] | None:
    """The pair at the latest point where ``fail`` leaves a success of the same prompt."""
    best, k_best = None, -1
    for succ in successes:
        if fail.same_prompt(succ):
            k = succ.common_prefix(fail)
            if k > k_best and k < len(fail.steps) and k < len(succ.steps):
                best, k_best = succ, k
    if best is None:
        return None
    chosen, rejected = best.messages[best.reply(k_best)], fail.messages[fail.reply(k_best)]
    return _pair(best, fail, fail.turn_start(k_best), chosen, rejected, "divergence")


def _within(tr: Transcript) -> list[dict[str, Any]]:
    """Revision and correction pairs inside one trajectory."""
    out = []
    for j, step in enumerate(tr.steps):
        start, reply = tr.turn_start(j), tr.reply(j)
        critique = step.critique
        if step.info.get("rejected") and reply > start and (critique is None or critique.verdict != "bad"):
            out.append(_pair(tr, tr, start, tr.messages[reply], tr.messages[start], "revision"))
        elif step.info.get("teacher") == "wrong" and critique is not None and critique.suggestion:
            subgoal = getattr(critique, "subgoal", None)
            action = f"Action: {critique.suggestion}"
            text = f"Thought: {subgoal}\n{action}" if subgoal else action
            chosen = Message(role="assistant", content=text)
            out.append(_pair(tr, tr, start, chosen, tr.messages[reply], "correction"))
    return out


def dpo_rows(trajs: Iterable[Trajectory]) -> list[dict[str, Any]]:
    """``dpo`` rows: divergence, revision and correction pairs (see the module docstring)."""
    aligned = [tr for t in trajs if (tr := Transcript.of(t)) is not None]
    by_task: dict[str, list[Transcript]] = defaultdict(list)
    for tr in aligned:
        by_task[tr.traj.task_id].append(tr)
    out = []
    for group in by_task.values():
        successes = [tr for tr in group if tr.traj.success]
        for tr in group:
            if not tr.traj.success and (pair := _divergence(tr, successes)) is not None:
                out.append(pair)
    for tr in aligned:
        out.extend(_within(tr))
    return out
