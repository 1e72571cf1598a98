"""The state of one household and the rules that change it.

A :class:`World` holds the receptacles (in the order the room description lists them), the
objects, the agent (where it stands, what it holds, which receptacles it has looked into) and the
task. :meth:`World.execute` applies a parsed command and returns ALFWorld's terse feedback;
:meth:`World.admissible` lists the commands that would do something; :meth:`World.won` checks the
goal against the true state.
"""

from __future__ import annotations

from dataclasses import dataclass

from mulligan.envs.household.grammar import Command
from mulligan.envs.household.rooms import LAMPS, STATE_TASKS, VERB_STATE

NOTHING = "Nothing happens."


@dataclass(frozen=True)
class Task:
    """What the agent must do in a world.

    Attributes:
        task_id: ``"<split>-<index>"``.
        task_type: One of :data:`~mulligan.envs.household.rooms.TASK_TYPES`.
        obj_type: The object type to find (``"mug"``).
        target: The receptacle type to put it in, or the lamp type for look tasks.
        goal: The goal sentence (``"put a clean mug in cabinet."``).
    """

    task_id: str
    task_type: str
    obj_type: str
    target: str
    goal: str

    @property
    def split(self) -> str:
        """The split the task belongs to."""
        return self.task_id.rsplit("-", 1)[0]

    @property
    def state(self) -> tuple[str, str] | None:
        """(verb, appliance type) for clean/heat/cool tasks, else None."""
        spec = STATE_TASKS.get(self.task_type)
        return (spec[0], spec[1]) if spec else None

    @property
    def count(self) -> int:
        """How many objects must end up in the target."""
        return 2 if self.task_type == "pick_two_and_place" else 1

    @property
    def combo(self) -> str:
        """The (task type, object type, target type) combination, as one string."""
        return f"{self.task_type}|{self.obj_type}|{self.target}"


class Receptacle:
    """A place objects are in: ``countertop 1``, ``fridge 1``."""

    __slots__ = ("name", "type", "openable", "is_open", "contents")

    def __init__(self, name: str, type_: str, openable: bool):
        self.name = name
        self.type = type_
        self.openable = openable
        self.is_open = False
        self.contents: list[str] = []

    @property
    def visible(self) -> bool:
        """Whether its contents can be seen (and reached)."""
        return self.is_open or not self.openable


class Item:
    """An object: ``mug 1``. ``loc`` is its receptacle's name, or None while held."""

    __slots__ = ("name", "type", "loc", "clean", "hot", "cool", "on")

    def __init__(self, name: str, type_: str, loc: str | None):
        self.name = name
        self.type = type_
        self.loc = loc
        self.clean = self.hot = self.cool = self.on = False

    @property
    def takeable(self) -> bool:
        """Lamps stay where they are; everything else can be picked up."""
        return self.type not in LAMPS

    def has(self, state: str) -> bool:
        """Whether the item is ``clean``, ``hot`` or ``cool``."""
        return bool(getattr(self, state))


def see(names: list[str]) -> str:
    """ALFWorld's list of things: ``a mug 1, and a apple 2`` (``nothing`` when empty)."""
    if not names:
        return "nothing"
    if len(names) == 1:
        return f"a {names[0]}"
    return ", ".join(f"a {n}" for n in names[:-1]) + f", and a {names[-1]}"


