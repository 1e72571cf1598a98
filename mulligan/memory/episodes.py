"""The memory as agents and the runner use it: recall at episode start, remember after.

``recall`` runs when an episode's first observation is in: the task's lessons from earlier runs
and the ``k`` experiences most relevant to its goal become one ``memory`` message after the
system prompt, and what was shown is returned for ``Trajectory.retrieved``. ``remember`` runs
when a task's trajectories are done: with ``write`` on, wins become experiences (a critic's
approval admits a trajectory too, through ``approve``), each episode that was shown experiences
records whether it won (which feeds the capacity policy), and the lessons Reflexion wrote persist
for the next run on the same task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict

from mulligan.memory.entries import Lesson, experience_from
from mulligan.memory.render import render_examples, render_lessons
from mulligan.memory.store import MemoryStore
from mulligan.options import build_options
from mulligan.records import Message, Retrieved, Trajectory


class MemoryConfig(BaseModel):
    """Options of a run's memory (``mulligan run --memory PATH --memory-option KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    k: int = 2
    """Worked examples put in each prompt (0: none)."""
    lessons: int = 3
    """Lessons of the same task from earlier runs put in each prompt (0: none)."""
    write: bool = True
    """Write back: wins become experiences, uses are counted, Reflexion's lessons persist."""
    dense: bool = True
    """Hybrid retrieval with embeddings (needs the ``memory`` extra); False: BM25 alone."""
    capacity: int = 5000
    """Experiences kept per env (the least useful are evicted past it)."""
    min_score: float = 0.0
    """Fused score an experience needs to be shown (1/61 ~ 0.016 is rank 1 of one retriever)."""


Approve = Callable[[Trajectory], "float | bool | None"]
"""A critic's verdict on a trajectory that did not win: truthy (or a score) admits it as experience."""


class EpisodeMemory:
    """A :class:`MemoryStore` plus the policy of when to read and write it.

    Args:
        path: The memory directory.
        config: Options (defaults when None); ``options`` override single fields.
        approve: Critic admitting non-winning trajectories (EchoTrail's validator); None: wins only.
    """

    def __init__(self, path: str | Path, config: MemoryConfig | None = None, *, approve: Approve | None = None,
                 **options: Any):
        self.config = build_options(MemoryConfig, options, "memory", base=config)
        self.approve = approve
        self.store = MemoryStore(path, dense=self.config.dense, capacity=self.config.capacity)
        # Load the model and embed the store before the first episode waits on it.
        if self.config.k > 0:
            self.store.prepare()

    def recall(self, traj: Trajectory) -> tuple[list[Message], list[Retrieved]]:
        """The memory message for a new episode of ``traj.task_id``, and what it holds."""
        self.store.refresh()  # another process may have written since the last episode
        retrieved: list[Retrieved] = []
        parts = []
        lessons = self.store.lessons(traj.env, traj.task_id, self.config.lessons) if self.config.lessons else []
        if lessons:
            parts.append(render_lessons(lessons))
            retrieved += [Retrieved(id=lesson.id, kind="lesson", score=1.0) for lesson in lessons]
        hits = self.store.search(traj.goal, env=traj.env, k=self.config.k) if self.config.k and traj.goal else []
        hits = [(e, h) for e, h in hits if h.score >= self.config.min_score]
        if hits:
            parts.append(render_examples([e for e, _ in hits]))
            retrieved += [
                Retrieved(id=h.id, kind="experience", score=h.score, dense_rank=h.dense_rank, bm25_rank=h.bm25_rank)
                for _, h in hits
            ]
        text = "\n\n".join(p for p in parts if p)
        return ([Message(role="user", content=text, kind="memory")] if text else []), retrieved

    def remember(self, trajectories: list[Trajectory]) -> None:
        """Write back what a finished task taught (nothing unless ``write`` is on)."""
        if not self.config.write:
            return
        for traj in trajectories:
            used = [r.id for r in traj.retrieved if r.kind == "experience"]
            self.store.record_use(used, traj.success)
            score = None if traj.success or self.approve is None else self.approve(traj)
            if traj.success or score:
                entry = experience_from(traj, critic_score=None if isinstance(score, bool) else score)
                if entry is not None:
                    self.store.add(entry)
            for reflection in traj.reflections:
                self.store.add_lesson(Lesson(
                    env=traj.env, task_id=traj.task_id, text=reflection.text, traj_id=reflection.traj_id,
                ))

    def close(self) -> None:
        self.store.close()
