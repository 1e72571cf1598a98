"""Task suites: the named, split collections of task ids an environment family offers.

Every env family implements :class:`Suite`. A task id is ``"<split>-<index>"`` (``"train-17"``,
``"unseen-3"``) and is passed to the env as ``env.reset(options={"task": task_id})``.
:class:`IndexedSuite` implements the protocol for suites whose splits are numbered, finite or
unlimited (generated).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from mulligan.errors import ConfigError, EnvError


@runtime_checkable
class Suite(Protocol):
    """A named collection of tasks of one environment, in splits.

    Attributes:
        env_id: The gymnasium id of the environment the tasks run in.
        name: The suite's name, unique within its environment.
        splits: The split names, e.g. ``["train", "seen", "unseen"]``.

    A suite may also have ``default_split``, the split a run uses when none is given (see
    :func:`default_split` for the fallback).
    """

    env_id: str
    name: str
    splits: list[str]

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids of a split.

        Args:
            split: One of :attr:`splits`.
            n: How many ids; None means all of them (an error for an unlimited split).
            start: The index of the first id.

        Returns:
            The ids, in index order.
        """
        ...

    def describe(self) -> str:
        """A few lines for humans: what the tasks are and how the splits differ."""
        ...


PREFERRED_DEFAULT_SPLITS = ("test", "unseen")
"""Splits a run uses by default, in this order, when a suite names no ``default_split``."""


def default_split(suite: Suite) -> str:
    """The split a run uses when none is given: the suite's ``default_split`` attribute if it has
    one, else ``test``, else ``unseen``, else its last split."""
    named = getattr(suite, "default_split", None)
    if isinstance(named, str) and named in suite.splits:
        return named
    return next((s for s in PREFERRED_DEFAULT_SPLITS if s in suite.splits), suite.splits[-1])


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A " Did you mean ...?" hint for a misspelt name, or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def parse_task_id(task_id: str) -> tuple[str, int]:
    """Split ``"<split>-<index>"`` into its parts.

    Raises:
        ConfigError: The id is not of that form.
    """
    if isinstance(task_id, str):
        split, sep, index = task_id.rpartition("-")
        if sep and split and index.isdigit() and index.isascii():
            return split, int(index)
    raise ConfigError(f"bad task id {task_id!r}: expected '<split>-<index>', e.g. 'train-17'")


def stable_hash(text: str) -> int:
    """A 64-bit hash of a string that is the same in every process (splits are built on it)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


SEEN_MOD = 2
"""One in this many instances of the train distribution belongs to ``seen``."""


def instance_is_seen(fingerprint: str) -> bool:
    """Whether an instance drawn like ``train`` belongs to ``seen`` instead (by its fingerprint)."""
    return stable_hash("instance:" + fingerprint) % SEEN_MOD == 0


def checked_task_id(task_id: str, splits: Sequence[str], family: str) -> tuple[str, int]:
    """:func:`parse_task_id` for an env of ``family``, whose splits are ``splits``.

    Raises:
        EnvError: The id is malformed or names a split the env does not have.
    """
    try:
        split, index = parse_task_id(task_id)
    except ConfigError as e:
        raise EnvError(str(e)) from None
    if split not in splits:
        raise EnvError(f"unknown {family} split {split!r} in task id {task_id!r}.{suggest(split, splits)}")
    return split, index


def reset_task_id(options: Mapping[str, Any], default_task: str | None, rng: Any, splits: Sequence[str],
                  family: str) -> str:
    """The task an env's ``reset`` runs: ``options["task"]``, else the env's default task, else one
    drawn with ``rng`` (the env's ``np_random``) from ``options["split"]`` (default ``train``).

    Raises:
        EnvError: An unknown split, or a task that is not a string.
    """
    task_id = options.get("task") or default_task
    if task_id is None:
        split = options.get("split", "train")
        if split not in splits:
            raise EnvError(f"unknown {family} split {split!r}; use one of {', '.join(splits)}")
        task_id = f"{split}-{int(rng.integers(0, 2**31 - 1))}"
    if not isinstance(task_id, str):
        raise EnvError(f"task must be a task id string like 'train-17', got {task_id!r}")
    return task_id


@dataclass
class IndexedSuite:
    """A suite whose task ids are ``"<split>-<index>"`` for index 0, 1, 2, ...

    Attributes:
        env_id: The gymnasium id of the environment.
        name: The suite name.
        splits: The split names.
        sizes: Split -> number of tasks; a split missing here (or None) is unlimited.
        description: What :meth:`describe` returns.
    """

    env_id: str
    name: str
    splits: list[str]
    sizes: dict[str, int | None] = field(default_factory=dict)
    description: str = ""

    def size(self, split: str) -> int | None:
        """Number of tasks in a split, None when unlimited."""
        self._check_split(split)
        return self.sizes.get(split)

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids of a split (see :meth:`Suite.task_ids`).

        Raises:
            ConfigError: Unknown split, negative ``start`` or ``n``, ``n`` missing for an unlimited
                split, or a range past the end of a finite one.
        """
        size = self.size(split)
        if start < 0 or (n is not None and n < 0):
            raise ConfigError(f"start and n must be non-negative, got start={start}, n={n}")
        if n is None:
            if size is None:
                raise ConfigError(f"split {split!r} of suite {self.name!r} is unlimited: say how many tasks (n)")
            n = max(size - start, 0)
        elif size is not None and start + n > size:
            raise ConfigError(
                f"split {split!r} of suite {self.name!r} has {size} tasks; asked for {start}..{start + n}"
            )
        return [f"{split}-{i}" for i in range(start, start + n)]

    def describe(self) -> str:
        """The suite's description and splits."""
        sizes = ", ".join(f"{s} ({'unlimited' if self.sizes.get(s) is None else self.sizes[s]})" for s in self.splits)
        return f"{self.name} on {self.env_id}: {self.description}\nsplits: {sizes}"

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ConfigError(f"unknown split {split!r} of suite {self.name!r}.{suggest(split, self.splits)}"
                              f" Splits: {', '.join(self.splits)}")
