"""The GUI task suite and its splits: which task and world each task id names.

A task id is ``"<split>-<index>"`` with split ``train``, ``seen`` or ``unseen``; the task is a pure
function of the id (:func:`build_task`). The splits are kept apart by construction, as in the
household suite:

* A task's **combination** is its template and the parameters that matter (the mail's sender and
  subject, the product and shipping, the setting and value; :attr:`Spec.combo`). It is held out when
  ``h("combo:<template>|<combo>") % 5 == 0`` (blake2b, stable across processes).
* ``unseen`` tasks use only held-out combinations; ``train`` and ``seen`` never do.
* ``train`` and ``seen`` share one distribution and are told apart by a hash of the full instance
  (goal and world): ``seen`` when ``h("instance:<fingerprint>") % 2 == 0``.
* Attempt ``a`` of task ``<split>-<i>`` seeds ``random.Random("gui|<split>|<i>|<a>")``, builds a
  world, draws a template and keeps the first attempt that lands in the split's partitions.
"""

from __future__ import annotations

import random

from mulligan.envs.gui.generate import make_world
from mulligan.envs.gui.tasks import Task
from mulligan.envs.gui.templates import TEMPLATES
from mulligan.envs.gui.world import World
from mulligan.envs.suites import IndexedSuite, checked_task_id, instance_is_seen, stable_hash
from mulligan.errors import EnvError

ENV_ID = "mulligan/Gui-v0"
SPLITS = ["train", "seen", "unseen"]
HOLDOUT_MOD = 5
MAX_ATTEMPTS = 1000
TEMPLATE_NAMES = sorted(TEMPLATES)


def combo_held_out(template: str, combo: str) -> bool:
    """Whether a template's parameter combination belongs to the unseen partition."""
    return stable_hash(f"combo:{template}|{combo}") % HOLDOUT_MOD == 0


def build_task(task_id: str) -> tuple[Task, World]:
    """The task a task id names and its fresh world (on the home screen).

    Raises:
        EnvError: The id is malformed or names an unknown split.
    """
    split, index = checked_task_id(task_id, SPLITS, "gui")
    unseen = split == "unseen"
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(f"gui|{split}|{index}|{attempt}")
        world = make_world(rng)
        template = rng.choice(TEMPLATE_NAMES)
        app, make = TEMPLATES[template]
        spec = make(rng, world)
        if combo_held_out(template, spec.combo) != unseen:
            continue
        fingerprint = f"{template}|{spec.goal}#{world.fingerprint()}"
        if not unseen and instance_is_seen(fingerprint) != (split == "seen"):
            continue
        return Task(task_id, split, template, app, spec, fingerprint), world
    raise EnvError(f"could not generate task {task_id!r} in {MAX_ATTEMPTS} attempts")  # pragma: no cover


class GuiSuite(IndexedSuite):
    """The GUI suite: unlimited generated tasks in splits ``train``, ``seen``, ``unseen``."""

    def __init__(self) -> None:
        super().__init__(
            env_id=ENV_ID, name="gui", splits=list(SPLITS), sizes={},
            description=(
                f"{len(TEMPLATES)} task templates over four simulated phone apps (settings, mail, shop, notes), "
                "generated from the task id; delete, send and pay cannot be undone. 'seen' is drawn like 'train'; "
                "'unseen' uses (template, parameter) combinations that train never contains."
            ),
        )
