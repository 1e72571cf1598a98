"""The household expert: a planner over the true state, the source of demonstrations.

In ``"search"`` mode (the default) the expert acts as a policy that only reads its observations
could: it visits receptacles in the order the room description lists them, skipping those it has
already looked into, opens the closed ones it visits, takes a wanted object as soon as it has seen
one, and then goes to the first listed receptacle of the type it needs (appliance, target, lamp),
opening it where needed. It reads the true state only for what it has observed already (the world
changes only by the agent's own actions) and to be sure of the outcome. In ``"direct"`` mode it
goes straight to where things are.

Each planned action comes with a short subgoal (``"find mug"``, ``"clean mug"``,
``"put mug in cabinet"``) that demonstrations use as the ReAct thought.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mulligan.errors import ConfigError
from mulligan.envs.household.rooms import VERB_STATE
from mulligan.envs.household.world import Item, Receptacle, World

if TYPE_CHECKING:
    from mulligan.envs.household.env import HouseholdEnv

MODES = ("search", "direct")


@dataclass(frozen=True)
class ExpertAction:
    """One planned step.

    Attributes:
        subgoal: What the step serves, e.g. ``"find mug"``.
        action: The command, e.g. ``"go to cabinet 1"``.
    """

    subgoal: str
    action: str


def plan(world: World, mode: str = "search") -> ExpertAction:
    """The expert's next step from the current state.

    Works from any state, including ones a different agent left behind (a wrong object in hand,
    receptacles closed again), so it can continue a failed episode.

    Args:
        world: The world, in its current state.
        mode: ``"search"`` (observable behaviour) or ``"direct"`` (straight to things).

    Returns:
        The subgoal and the command. Once the goal holds, ``("done", "look")``.

    Raises:
        ConfigError: Unknown mode.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown expert mode {mode!r}; use one of {', '.join(MODES)}")
    if world.won():
        return ExpertAction("done", "look")
    return _Planner(world, mode == "direct").next()


class _Planner:
    def __init__(self, world: World, omniscient: bool):
        self.w = world
        self.task = world.task
        self.omniscient = omniscient

    def known(self, r: Receptacle) -> bool:
        return self.omniscient or r.name in self.w.seen

    def first_of_type(self, type_: str) -> Receptacle:
        return next(r for r in self.w.receptacles if r.type == type_)

    def approach(self, subgoal: str, r: Receptacle, action: str, needs_open: bool = True) -> ExpertAction:
        """Go to r, open it where the action needs its inside, then act."""
        if self.w.location != r.name:
            return ExpertAction(subgoal, f"go to {r.name}")
        if needs_open and not r.visible:
            return ExpertAction(subgoal, f"open {r.name}")
        return ExpertAction(subgoal, action)

    def search(self, subgoal: str) -> ExpertAction:
        """Look into the next receptacle not yet seen, in listed order."""
        w = self.w
        if w.location is not None and w.location not in w.seen:
            return ExpertAction(subgoal, f"open {w.location}")
        for r in w.receptacles:
            if r.name not in w.seen:
                return ExpertAction(subgoal, f"go to {r.name}")
        # Everything seen yet nothing found cannot happen in a solvable world; plan as if omniscient.
        return _Planner(w, True).next()

    def next(self) -> ExpertAction:
        w, task = self.w, self.task
        held = w.items[w.holding] if w.holding else None
        if held is not None and held.type != task.obj_type:
            here = w.rmap[w.location] if w.location else w.receptacles[0]
            return self.approach(f"put down {held.type}", here, f"put {held.name} in/on {here.name}")
        if held is None:
            return self.fetch()
        if task.task_type == "look_at_obj_in_light":
            lamp = next(i for i in w.items.values() if i.type == task.target)
            host = w.rmap[lamp.loc]
            if not self.known(host):
                return self.search(f"find {task.target}")
            return self.approach(f"use {task.target}", host, f"use {lamp.name}", needs_open=False)
        if task.state is not None:
            verb, appliance = task.state
            if not held.has(VERB_STATE[verb]):
                r = self.first_of_type(appliance)
                return self.approach(f"{verb} {held.type}", r, f"{verb} {held.name} with {r.name}", needs_open=False)
        r = self.first_of_type(task.target)
        return self.approach(f"put {held.type} in {task.target}", r, f"put {held.name} in/on {r.name}")

    def fetch(self) -> ExpertAction:
        """Take a wanted object: one seen here, else the first seen in listed order, else search."""
        w, task = self.w, self.task
        wanted: list[Item] = []
        for r in w.receptacles:
            if self.known(r):
                wanted.extend(w.items[n] for n in r.contents if w.items[n].type == task.obj_type)
        wanted = [i for i in wanted if not w.satisfies(i)]
        if not wanted:
            return self.search(f"find {task.obj_type}")
        item = next((i for i in wanted if i.loc == w.location), wanted[0])
        r = w.rmap[item.loc]
        return self.approach(f"take {task.obj_type}", r, f"take {item.name} from {r.name}")


@dataclass
class ExpertStep:
    """One step of a demonstration."""

    subgoal: str
    action: str
    observation: str
    reward: float
    won: bool


@dataclass
class Demonstration:
    """An expert episode.

    Attributes:
        task_id: The task.
        task_type: Its type.
        goal: The goal sentence.
        initial_observation: What reset returned.
        steps: The expert's steps.
        won: Whether the goal was reached (``info["won"]`` of the last step).
    """

    task_id: str
    task_type: str
    goal: str
    initial_observation: str
    steps: list[ExpertStep] = field(default_factory=list)
    won: bool = False


def run_expert(env: "HouseholdEnv", mode: str = "search") -> list[ExpertStep]:
    """Step an env with the expert from its current state until the episode ends.

    Args:
        env: A household env after ``reset`` (the unwrapped env, or one wrapping it).
        mode: ``"search"`` or ``"direct"``.

    Returns:
        The steps taken.
    """
    base = env.unwrapped
    steps: list[ExpertStep] = []
    while True:
        step = plan(base.world, mode)
        obs, reward, terminated, truncated, info = env.step(step.action)
        steps.append(ExpertStep(step.subgoal, step.action, obs, float(reward), bool(info["won"])))
        if terminated or truncated:
            return steps


def solve(task_id: str, mode: str = "search", max_steps: int = 50) -> Demonstration:
    """Solve a task end to end with the expert.

    Args:
        task_id: ``"<split>-<index>"``.
        mode: ``"search"`` or ``"direct"``.
        max_steps: The env's step cap.

    Returns:
        The demonstration.
    """
    from mulligan.envs.household.env import HouseholdEnv

    env = HouseholdEnv(max_steps=max_steps)
    obs, info = env.reset(options={"task": task_id})
    steps = run_expert(env, mode)
    return Demonstration(task_id, info["task_type"], info["goal"], obs, steps, bool(steps and steps[-1].won))
