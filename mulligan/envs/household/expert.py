"""The household expert: a planner over the true state, the source of demonstrations.

In ``"search"`` mode (the default) the expert acts as a policy that only reads its observations
could: it visits receptacles in the order the room description lists them, skipping those it has
already looked into, opens the closed ones it visits, takes a wanted object as soon as it has seen
one, and then goes to the first listed receptacle of the type it needs (appliance, target, lamp),
opening it where needed. It reads the true state only for what it has observed already (the world
changes only by the agent's own actions) and to be sure of the outcome. In ``"direct"`` mode it
goes straight to where things are.

Each planned action comes with a short subgoal (``"find mug"``, ``"clean mug"``,
``"put mug in cabinet"``) and a thought that demonstrations use as the ReAct thought. The thought
carries the state a policy needs, written from what it has observed, so that a small model never
has to rebuild it from the whole transcript::

    Task: put a hot egg in countertop. Looking for egg: none in cabinet 2, try cabinet 3.
    Task: put a hot egg in countertop. egg 2 is in cabinet 3: take egg 2 from cabinet 3.
    Task: put a hot egg in countertop. I have egg 2, to heat it: go to microwave 1.
    Task: put a hot egg in countertop. I have egg 2, now hot, to put it: go to countertop 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mulligan.errors import ConfigError
from mulligan.envs.household.rooms import VERB_STATE
from mulligan.envs.household.world import Item, Receptacle, Task, World

if TYPE_CHECKING:
    from mulligan.envs.household.env import HouseholdEnv

MODES = ("search", "direct")


@dataclass(frozen=True)
class ExpertAction:
    """One planned step.

    Attributes:
        subgoal: What the step serves, e.g. ``"find mug"``.
        action: The command, e.g. ``"go to cabinet 1"``.
        thought: The step's reasoning as a policy could write it from what it has observed: the
            task, what it holds, where the things it needs are, and why this command (see
            :func:`plan`).
    """

    subgoal: str
    action: str
    thought: str = ""


@dataclass(frozen=True)
class Hints:
    """What the agent knows before the episode starts, from an earlier attempt at the same task.

    A lesson such as "I saw mug 2 in/on cabinet 3" or "I looked in/on drawer 1, drawer 2 and there
    was no mug there" tells the agent where things start out; the expert uses exactly what the
    lesson says and nothing more.

    Attributes:
        known: Receptacles whose starting contents the agent remembers.
        first: Receptacles to search before the others, in this order.
    """

    known: frozenset[str] = frozenset()
    first: tuple[str, ...] = ()


NO_HINTS = Hints()


def goal_phrase(task: Task) -> str:
    """The task in one canonical phrasing (``"put a hot egg in countertop"``), whichever template posed it."""
    if task.task_type == "look_at_obj_in_light":
        return f"look at a {task.obj_type} under the {task.target}"
    if task.count == 2:
        return f"put two {task.obj_type} in {task.target}"
    state = task.state
    adjective = f"{VERB_STATE[state[0]]} " if state else ""
    return f"put a {adjective}{task.obj_type} in {task.target}"


def plan(world: World, mode: str = "search", *, hints: Hints = NO_HINTS, last_valid: bool = True) -> ExpertAction:
    """The expert's next step from the current state.

    Works from any state, including ones a different agent left behind (a wrong object in hand,
    receptacles closed again), so it can continue a failed episode. In ``"search"`` mode the
    thought states only what the agent has observed (or was told by ``hints``): the task, whether
    the last command did anything, what it holds and in which state, how many objects are in
    place, where the thing it needs is or which receptacle it tries next, and the reason for
    the command.

    Args:
        world: The world, in its current state.
        mode: ``"search"`` (observable behaviour) or ``"direct"`` (straight to things).
        hints: Starting contents the agent remembers from an earlier attempt.
        last_valid: Whether the agent's last command did something (False after "Nothing happens.").

    Returns:
        The subgoal, the command and the thought. Once the goal holds, ``("done", "look")``.

    Raises:
        ConfigError: Unknown mode.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown expert mode {mode!r}; use one of {', '.join(MODES)}")
    prefix = f"Task: {goal_phrase(world.task)}. " + ("That did nothing. " if not last_valid else "")
    if world.won():
        return ExpertAction("done", "look", prefix + "The task is done.")
    step = _Planner(world, mode == "direct", hints).next()
    return ExpertAction(step.subgoal, step.action, prefix + step.thought)


