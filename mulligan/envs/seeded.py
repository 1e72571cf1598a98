"""Seeds as tasks: how an env registered without suites (any gymnasium text env) runs on a suite.

Its suite has one unlimited split, ``seed``; task ``seed-17`` is ``env.reset(seed=17)``. The
:class:`SeedTasks` wrapper turns mulligan's ``reset(options={"task": "seed-17"})`` into that
call, so agents need not know the env has no tasks of its own.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mulligan.envs.suites import IndexedSuite, checked_task_id

SEED_SPLIT = "seed"


class SeedSuite(IndexedSuite):
    """The suite of an env without one: task ``seed-N`` resets the env with ``seed=N``."""

    def __init__(self, env_id: str) -> None:
        super().__init__(env_id=env_id, name="seeds", splits=[SEED_SPLIT], sizes={},
                         description="no suites of its own: task seed-N is reset(seed=N)")


class SeedTasks(gym.Wrapper):
    """Answers ``reset(options={"task": "seed-N"})`` with the wrapped env's ``reset(seed=N)``.

    Other options pass through; ``info`` gains ``task_id`` and ``split`` when the env sets none.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        options = dict(options or {})
        task = options.pop("task", None)
        if task is not None:
            _, seed = checked_task_id(task, [SEED_SPLIT], "seed-task")
        observation, info = self.env.reset(seed=seed, options=options or None)
        info = dict(info)
        if task is not None:
            info.setdefault("task_id", task)
            info.setdefault("split", SEED_SPLIT)
        return observation, info
