"""What a household may contain: room kinds, receptacles, objects, their properties and task phrasings.

Pure data. Receptacle and object names follow ALFWorld (``countertop``, ``sinkbasin``,
``remotecontrol``); a room kind says how many receptacles of each type it may hold and where each
object type is plausibly found. Task targets are drawn from the same plausible places.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_TYPES: tuple[str, ...] = (
    "pick_and_place",
    "pick_two_and_place",
    "pick_clean_then_place",
    "pick_heat_then_place",
    "pick_cool_then_place",
    "look_at_obj_in_light",
)
"""The six ALFWorld task types."""

OPENABLE: frozenset[str] = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
"""Receptacle types that can be opened and closed; they start closed and hide their contents."""

LAMPS: frozenset[str] = frozenset({"desklamp", "floorlamp"})
"""Object types that are switched on with ``use`` and cannot be picked up."""

CLEANABLE: frozenset[str] = frozenset(
    {
        "apple", "bowl", "butterknife", "cloth", "cup", "dishsponge", "egg", "fork", "kettle", "knife",
        "lettuce", "mug", "pan", "plate", "pot", "potato", "soapbar", "spatula", "spoon", "tomato",
    }
)
HEATABLE: frozenset[str] = frozenset({"apple", "bread", "cup", "egg", "mug", "plate", "potato", "tomato"})
COOLABLE: frozenset[str] = frozenset(
    {"apple", "bowl", "bread", "cup", "egg", "lettuce", "mug", "pan", "plate", "pot", "potato", "tomato", "winebottle"}
)
LOOKABLE: frozenset[str] = frozenset(
    {
        "alarmclock", "book", "bowl", "box", "cd", "cellphone", "creditcard", "keychain", "laptop", "mug",
        "newspaper", "pen", "pencil", "pillow", "plate", "remotecontrol", "statue", "vase", "watch",
    }
)

STATE_TASKS: dict[str, tuple[str, str, frozenset[str]]] = {
    "pick_clean_then_place": ("clean", "sinkbasin", CLEANABLE),
    "pick_heat_then_place": ("heat", "microwave", HEATABLE),
    "pick_cool_then_place": ("cool", "fridge", COOLABLE),
}
"""Task type -> (verb, appliance receptacle type, object types the verb applies to)."""

VERB_STATE: dict[str, str] = {"clean": "clean", "heat": "hot", "cool": "cool"}
"""The verb and the state it leaves the object in."""

TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_and_place": ("put a {obj} in {target}.", "put some {obj} on {target}."),
    "pick_two_and_place": ("put two {obj} in {target}.", "find two {obj} and put them in {target}."),
    "pick_clean_then_place": ("put a clean {obj} in {target}.", "clean some {obj} and put it in {target}."),
    "pick_heat_then_place": ("put a hot {obj} in {target}.", "heat some {obj} and put it in {target}."),
    "pick_cool_then_place": ("put a cool {obj} in {target}.", "cool some {obj} and put it in {target}."),
    "look_at_obj_in_light": ("look at {obj} under the {target}.", "examine the {obj} with the {target}."),
}
"""ALFWorld's goal phrasings; ``target`` is a receptacle type, or the lamp type for look tasks."""


@dataclass(frozen=True)
class RoomKind:
    """A kind of room.

    Attributes:
        name: ``kitchen``, ``bedroom``, ...
        receptacles: Receptacle type -> (least, most) instances.
        objects: Object type -> receptacle types where it plausibly starts (and may be a target).
        lamp: The lamp type of the room, or None where there is none.
        lamp_hosts: Receptacle types the lamp may stand on.
    """

    name: str
    receptacles: dict[str, tuple[int, int]]
    objects: dict[str, tuple[str, ...]]
    lamp: str | None = None
    lamp_hosts: tuple[str, ...] = ()


MIN_RECEPTACLES = 8
MAX_RECEPTACLES = 16

_FOOD = ("countertop", "diningtable", "fridge", "garbagecan", "sinkbasin")
_DISH = ("countertop", "diningtable", "cabinet", "sinkbasin", "shelf", "fridge")
_CUTLERY = ("countertop", "diningtable", "drawer", "sinkbasin")
_SMALL_BED = ("desk", "dresser", "shelf", "sidetable", "drawer", "safe")
_SMALL_LIVING = ("coffeetable", "sidetable", "drawer", "dresser", "shelf", "safe", "cabinet")

