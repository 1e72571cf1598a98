"""The household task suite and its splits: which world each task id names.

A task id is ``"<split>-<index>"`` with split ``train``, ``seen`` or ``unseen`` and any index
``>= 0``; the world it names is a pure function of the id (:func:`build_world`).

How the splits are kept apart, by construction:

* Two partitions are fixed by stable hashes (blake2b, not Python's salted ``hash``):
  a **layout** (room kind + receptacle type counts, :func:`layout_signature`) is *held out* when
  ``h("layout:" + signature) % 5 == 0``; a **combination** (task type, object type, target type)
  is held out when ``h("combo:" + combination) % 5 == 0``.
* ``unseen`` worlds use only held-out layouts *and* held-out combinations; ``train`` and ``seen``
  use neither. So no unseen room layout or task combination is ever generated for train or seen.
* ``train`` and ``seen`` share one distribution and are told apart by a hash of the full instance
  fingerprint (layout with numbered receptacles, every object's place, task and goal sentence):
  ``seen`` when ``h("instance:" + fingerprint) % 2 == 0``, ``train`` otherwise.
* Generation is rejection sampling: attempt ``a`` of task ``<split>-<i>`` seeds
  ``random.Random("household|<split>|<i>|<a>")``, draws a task type, a room kind that can pose it,
  a layout and a combination, places the objects, and keeps the first attempt whose layout,
  combination and fingerprint fall in the split's partitions.
"""

from __future__ import annotations

import random
from functools import lru_cache

from mulligan.envs.household.generate import (
    feasible_combos,
    kinds_for,
    layout_signature,
    populate,
    sample_layout,
)
from mulligan.envs.household.rooms import TASK_TYPES
from mulligan.envs.household.world import World
from mulligan.envs.suites import IndexedSuite, checked_task_id, instance_is_seen, stable_hash
from mulligan.errors import EnvError

ENV_ID = "mulligan/Household-v0"
SPLITS = ["train", "seen", "unseen"]
HOLDOUT_MOD = 5
MAX_ATTEMPTS = 10_000


@lru_cache(maxsize=4096)
def layout_held_out(signature: str) -> bool:
    """Whether a layout signature belongs to the unseen partition."""
    return stable_hash("layout:" + signature) % HOLDOUT_MOD == 0


@lru_cache(maxsize=4096)
def combo_held_out(combo: str) -> bool:
    """Whether a ``task_type|obj|target`` combination belongs to the unseen partition."""
    return stable_hash("combo:" + combo) % HOLDOUT_MOD == 0


def build_world(task_id: str) -> World:
    """The world a task id names, freshly built (the agent in the middle of the room).

    Args:
        task_id: ``"<split>-<index>"``.

    Returns:
        A new :class:`World`; the same id always gives the same world.

    Raises:
        EnvError: The id is malformed or names an unknown split.
    """
    split, index = checked_task_id(task_id, SPLITS, "household")
    unseen = split == "unseen"
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(f"household|{split}|{index}|{attempt}")
        task_type = rng.choice(TASK_TYPES)
        kind = rng.choice(kinds_for(task_type))
        layout = sample_layout(rng, kind)
        if layout_held_out(layout_signature(kind, layout)) != unseen:
            continue
        combos = [c for c in feasible_combos(kind, layout, task_type) if combo_held_out("|".join(c)) == unseen]
        if not combos:
            continue
        world = populate(rng, task_id, kind, layout, rng.choice(combos))
        if not unseen and instance_is_seen(world.fingerprint()) != (split == "seen"):
            continue
        return world
    raise EnvError(f"could not generate task {task_id!r} in {MAX_ATTEMPTS} attempts")  # pragma: no cover


class HouseholdSuite(IndexedSuite):
    """The household suite: unlimited generated tasks in splits ``train``, ``seen``, ``unseen``."""

    def __init__(self) -> None:
        super().__init__(
            env_id=ENV_ID,
            name="household",
            splits=list(SPLITS),
            sizes={},
            description=(
                "ALFWorld-style household tasks of six types (pick and place, pick two, clean, heat, cool, "
                "look under a lamp), generated from the task id. 'seen' is drawn like 'train'; 'unseen' uses "
                "room layouts and (task, object, target) combinations that train never contains."
            ),
        )
