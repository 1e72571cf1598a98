"""What the report says about one episode: its first error, its recovery, its row and its turn-by-turn view.

A step is an error when the env answered it as having no effect (``valid`` False), a critic or the
teacher judged it bad, a critic rejected a proposal before it ran (``info["rejected"]``), or it was
a deliberate slip of the noisy expert (``info["perturbed"]``). An episode *recovered* when it won
after an error, or won as a retry after a failed trial (a Reflexion lesson at work).
"""

from __future__ import annotations

from typing import Any

from mulligan.records import Step, Trajectory

HEAVY_KEYS = frozenset({"token_ids", "logprobs", "prompt_token_ids"})
"""Per-token data a backend may store on steps; left out of the page (it is for RL, not for reading)."""


def step_errors(step: Step) -> list[str]:
    """Why ``step`` counts as an error (empty: it does not)."""
    why = []
    if not step.valid:
        why.append("invalid")
    if step.critique is not None and step.critique.verdict == "bad":
        why.append("judged bad")
    if step.info.get("rejected"):
        why.append("proposal rejected")
    if step.info.get("teacher") == "wrong":
        why.append("teacher: wrong")
    if step.info.get("perturbed"):
        why.append("perturbed")
    return why


def _ran_well(step: Step) -> bool:
    """The action that finally ran at this step was fine (a rejected proposal may precede it)."""
    bad_verdict = step.critique is not None and step.critique.verdict == "bad"
    return (step.valid and step.action is not None and not bad_verdict and not step.info.get("perturbed")
            and step.info.get("teacher") != "wrong")


def first_error(traj: Trajectory) -> int | None:
    """Index of the episode's first error step, or None."""
    return next((i for i, s in enumerate(traj.steps) if step_errors(s)), None)


def recovery_step(traj: Trajectory) -> int | None:
    """Index of the step where a won episode got back on track after its first error, or None."""
    if not traj.success:
        return None
    marked = next((i for i, s in enumerate(traj.steps) if s.info.get("recovered")), None)
    if marked is not None:
        return marked
    first = first_error(traj)
    if first is None:
        return None
    return next((i for i in range(first, len(traj.steps)) if _ran_well(traj.steps[i])), None)


def is_recovered(traj: Trajectory) -> bool:
    """Won after an error, or won as a retry of a failed trial."""
    return traj.success and (traj.recovered or traj.trial > 0 or first_error(traj) is not None)


def index_row(traj: Trajectory, run: int, index: int) -> dict[str, Any]:
    """The episode's row in the report's table (short keys: there can be 10,000 of them)."""
    return {
        "r": run, "i": index, "task": traj.task_id, "type": traj.task_type or "-", "split": traj.split or "-",
        "trial": traj.trial, "won": traj.success, "rec": is_recovered(traj), "steps": traj.num_steps,
        "inv": traj.invalid_steps, "fe": first_error(traj), "end": traj.end_reason or "unknown",
        "tok": traj.usage.total, "wall": round(traj.wall_s, 3), "src": traj.source, "exc": bool(traj.error),
    }


def _train_flags(traj: Trajectory) -> list[bool | None]:
    """The ``train`` flag of the assistant message that ran at each step (None where none is found).

    A step's final reply is the assistant message equal to its ``raw`` (rejected proposals come
    before it); where an adapter rewrote the reply (``admissible``) the next message stands in.
    """
    replies = [m for m in traj.messages if m.role == "assistant"]
    flags: list[bool | None] = []
    at = 0
    for step in traj.steps:
        ahead = len(step.info.get("rejected") or []) + 2
        match = next((j for j in range(at, min(at + ahead, len(replies))) if replies[j].content == step.raw), None)
        if match is None:
            match = at + len(step.info.get("rejected") or [])
        if match >= len(replies):
            flags.append(None)
            continue
        flags.append(replies[match].train)
        at = match + 1
    return flags


def _light(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _light(v) for k, v in value.items() if k not in HEAVY_KEYS}
    return value


def detail(traj: Trajectory) -> dict[str, Any]:
    """Everything the episode view shows: the trajectory (no per-token data) and its marks."""
    data = traj.model_dump(mode="json", exclude_none=True)
    for step in data["steps"]:
        step["info"] = _light(step.get("info", {}))
    for message in data["messages"]:
        for key in HEAVY_KEYS:
            message.pop(key, None)
    data["marks"] = {
        "first_error": first_error(traj),
        "recovery": recovery_step(traj),
        "recovered": is_recovered(traj),
        "errors": [step_errors(s) for s in traj.steps],
        "train": _train_flags(traj),
    }
    return data
