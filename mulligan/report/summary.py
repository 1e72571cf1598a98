"""The figures of a report: per run, by task type and split, histograms, and task-by-task comparison of runs.

Success is per task, as in ``summary.json`` (:func:`mulligan.runner.metrics.summarize`): a task
counts once, won if any of its trials won.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Sequence

from mulligan.records import Trajectory
from mulligan.report.episodes import first_error, is_recovered
from mulligan.runner.metrics import summarize

MAX_BINS = 25
"""Histogram bars at most; wider bins beyond that."""


def by_group(trajs: Sequence[Trajectory], group: Callable[[Trajectory], str]) -> dict[str, dict[str, Any]]:
    """Tasks, wins and success rate per group (task type, split), sorted by group name."""
    won: dict[str, dict[str, bool]] = defaultdict(dict)
    for t in trajs:
        key = t.key or t.id
        tasks = won[group(t)]
        tasks[key] = tasks.get(key, False) or t.success
    return {
        name: {"tasks": len(tasks), "won": sum(tasks.values()), "rate": sum(tasks.values()) / len(tasks)}
        for name, tasks in sorted(won.items())
    }


def histogram(values: Sequence[int]) -> dict[str, Any]:
    """Counts of non-negative integers in equal bins: ``{"lo": [bin starts], "width": w, "counts": [...]}``."""
    if not values:
        return {"lo": [], "width": 1, "counts": []}
    top = max(values)
    width = max(1, math.ceil((top + 1) / MAX_BINS))
    counts = [0] * (top // width + 1)
    for v in values:
        counts[v // width] += 1
    return {"lo": [i * width for i in range(len(counts))], "width": width, "counts": counts}


def run_summary(trajs: Sequence[Trajectory], saved: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """One run's figures: ``summarize``'s, plus recovery, groups and histograms.

    Args:
        trajs: The run's trajectories.
        saved: Its ``summary.json`` (empty while the run is still going): gives the run's wall time.
        config: Its ``config.yaml``: env, split, agent and model.
    """
    s = summarize(trajs)
    firsts = [f for f in (first_error(t) for t in trajs) if f is not None]
    s.update(
        env=config.get("env") or (trajs[0].env if trajs else ""),
        agent=config.get("agent") or (trajs[0].agent if trajs else ""),
        model=config.get("model") or (trajs[0].model if trajs else "") or "-",
        split=config.get("split") or "-",
        failed=s["episodes"] - s["successes"],
        recovered=sum(1 for t in trajs if is_recovered(t)),
        with_error=len(firsts),
        wall_s=saved.get("wall_s"),
        finished=bool(saved),
        by_type=by_group(trajs, lambda t: t.task_type or "-"),
        by_split=by_group(trajs, lambda t: t.split or "-"),
        steps_hist=histogram([t.num_steps for t in trajs]),
        first_error_hist=histogram(firsts),
    )
    return s


def compare(runs: Sequence[Sequence[Trajectory]]) -> dict[str, Any]:
    """Task-by-task outcomes of several runs, and what each run gained and lost against the one before.

    Returns:
        ``tasks`` (task ids, in first-seen order), ``cells`` (per run, per task: ``[won, index of its
        last trial in the run]``, or None where the run lacks the task), ``differ`` (tasks whose
        outcome is not the same in every run that has them) and ``changes`` (per run after the first:
        tasks gained and lost against the previous run, counted over tasks both have).
    """
    tasks: dict[str, None] = {}
    outcome: list[dict[str, list[Any]]] = []
    for trajs in runs:
        cells: dict[str, list[Any]] = {}
        for i, t in enumerate(trajs):
            tasks.setdefault(t.task_id)
            won = bool(cells.get(t.task_id, [False])[0]) or t.success
            cells[t.task_id] = [won, i]
        outcome.append(cells)
    order = list(tasks)
    table = [[cells.get(task) for task in order] for cells in outcome]
    differ = sum(1 for j in range(len(order)) if len({row[j][0] for row in table if row[j] is not None}) > 1)
    changes = []
    for before, after in zip(outcome, outcome[1:]):
        both = [task for task in order if task in before and task in after]
        changes.append({
            "gained": sum(1 for task in both if after[task][0] and not before[task][0]),
            "lost": sum(1 for task in both if before[task][0] and not after[task][0]),
            "common": len(both),
        })
    return {"tasks": order, "cells": table, "differ": differ, "changes": changes}
