"""Sampling households: layouts, feasible task combinations, and the placement of objects.

Every function takes a :class:`random.Random` so a world is a pure function of its seed. Which
layouts and combinations a split may use is decided in :mod:`mulligan.envs.household.suites`.
"""

from __future__ import annotations

import random

from mulligan.envs.household.rooms import (
    LOOKABLE,
    MAX_RECEPTACLES,
    MIN_RECEPTACLES,
    OPENABLE,
    ROOMS,
    STATE_TASKS,
    TEMPLATES,
)
from mulligan.envs.household.world import Item, Receptacle, Task, World

Layout = dict[str, int]
"""Receptacle type -> number of instances, keys sorted."""


def kinds_for(task_type: str) -> list[str]:
    """The room kinds in which a task type can be posed."""
    if task_type == "look_at_obj_in_light":
        return [k for k, room in ROOMS.items() if room.lamp]
    if task_type in STATE_TASKS:
        appliance = STATE_TASKS[task_type][1]
        return [k for k, room in ROOMS.items() if appliance in room.receptacles]
    return list(ROOMS)


def sample_layout(rng: random.Random, kind: str) -> Layout:
    """Draw how many receptacles of each type a room of this kind has.

    Args:
        rng: The random source.
        kind: The room kind.

    Returns:
        A layout with between MIN_RECEPTACLES and MAX_RECEPTACLES receptacles, and a lamp host
        where the room kind has a lamp.
    """
    room = ROOMS[kind]
    while True:
        counts = {t: rng.randint(lo, hi) for t, (lo, hi) in room.receptacles.items()}
        layout = {t: c for t, c in sorted(counts.items()) if c}
        if not MIN_RECEPTACLES <= sum(layout.values()) <= MAX_RECEPTACLES:
            continue
        if room.lamp and not any(h in layout for h in room.lamp_hosts):
            continue
        return layout


def layout_signature(kind: str, layout: Layout) -> str:
    """The identity of a room layout: its kind and receptacle counts."""
    return kind + ":" + ",".join(f"{t}={c}" for t, c in sorted(layout.items()))


def feasible_combos(kind: str, layout: Layout, task_type: str) -> list[tuple[str, str, str]]:
    """The (task type, object type, target) combinations that make sense in a layout.

    A target is a receptacle type present in the layout where the object plausibly belongs (for
    look tasks, the room's lamp type); the object must also have a plausible starting place that
    is not of the target type, and clean/heat/cool tasks need their appliance and an object type
    the verb applies to (the appliance itself is never the target).
    """
    room = ROOMS[kind]
    out: list[tuple[str, str, str]] = []
    state = STATE_TASKS.get(task_type)
    if state and state[1] not in layout:
        return out
    for obj, places in room.objects.items():
        where = [p for p in places if p in layout]
        if not where:
            continue
        if task_type == "look_at_obj_in_light":
            if room.lamp and obj in LOOKABLE:
                out.append((task_type, obj, room.lamp))
            continue
        if state and obj not in state[2]:
            continue
        for target in where:
            if state and target == state[1]:
                continue
            if any(p != target for p in where):
                out.append((task_type, obj, target))
    return out


def populate(rng: random.Random, task_id: str, kind: str, layout: Layout, combo: tuple[str, str, str]) -> World:
    """Build a world: receptacles from the layout, the task's objects, distractors and a lamp.

    Objects of the task's type never start in a receptacle of the target type, so no goal holds
    at the start. Object numbers within a type and the order of a receptacle's contents are
    shuffled, so neither says which object matters.

    Args:
        rng: The random source.
        task_id: The id the task will carry.
        kind: The room kind.
        layout: The receptacle counts.
        combo: (task type, object type, target) from :func:`feasible_combos`.

    Returns:
        The world, with the agent in the middle of the room.
    """
    room = ROOMS[kind]
    task_type, obj_type, target = combo
    receptacles = [Receptacle(f"{t} {i}", t, t in OPENABLE) for t in sorted(layout) for i in range(1, layout[t] + 1)]

    def places(type_: str, exclude: str | None = None) -> list[Receptacle]:
        allowed = room.objects[type_]
        return [r for r in receptacles if r.type in allowed and r.type != exclude]

    placed: list[tuple[str, Receptacle]] = []
    n_main = rng.randint(2, 3) if task_type == "pick_two_and_place" else rng.randint(1, 2)
    main_places = places(obj_type, exclude=None if task_type == "look_at_obj_in_light" else target)
    placed.extend((obj_type, rng.choice(main_places)) for _ in range(n_main))
    others = [o for o in room.objects if o != obj_type and places(o)]
    for _ in range(rng.randint(3, 7)):
        other = rng.choice(others)
        placed.append((other, rng.choice(places(other))))
    if room.lamp:
        hosts = [r for r in receptacles if r.type in room.lamp_hosts]
        placed.append((room.lamp, rng.choice(hosts)))

    numbers: dict[str, list[int]] = {}
    for type_, _ in placed:
        numbers.setdefault(type_, []).append(len(numbers.get(type_, [])) + 1)
    for nums in numbers.values():
        rng.shuffle(nums)
    items: dict[str, Item] = {}
    for type_, r in placed:
        name = f"{type_} {numbers[type_].pop()}"
        items[name] = Item(name, type_, r.name)
        r.contents.append(name)
    for r in receptacles:
        rng.shuffle(r.contents)

    goal = rng.choice(TEMPLATES[task_type]).format(obj=obj_type, target=target)
    return World(kind, receptacles, items, Task(task_id, task_type, obj_type, target, goal))
