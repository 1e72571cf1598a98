"""Metrics of one self-training iteration, from trajectories.

- Recovery (the goal of self-correction): among episodes that made an error (an action with no
  effect, an unparseable reply, a step a critic or teacher judged bad, or an earlier failed
  attempt inside the episode), the share that still won.
- Confidence v.s. Critique across trials of a task: CL = P(trial t+1 won | trial t won),
  CS = P(trial t+1 won | trial t failed).
- B-STaR's exploration measures over k samples per task: pass@k (unbiased estimator, Chen et al.
  2021) and distinct-action diversity (distinct actions / actions over a task's samples, averaged
  over tasks).
"""

from __future__ import annotations

from collections import defaultdict
from math import comb
from typing import Any, Iterable, Sequence

from mulligan.records import Trajectory
from mulligan.reflection import normalize_action


def made_error(traj: Trajectory) -> bool:
    """Whether the episode contains an error (see the module docstring)."""
    if traj.recovered:
        return True
    for step in traj.steps:
        if not step.valid or step.info.get("teacher") == "wrong":
            return True
        if step.critique is not None and step.critique.verdict == "bad":
            return True
    return False


def recovery(trajs: Iterable[Trajectory]) -> dict[str, Any]:
    """``{"errors": episodes with an error, "recovered": those that won, "rate": recovered / errors}``."""
    with_error = [t for t in trajs if made_error(t)]
    won = sum(1 for t in with_error if t.success)
    return {"errors": len(with_error), "recovered": won, "rate": won / len(with_error) if with_error else None}


def trial_transitions(trajs: Iterable[Trajectory]) -> dict[str, Any]:
    """CL and CS over consecutive trials (a trial and the one whose ``parent_id`` it is).

    Returns:
        ``{"cl": ..., "cs": ..., "correct": pairs after a win, "wrong": pairs after a failure}``;
        a rate is None when it has no pair.
    """
    trajs = list(trajs)
    by_id = {t.id: t for t in trajs}
    after_win: list[bool] = []
    after_fail: list[bool] = []
    for t in trajs:
        before = by_id.get(t.parent_id or "")
        if before is not None and t.trial == before.trial + 1:
            (after_win if before.success else after_fail).append(t.success)
    return {
        "cl": sum(after_win) / len(after_win) if after_win else None,
        "cs": sum(after_fail) / len(after_fail) if after_fail else None,
        "correct": len(after_win),
        "wrong": len(after_fail),
    }


def pass_at_k(successes: Sequence[bool], k: int) -> float:
    """The chance that at least one of k of these samples won (unbiased, from n >= k samples)."""
    n, c = len(successes), sum(successes)
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    return 1.0 - comb(n - c, k) / comb(n, k)


def by_task(trajs: Iterable[Trajectory]) -> dict[str, list[Trajectory]]:
    """Trajectories grouped by task id, in order."""
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        groups[t.task_id].append(t)
    return dict(groups)


def sampling_metrics(samples: Iterable[Trajectory], k: int) -> dict[str, Any]:
    """pass@1, pass@k and distinct-action diversity over tasks with at least ``k`` samples.

    Args:
        samples: Independent attempts of the same policy (first trials only), several per task.
        k: Samples per task.
    """
    groups = {task: ts for task, ts in by_task(samples).items() if len(ts) >= k}
    if not groups:
        return {"tasks": 0, "k": k, "pass@1": None, f"pass@{k}": None, "diversity": None}
    diversity = []
    for ts in groups.values():
        actions = [normalize_action(s.action) for t in ts for s in t.steps if s.action is not None]
        if actions:
            diversity.append(len(set(actions)) / len(actions))
    return {
        "tasks": len(groups),
        "k": k,
        "pass@1": _mean(pass_at_k([t.success for t in ts], 1) for ts in groups.values()),
        f"pass@{k}": _mean(pass_at_k([t.success for t in ts], k) for ts in groups.values()),
        "diversity": _mean(diversity),
    }


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
