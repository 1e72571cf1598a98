"""What the memory stores: experiences (instruction + key steps of a success) and lessons.

An experience is the abstraction EchoTrail keeps of a successful trajectory: the instruction and
the steps that did the work, not the whole transcript. :func:`key_steps` picks them without
knowing the env: when the agent's thoughts name subgoals (the household expert's and policies
trained on it do), each run of steps under one subgoal keeps only its last two steps (the search
that led nowhere drops out); the winning step is always kept, and at most ``limit`` steps, the
last ones, survive.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from pydantic import Field

from mulligan.records import Record, Step, Trajectory, new_id

KEY_STEPS = 12
"""Steps kept per experience at most."""
STEP_CHARS = 2000
"""Characters kept of one action (code submissions are long)."""


class KeyStep(Record):
    thought: str | None = None
    action: str
    observation: str = ""


class Experience(Record):
    """One successful way of doing a task; near-duplicates are merged into one entry."""

    id: str = Field(default_factory=lambda: new_id("exp-"))
    env: str
    instruction: str
    steps: list[KeyStep]
    task_ids: list[str] = Field(default_factory=list)
    """Tasks this experience was seen on (the first few)."""
    traj_ids: list[str] = Field(default_factory=list)
    source: str = ""
    critic_score: float | None = None
    """Score of the critic that approved it, when a critic (not the env's win) admitted it."""
    count: int = 1
    """Successes merged into this entry (itself included)."""
    uses: int = 0
    """Episodes that were shown this entry."""
    wins: int = 0
    """Of those, the ones that won."""
    created: float = Field(default_factory=time.time)
    updated: float = Field(default_factory=time.time)

    @property
    def text(self) -> str:
        """What retrieval matches a new task against: the instruction."""
        return self.instruction


class Lesson(Record):
    """A reflection kept for one (env, task) across runs."""

    id: str = Field(default_factory=lambda: new_id("lesson-"))
    env: str
    task_id: str
    text: str
    trial: int | None = None
    traj_id: str | None = None
    created: float = Field(default_factory=time.time)


def usefulness(e: Experience) -> float:
    """How much an entry is worth keeping; the capacity policy evicts the lowest first.

    The Laplace-smoothed win rate of the episodes that were shown it, ``(wins + 1) / (uses + 2)``
    (0.5 for an entry never used: no evidence either way), plus ``0.05 * ln(1 + count)`` for
    support: a task type solved many times recurs, and its entry absorbed those duplicates.
    """
    return (e.wins + 1) / (e.uses + 2) + 0.05 * math.log1p(e.count)


def key_steps(traj: Trajectory, limit: int = KEY_STEPS) -> list[KeyStep]:
    """The steps of a successful trajectory that did the work (see the module docstring)."""
    steps = [s for s in traj.steps if s.action and s.valid]
    if not steps:
        return []
    runs: list[list[Step]] = []
    for s in steps:
        goal = _subgoal(s.thought)
        if runs and goal and _subgoal(runs[-1][-1].thought) == goal:
            runs[-1].append(s)
        else:
            runs.append([s])
    chosen = [s for run in runs for s in run[-2:]][-limit:]
    return [KeyStep(thought=s.thought, action=str(s.action)[:STEP_CHARS], observation=s.observation[:200])
            for s in chosen]


def _subgoal(thought: str | None) -> str:
    return (thought or "").strip().lower()


def experience_from(traj: Trajectory, *, critic_score: float | None = None) -> Experience | None:
    """The experience of a trajectory, or None when it has no instruction or no usable step."""
    steps = key_steps(traj)
    instruction = (traj.goal or "").strip()
    if not steps or not instruction:
        return None
    return Experience(
        env=traj.env, instruction=instruction, steps=steps, task_ids=[traj.task_id], traj_ids=[traj.id],
        source=traj.source, critic_score=critic_score,
    )


_WORD = re.compile(r"[a-z0-9_]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have i in is it its of on or that the their them then this to "
    "was were will with you your".split()
)
"""Words too common to rank by: with rank fusion, a match on "the" alone would outvote a dense hit."""


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords (numbers kept: ``cabinet 3`` and ``cabinet 4`` differ)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def text_hash(text: str) -> str:
    """Key of a text in the embedding cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def same_words(a: str, b: str, threshold: float = 0.9) -> bool:
    """Lexical near-duplicate test: Jaccard similarity of the word sets at least ``threshold``."""
    sa, sb = set(tokens(a)), set(tokens(b))
    if not sa or not sb:
        return a.strip().lower() == b.strip().lower()
    return len(sa & sb) / len(sa | sb) >= threshold