class World:
    """One household: receptacles, objects, the agent and the task.

    Args:
        kind: The room kind (``kitchen``, ...).
        receptacles: The receptacles, in the order the room description lists them.
        items: The objects, by name; each ``loc`` must name a receptacle holding it in ``contents``.
        task: The task.
    """

    def __init__(self, kind: str, receptacles: list[Receptacle], items: dict[str, Item], task: Task):
        self.kind = kind
        self.receptacles = receptacles
        self.rmap = {r.name: r for r in receptacles}
        self.items = items
        self.task = task
        self.location: str | None = None
        self.holding: str | None = None
        self.seen: set[str] = set()
        """Receptacles whose contents the agent has observed."""

    # ---- text -------------------------------------------------------------------------------

    def room_description(self) -> str:
        """What the agent sees from the middle of the room."""
        return (
            "You are in the middle of a room. Looking quickly around you, you see "
            f"{see([r.name for r in self.receptacles])}."
        )

    def initial_observation(self) -> str:
        """The first observation: the room and the task."""
        return f"{self.room_description()}\n\nYour task is to: {self.task.goal}"

    def describe(self, r: Receptacle) -> str:
        """A receptacle as seen from in front of it; marks its contents seen where visible."""
        if r.openable and not r.is_open:
            return f"The {r.name} is closed."
        self.seen.add(r.name)
        if r.openable:
            return f"The {r.name} is open. In it, you see {see(r.contents)}."
        return f"On the {r.name}, you see {see(r.contents)}."

    def _describe_item(self, item: Item) -> str:
        states = [s for s in ("clean", "hot", "cool") if item.has(s)]
        if item.type in LAMPS:
            states = ["on" if item.on else "off"]
        if not states:
            return f"There's nothing special about {item.name}."
        return f"The {item.name} is {' and '.join(states)}."

    # ---- rules ------------------------------------------------------------------------------

    def _here(self, name: str) -> Receptacle | None:
        """The receptacle the agent stands at, if it is the one named."""
        r = self.rmap.get(name)
        return r if r is not None and r.name == self.location else None

    def _reachable(self, name: str) -> Item | None:
        """An item the agent holds, or sees in the receptacle it stands at."""
        item = self.items.get(name)
        if item is None:
            return None
        if item.loc is None:
            return item
        r = self.rmap[item.loc]
        return item if item.loc == self.location and r.visible else None

    def execute(self, cmd: Command) -> tuple[str, bool]:
        """Apply a command.

        Args:
            cmd: A parsed command.

        Returns:
            (feedback, valid): valid is False exactly when the feedback is "Nothing happens.".
        """
        verb, args = cmd.verb, cmd.args
        if verb == "look":
            if self.location is None:
                return self.room_description(), True
            r = self.rmap[self.location]
            return f"You are facing the {r.name}. {self.describe(r)}", True
        if verb == "inventory":
            if self.holding is None:
                return "You are not carrying anything.", True
            return f"You are carrying: a {self.holding}.", True
        if verb == "goto":
            r = self.rmap.get(args[0])
            if r is None or r.name == self.location:
                return NOTHING, False
            self.location = r.name
            return f"You arrive at {r.name}. {self.describe(r)}", True
        if verb in ("open", "close"):
            r = self._here(args[0])
            if r is None or not r.openable or r.is_open == (verb == "open"):
                return NOTHING, False
            r.is_open = verb == "open"
            if r.is_open:
                return f"You open the {r.name}. {self.describe(r)}", True
            return f"You close the {r.name}.", True
        if verb == "take":
            r, item = self._here(args[1]), self.items.get(args[0])
            if r is None or item is None or not r.visible or item.loc != r.name or not item.takeable:
                return NOTHING, False
            if self.holding is not None:
                return NOTHING, False
            r.contents.remove(item.name)
            item.loc, self.holding = None, item.name
            return f"You pick up the {item.name} from the {r.name}.", True
        if verb == "put":
            r = self._here(args[1])
            if r is None or self.holding != args[0] or not r.visible:
                return NOTHING, False
            item = self.items[args[0]]
            item.loc, self.holding = r.name, None
            r.contents.append(item.name)
            return f"You put the {item.name} in/on the {r.name}.", True
        if verb in VERB_STATE:
            r = self._here(args[1])
            if r is None or self.holding != args[0] or not self._can(verb, r.type, self.items[args[0]].type):
                return NOTHING, False
            item = self.items[args[0]]
            if verb == "clean":
                item.clean = True
            elif verb == "heat":
                item.hot, item.cool = True, False
            else:
                item.cool, item.hot = True, False
            return f"You {verb} the {item.name} using the {r.name}.", True
        if verb == "use":
            item = self.items.get(args[0])
            if item is None or item.type not in LAMPS or item.loc != self.location:
                return NOTHING, False
            item.on = not item.on
            return f"You turn {'on' if item.on else 'off'} the {item.name}.", True
        if verb == "examine":
            r = self._here(args[0])
            if r is not None:
                return self.describe(r), True
            item = self._reachable(args[0])
            if item is None:
                return NOTHING, False
            return self._describe_item(item), True
        return NOTHING, False

    @staticmethod
    def _can(verb: str, receptacle_type: str, obj_type: str) -> bool:
        for task_verb, appliance, applies_to in STATE_TASKS.values():
            if task_verb == verb:
                return receptacle_type == appliance and obj_type in applies_to
        return False

    def admissible(self) -> list[str]:
        """The commands that would do something now (none of them answers "Nothing happens.")."""
        out = [f"go to {r.name}" for r in self.receptacles if r.name != self.location]
        if self.location is not None:
            r = self.rmap[self.location]
            if r.openable:
                out.append(f"{'close' if r.is_open else 'open'} {r.name}")
            held = self.items[self.holding] if self.holding else None
            if r.visible:
                if held is None:
                    out.extend(f"take {n} from {r.name}" for n in r.contents if self.items[n].takeable)
                else:
                    out.append(f"put {held.name} in/on {r.name}")
            if held is not None:
                for verb in VERB_STATE:
                    if self._can(verb, r.type, held.type):
                        out.append(f"{verb} {held.name} with {r.name}")
            out.extend(f"use {n}" for n in r.contents if self.items[n].type in LAMPS)
            out.append(f"examine {r.name}")
            if r.visible:
                out.extend(f"examine {n}" for n in r.contents)
        if self.holding is not None:
            out.append(f"examine {self.holding}")
        out.extend(("inventory", "look"))
        return out

    # ---- goal -------------------------------------------------------------------------------

    def satisfies(self, item: Item) -> bool:
        """Whether an item already counts toward the goal where it lies (put tasks)."""
        task = self.task
        if item.type != task.obj_type or item.loc is None:
            return False
        if self.rmap[item.loc].type != task.target:
            return False
        state = task.state
        return state is None or item.has(VERB_STATE[state[0]])

    def won(self) -> bool:
        """Whether the goal holds in the true state."""
        task = self.task
        if task.task_type == "look_at_obj_in_light":
            if self.holding is None or self.items[self.holding].type != task.obj_type:
                return False
            return any(
                i.type == task.target and i.on and i.loc == self.location for i in self.items.values()
            )
        return sum(1 for i in self.items.values() if self.satisfies(i)) >= task.count

    def fingerprint(self) -> str:
        """The initial state and task as one string (the identity of a task instance)."""
        places = ";".join(f"{r.name}:{','.join(r.contents)}" for r in self.receptacles)
        t = self.task
        return f"{self.kind}|{places}|{t.task_type}|{t.obj_type}|{t.target}|{t.goal}"
