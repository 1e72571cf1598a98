"""Aggregate metrics of a set of trajectories (what ``summary.json`` holds)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from mulligan.records import Trajectory


def summarize(trajectories: Iterable[Trajectory]) -> dict[str, Any]:
    """Success, steps, invalid actions, tokens and end reasons over ``trajectories``.

    Success is per task (episode key): a task counts once, as won if any of its trials won, so
    multi-trial agents (Reflexion) are not credited per trial. Step and token figures are over
    all trajectories.
    """
    trajs = list(trajectories)
    won_by_key: dict[str, bool] = {}
    for t in trajs:
        key = t.key or t.id
        won_by_key[key] = won_by_key.get(key, False) or t.success
    n = len(won_by_key)
    steps = sum(t.num_steps for t in trajs)
    invalid = sum(t.invalid_steps for t in trajs)
    successes = sum(won_by_key.values())
    prompt = sum(t.usage.prompt_tokens for t in trajs)
    completion = sum(t.usage.completion_tokens for t in trajs)
    return {
        "episodes": n,
        "trajectories": len(trajs),
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "avg_steps": steps / len(trajs) if trajs else 0.0,
        "invalid_action_rate": invalid / steps if steps else 0.0,
        "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
        "errors": sum(1 for t in trajs if t.error),
        "end_reasons": dict(Counter(t.end_reason or "unknown" for t in trajs).most_common()),
        "episode_wall_s": sum(t.wall_s for t in trajs),
    }