class _Planner:
    def __init__(self, world: World, omniscient: bool, hints: Hints = NO_HINTS):
        self.w = world
        self.task = world.task
        self.omniscient = omniscient
        self.hints = hints

    def known(self, r: Receptacle) -> bool:
        return self.omniscient or r.name in self.w.seen or r.name in self.hints.known

    def first_of_type(self, type_: str) -> Receptacle:
        return next(r for r in self.w.receptacles if r.type == type_)

    def approach(self, subgoal: str, r: Receptacle, action: str, why: str, needs_open: bool = True) -> ExpertAction:
        """Go to r, open it where the action needs its inside, then act; ``why`` starts the thought."""
        if self.w.location != r.name:
            return ExpertAction(subgoal, f"go to {r.name}", f"{why}: go to {r.name}.")
        if needs_open and not r.visible:
            return ExpertAction(subgoal, f"open {r.name}", f"{why}: open {r.name}.")
        return ExpertAction(subgoal, action, f"{why}: {action}.")

    def search(self, subgoal: str, what: str, why: str = "") -> ExpertAction:
        """Look into the next receptacle not yet seen: the hinted ones first, then in listed order."""
        w = self.w
        lead = f"{why}Looking for {what}"
        if w.location is not None and w.location not in w.seen:
            return ExpertAction(subgoal, f"open {w.location}", f"{lead}: open {w.location}.")
        order = [w.rmap[n] for n in self.hints.first if n in w.rmap] + w.receptacles
        for r in order:
            if not self.known(r):
                none_here = f"none in {w.location}, " if w.location is not None else ""
                return ExpertAction(subgoal, f"go to {r.name}", f"{lead}: {none_here}try {r.name}.")
        # Everything seen yet nothing found cannot happen in a solvable world; plan as if omniscient.
        return _Planner(w, True).next()

    def held_state(self, held: Item) -> str:
        state = self.task.state
        done = state is not None and held.has(VERB_STATE[state[0]])
        return f"I have {held.name}" + (f", now {VERB_STATE[state[0]]}" if done else "")

    def placed(self) -> str:
        """How many objects are in place already, for tasks that need two."""
        n = sum(1 for i in self.w.items.values() if self.w.satisfies(i))
        return f"{n} {self.task.obj_type} in {self.task.target} already. " if self.task.count > 1 and n else ""

    def next(self) -> ExpertAction:
        w, task = self.w, self.task
        held = w.items[w.holding] if w.holding else None
        if held is not None and held.type != task.obj_type:
            here = w.rmap[w.location] if w.location else w.receptacles[0]
            why = f"I have {held.name}, not a {task.obj_type}; put it down"
            return self.approach(f"put down {held.type}", here, f"put {held.name} in/on {here.name}", why)
        if held is None:
            step = self.fetch()
            return ExpertAction(step.subgoal, step.action, self.placed() + step.thought)
        have = self.held_state(held)
        if task.task_type == "look_at_obj_in_light":
            lamp = next(i for i in w.items.values() if i.type == task.target)
            host = w.rmap[lamp.loc]
            if not self.known(host):
                return self.search(f"find {task.target}", task.target, why=f"{have}. ")
            why = f"{have}. {lamp.name} is on {host.name}"
            return self.approach(f"use {task.target}", host, f"use {lamp.name}", why, needs_open=False)
        if task.state is not None:
            verb, appliance = task.state
            if not held.has(VERB_STATE[verb]):
                r = self.first_of_type(appliance)
                action = f"{verb} {held.name} with {r.name}"
                return self.approach(f"{verb} {held.type}", r, action, f"{have}, to {verb} it", needs_open=False)
        r = self.first_of_type(task.target)
        put = f"put {held.name} in/on {r.name}"
        return self.approach(f"put {held.type} in {task.target}", r, put, f"{self.placed()}{have}, to put it")

    def fetch(self) -> ExpertAction:
        """Take a wanted object: one seen here, else the first seen in listed order, else search."""
        w, task = self.w, self.task
        wanted: list[Item] = []
        for r in w.receptacles:
            if self.known(r):
                wanted.extend(w.items[n] for n in r.contents if w.items[n].type == task.obj_type)
        wanted = [i for i in wanted if not w.satisfies(i)]
        if not wanted:
            return self.search(f"find {task.obj_type}", task.obj_type)
        item = next((i for i in wanted if i.loc == w.location), wanted[0])
        r = w.rmap[item.loc]
        where = "is in" if self.omniscient or r.name in w.seen else "should be in"
        return self.approach(
            f"take {task.obj_type}", r, f"take {item.name} from {r.name}", f"{item.name} {where} {r.name}"
        )


@dataclass
class ExpertStep:
    """One step of a demonstration."""

    subgoal: str
    action: str
    observation: str
    reward: float
    won: bool
    thought: str = ""


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
        step = plan(base.world, mode, last_valid=base.last_valid)
        obs, reward, terminated, truncated, info = env.step(step.action)
        steps.append(ExpertStep(step.subgoal, step.action, obs, float(reward), bool(info["won"]), step.thought))
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