ROOMS: dict[str, RoomKind] = {
    "kitchen": RoomKind(
        name="kitchen",
        receptacles={
            "cabinet": (2, 5), "coffeemachine": (0, 1), "countertop": (1, 2), "diningtable": (0, 1),
            "drawer": (1, 3), "fridge": (1, 1), "garbagecan": (1, 1), "microwave": (1, 1), "shelf": (0, 2),
            "sinkbasin": (1, 1), "stoveburner": (1, 2), "toaster": (0, 1),
        },
        objects={
            "apple": _FOOD + ("microwave",),
            "bread": ("countertop", "diningtable", "fridge", "cabinet", "toaster"),
            "egg": _FOOD + ("microwave",),
            "lettuce": _FOOD,
            "potato": _FOOD + ("microwave", "stoveburner"),
            "tomato": _FOOD,
            "bowl": _DISH + ("microwave",),
            "cup": _DISH + ("microwave", "coffeemachine"),
            "mug": _DISH + ("microwave", "coffeemachine"),
            "plate": _DISH,
            "butterknife": _CUTLERY,
            "fork": _CUTLERY,
            "knife": _CUTLERY,
            "spatula": _CUTLERY,
            "spoon": _CUTLERY,
            "kettle": ("countertop", "stoveburner", "cabinet", "shelf"),
            "pan": ("countertop", "stoveburner", "cabinet", "sinkbasin"),
            "pot": ("countertop", "stoveburner", "cabinet", "sinkbasin"),
            "dishsponge": ("countertop", "sinkbasin", "cabinet", "drawer", "garbagecan"),
            "peppershaker": ("countertop", "diningtable", "cabinet", "drawer", "shelf"),
            "saltshaker": ("countertop", "diningtable", "cabinet", "drawer", "shelf"),
            "soapbottle": ("countertop", "cabinet", "shelf", "garbagecan"),
            "winebottle": ("countertop", "diningtable", "fridge", "cabinet", "shelf"),
        },
    ),
    "bedroom": RoomKind(
        name="bedroom",
        receptacles={
            "armchair": (0, 1), "bed": (1, 1), "desk": (0, 1), "drawer": (1, 4), "dresser": (0, 1),
            "garbagecan": (1, 1), "laundryhamper": (0, 1), "safe": (0, 1), "shelf": (1, 3), "sidetable": (1, 2),
        },
        objects={
            "alarmclock": ("desk", "dresser", "shelf", "sidetable"),
            "book": ("bed", "desk", "dresser", "shelf", "sidetable", "armchair"),
            "bowl": ("desk", "dresser", "shelf"),
            "cd": _SMALL_BED + ("garbagecan",),
            "cellphone": _SMALL_BED + ("bed",),
            "cloth": ("dresser", "drawer", "laundryhamper", "garbagecan", "bed"),
            "creditcard": _SMALL_BED,
            "keychain": _SMALL_BED,
            "laptop": ("bed", "desk", "dresser", "sidetable"),
            "mug": ("desk", "dresser", "shelf", "sidetable"),
            "pen": _SMALL_BED[:-1] + ("garbagecan",),
            "pencil": _SMALL_BED[:-1] + ("garbagecan",),
            "pillow": ("bed", "armchair"),
            "teddybear": ("bed", "armchair", "shelf"),
            "watch": _SMALL_BED,
        },
        lamp="desklamp",
        lamp_hosts=("desk", "dresser", "sidetable"),
    ),
    "livingroom": RoomKind(
        name="livingroom",
        receptacles={
            "armchair": (0, 2), "cabinet": (0, 3), "coffeetable": (1, 1), "diningtable": (0, 1), "drawer": (0, 3),
            "dresser": (0, 1), "garbagecan": (0, 1), "safe": (0, 1), "shelf": (0, 3), "sidetable": (1, 2),
            "sofa": (1, 1), "tvstand": (0, 1),
        },
        objects={
            "book": ("coffeetable", "sidetable", "shelf", "sofa", "diningtable"),
            "bowl": ("coffeetable", "diningtable", "shelf", "cabinet", "tvstand"),
            "box": ("coffeetable", "sidetable", "sofa", "armchair", "shelf", "diningtable", "cabinet"),
            "cellphone": _SMALL_LIVING + ("sofa", "armchair"),
            "creditcard": _SMALL_LIVING + ("sofa",),
            "keychain": _SMALL_LIVING + ("sofa",),
            "laptop": ("sofa", "armchair", "coffeetable", "diningtable", "tvstand"),
            "newspaper": ("sofa", "armchair", "coffeetable", "sidetable", "garbagecan", "diningtable"),
            "pillow": ("sofa", "armchair"),
            "plate": ("coffeetable", "diningtable", "shelf", "cabinet"),
            "remotecontrol": ("sofa", "armchair", "coffeetable", "sidetable", "tvstand", "drawer"),
            "statue": ("coffeetable", "sidetable", "shelf", "tvstand", "diningtable", "dresser"),
            "tissuebox": ("coffeetable", "sidetable", "shelf", "tvstand", "dresser"),
            "vase": ("coffeetable", "sidetable", "shelf", "tvstand", "diningtable", "dresser", "cabinet"),
            "watch": _SMALL_LIVING,
        },
        lamp="floorlamp",
        lamp_hosts=("sidetable", "dresser"),
    ),
    "bathroom": RoomKind(
        name="bathroom",
        receptacles={
            "bathtubbasin": (0, 1), "cabinet": (1, 4), "countertop": (1, 1), "drawer": (0, 4), "garbagecan": (1, 1),
            "shelf": (0, 2), "sinkbasin": (1, 2), "toilet": (1, 1), "toiletpaperhanger": (0, 1),
            "towelholder": (0, 1),
        },
        objects={
            "candle": ("countertop", "cabinet", "toilet", "shelf", "drawer"),
            "cloth": ("countertop", "sinkbasin", "bathtubbasin", "cabinet", "drawer", "shelf", "toilet"),
            "dishsponge": ("countertop", "sinkbasin", "bathtubbasin", "cabinet"),
            "soapbar": ("countertop", "sinkbasin", "bathtubbasin", "toilet", "cabinet", "shelf", "garbagecan"),
            "soapbottle": ("countertop", "cabinet", "toilet", "shelf", "garbagecan"),
            "spraybottle": ("countertop", "cabinet", "toilet", "shelf", "garbagecan"),
            "tissuebox": ("countertop", "cabinet", "toilet", "shelf"),
            "toiletpaper": ("countertop", "cabinet", "toilet", "shelf", "drawer", "toiletpaperhanger", "garbagecan"),
            "towel": ("towelholder", "countertop", "shelf", "bathtubbasin"),
        },
    ),
}
"""The room kinds, by name."""
