"""Household tasks written as ALFWorld games (``game.tw-pddl``), to be played in ALFWorld's engine.

A game file is what ALFWorld's own data holds: JSON with ``pddl_domain`` and ``grammar`` (the
``alfred.pddl`` and ``alfred.twl2`` the ``alfworld`` package ships), a ``pddl_problem`` and
``solvable``. The problem written here states a household world in ALFWorld's predicates: one
location per receptacle and one where the agent starts, ``receptacleType``/``objectType``,
``openable``, ``inReceptacle``, ``pickupable``/``cleanable``/``heatable``/``coolable``/
``toggleable`` as the household's rules have them, ``canContain`` for every pair (the household
lets anything go anywhere), and the task as a PDDL goal. Object ids are ALFWorld-mangled
(``mug_bar_998``) so that ALFWorld's demangler names them exactly as the household does
(``mug 2``): it numbers the ids of a type in reverse sorted order.

The one difference of wording: ALFWorld 0.4 says ``move X to Y`` where the household (like
ALFWorld before 0.4) says ``put X in/on Y``; :func:`to_alfworld_command` translates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mulligan.envs.household.rooms import COOLABLE, HEATABLE, LAMPS, STATE_TASKS, CLEANABLE
from mulligan.envs.household.world import World
from mulligan.errors import DependencyNotInstalled

AGENT = "agent1"
START = "loc_start"
ID_BASE = 1000
STATE_PREDICATE = {"clean": "isClean", "heat": "isHot", "cool": "isCool"}


def logic_files() -> tuple[str, str]:
    """The PDDL domain and the grammar ALFWorld ships (``alfworld/data``)."""
    try:
        import alfworld
    except ImportError as e:
        raise DependencyNotInstalled("alfworld", "envs", "ALFWorld's engine") from e
    data = Path(alfworld.__file__).parent / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


def mangled(name: str) -> str:
    """The ALFWorld id whose demangled name is ``name`` (``"sinkbasin 1"`` -> ``"sink_bar_999_basin"``)."""
    kind, number = name.rsplit(" ", 1)
    ordinal = ID_BASE - int(number)
    if kind.endswith("basin"):
        # The demangler appends "basin" to the type of any id that mentions it.
        return f"{kind[: -len('basin')]}_bar_{ordinal}_basin"
    return f"{kind}_bar_{ordinal}"


def _type(kind: str) -> str:
    return f"{kind}type"


def _location(receptacle: str) -> str:
    return "loc_" + re.sub(r"\W", "_", receptacle)


def problem(world: World, name: str) -> str:
    """The PDDL problem of a household world in its initial state."""
    receptacles = {r.name: mangled(r.name) for r in world.receptacles}
    objects = {i.name: mangled(i.name) for i in world.items.values()}
    rtypes = sorted({r.type for r in world.receptacles})
    otypes = sorted({i.type for i in world.items.values()})
    init = [f"(atLocation {AGENT} {START})"]
    for r in world.receptacles:
        rid = receptacles[r.name]
        init += [f"(receptacleAtLocation {rid} {_location(r.name)})", f"(receptacleType {rid} {_type(r.type)})"]
        if r.openable:
            init.append(f"(openable {rid})")
            if r.is_open:
                init.append(f"(opened {rid})")
    for item in world.items.values():
        oid = objects[item.name]
        init.append(f"(objectType {oid} {_type(item.type)})")
        if item.loc is not None:
            init += [f"(inReceptacle {oid} {receptacles[item.loc]})", f"(objectAtLocation {oid} {_location(item.loc)})"]
        if item.type in LAMPS:
            init.append(f"(toggleable {oid})")
            continue
        init.append(f"(pickupable {oid})")
        for predicate, kinds in (("cleanable", CLEANABLE), ("heatable", HEATABLE), ("coolable", COOLABLE)):
            if item.type in kinds:
                init.append(f"({predicate} {oid})")
    init += [f"(canContain {_type(rt)} {_type(ot)})" for rt in rtypes for ot in otypes]
    locations = [START] + [_location(r.name) for r in world.receptacles]
    declared = (
        [f"{AGENT} - agent"] + [f"{loc} - location" for loc in locations]
        + [f"{rid} - receptacle" for rid in receptacles.values()] + [f"{oid} - object" for oid in objects.values()]
        + [f"{_type(t)} - rtype" for t in rtypes] + [f"{_type(t)} - otype" for t in otypes]
    )
    return (
        f"(define (problem {name})\n (:domain alfred)\n (:objects\n  " + "\n  ".join(declared) + "\n )\n"
        " (:init\n  " + "\n  ".join(init) + "\n  (= (total-cost) 0)\n )\n"
        f" (:goal\n  {goal(world)}\n )\n (:metric minimize (total-cost))\n)\n"
    )


def goal(world: World) -> str:
    """The household task as a PDDL goal over ALFWorld's predicates."""
    task = world.task
    if task.task_type == "look_at_obj_in_light":
        return (f"(exists (?lamp - object ?o - object ?l - location) (and (objectType ?lamp {_type(task.target)}) "
                f"(isOn ?lamp) (objectAtLocation ?lamp ?l) (atLocation {AGENT} ?l) "
                f"(objectType ?o {_type(task.obj_type)}) (holds {AGENT} ?o)))")
    state = STATE_TASKS.get(task.task_type)

    def placed(o: str, r: str) -> str:
        extra = f" ({STATE_PREDICATE[state[0]]} {o})" if state else ""
        return (f"(objectType {o} {_type(task.obj_type)}) (receptacleType {r} {_type(task.target)}) "
                f"(inReceptacle {o} {r}){extra}")

    if task.count == 2:
        return (f"(exists (?o1 - object ?r1 - receptacle ?o2 - object ?r2 - receptacle) "
                f"(and (not (= ?o1 ?o2)) {placed('?o1', '?r1')} {placed('?o2', '?r2')}))")
    return f"(exists (?o - object ?r - receptacle) (and {placed('?o', '?r')}))"


def game(world: World, name: str) -> dict[str, Any]:
    """The ``game.tw-pddl`` content of a household world: domain, grammar (with its goal), problem."""
    domain, grammar = logic_files()
    return {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", world.task.goal.rstrip(".")),
        "pddl_problem": problem(world, name),
        "solvable": True,
    }


def write_household_games(out: str | Path, task_ids: list[str]) -> list[Path]:
    """Write household tasks as ALFWorld games: ``out/<split>/<task id>/game.tw-pddl``.

    Returns:
        The game files, in the order of ``task_ids``.
    """
    from mulligan.envs.household.suites import build_world

    paths = []
    for task_id in task_ids:
        world = build_world(task_id)
        path = Path(out) / world.task.split / task_id / "game.tw-pddl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(game(world, "household_" + task_id.replace("-", "_"))))
        paths.append(path)
    return paths


def to_alfworld_command(command: str) -> str:
    """A household command in ALFWorld 0.4's words (``put X in/on Y`` -> ``move X to Y``)."""
    m = re.fullmatch(r"put (.+?) (?:in/on|in|on) (.+)", command.strip())
    return f"move {m.group(1)} to {m.group(2)}" if m else command
