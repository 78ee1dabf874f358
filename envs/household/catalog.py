"""What a house can contain: receptacle kinds, room templates and object kinds with their abilities."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReceptacleKind:
    name: str
    openable: bool = False
    preposition: str = "on"  # "put a mug in cabinet" / "put a book on shelf"


RECEPTACLES: dict[str, ReceptacleKind] = {
    kind.name: kind
    for kind in [
        ReceptacleKind("bathtubbasin", preposition="in"),
        ReceptacleKind("bed"),
        ReceptacleKind("cabinet", openable=True, preposition="in"),
        ReceptacleKind("coffeetable"),
        ReceptacleKind("countertop"),
        ReceptacleKind("desk"),
        ReceptacleKind("diningtable"),
        ReceptacleKind("drawer", openable=True, preposition="in"),
        ReceptacleKind("dresser"),
        ReceptacleKind("fridge", openable=True, preposition="in"),
        ReceptacleKind("garbagecan", preposition="in"),
        ReceptacleKind("microwave", openable=True, preposition="in"),
        ReceptacleKind("shelf"),
        ReceptacleKind("sidetable"),
        ReceptacleKind("sinkbasin", preposition="in"),
        ReceptacleKind("sofa"),
        ReceptacleKind("toilet"),
        ReceptacleKind("towelholder"),
        ReceptacleKind("tvstand"),
    ]
}

#: room -> [(receptacle kind, (min count, max count))]; every kind of a room appears at least once.
ROOMS: dict[str, list[tuple[str, tuple[int, int]]]] = {
    "kitchen": [
        ("countertop", (1, 2)), ("diningtable", (1, 1)), ("fridge", (1, 1)), ("microwave", (1, 1)),
        ("sinkbasin", (1, 1)), ("cabinet", (2, 5)), ("drawer", (1, 3)), ("garbagecan", (1, 1)),
    ],
    "livingroom": [
        ("sofa", (1, 1)), ("coffeetable", (1, 1)), ("sidetable", (1, 1)), ("tvstand", (1, 1)),
        ("shelf", (1, 2)), ("drawer", (1, 2)),
    ],
    "bedroom": [
        ("bed", (1, 1)), ("desk", (1, 1)), ("dresser", (1, 1)), ("shelf", (1, 2)), ("drawer", (1, 3)),
    ],
    "bathroom": [
        ("sinkbasin", (1, 1)), ("toilet", (1, 1)), ("towelholder", (1, 1)), ("bathtubbasin", (1, 1)),
        ("countertop", (1, 1)), ("cabinet", (1, 2)), ("garbagecan", (1, 1)),
    ],
}
ROOM_ORDER = tuple(ROOMS)

#: Where the desk lamp stands: on the desk in a bedroom, else on the side table of a living room.
LAMP_KIND = "desklamp"
LAMP_HOSTS = (("bedroom", "desk"), ("livingroom", "sidetable"))

#: The receptacle kind that performs each object state change.
TOOL_FOR_STATE = {"clean": "sinkbasin", "hot": "microwave", "cool": "fridge"}
VERB_FOR_STATE = {"clean": "clean", "hot": "heat", "cool": "cool"}


@dataclass(frozen=True)
class ObjectKind:
    name: str
    places: tuple[str, ...]  # receptacle kinds it may start in, or be asked to go to
    clean: bool = False  # can be cleaned in a sinkbasin
    hot: bool = False  # can be heated in a microwave
    cool: bool = False  # can be cooled in a fridge
    light: bool = False  # can be examined under the desk lamp

    def can(self, state: str) -> bool:
        return bool(getattr(self, state))


_FOOD = ("countertop", "diningtable", "fridge", "sinkbasin", "microwave", "garbagecan")
_DISH = ("countertop", "diningtable", "cabinet", "shelf", "sinkbasin", "fridge")
_CUTLERY = ("countertop", "diningtable", "drawer", "sinkbasin")
_DESK_THINGS = ("desk", "shelf", "drawer", "sidetable", "dresser")

OBJECTS: dict[str, ObjectKind] = {
    kind.name: kind
    for kind in [
        ObjectKind("apple", _FOOD, clean=True, hot=True, cool=True),
        ObjectKind("potato", _FOOD, clean=True, hot=True, cool=True),
        ObjectKind("tomato", _FOOD, clean=True, hot=True, cool=True),
        ObjectKind("egg", _FOOD, clean=True, hot=True, cool=True),
        ObjectKind("lettuce", ("countertop", "diningtable", "fridge", "sinkbasin"), clean=True, cool=True),
        ObjectKind("bread", ("countertop", "diningtable", "fridge", "cabinet"), hot=True, cool=True),
        ObjectKind("mug", _DISH + ("microwave", "coffeetable", "desk"), clean=True, hot=True, cool=True, light=True),
        ObjectKind("cup", _DISH + ("microwave",), clean=True, hot=True, cool=True),
        ObjectKind("bowl", _DISH + ("desk",), clean=True, cool=True, light=True),
        ObjectKind("plate", _DISH, clean=True, hot=True, cool=True),
        ObjectKind("knife", _CUTLERY, clean=True),
        ObjectKind("fork", _CUTLERY, clean=True),
        ObjectKind("spoon", _CUTLERY, clean=True),
        ObjectKind("soapbar", ("sinkbasin", "toilet", "countertop", "cabinet", "bathtubbasin"), clean=True),
        ObjectKind("cloth", ("sinkbasin", "countertop", "cabinet", "drawer", "toilet"), clean=True),
        ObjectKind("towel", ("towelholder", "bathtubbasin", "countertop")),
        ObjectKind("book", ("desk", "shelf", "sofa", "bed", "diningtable", "sidetable", "coffeetable", "drawer"), light=True),
        ObjectKind("cd", _DESK_THINGS + ("garbagecan",), light=True),
        ObjectKind("pen", _DESK_THINGS, light=True),
        ObjectKind("pencil", _DESK_THINGS, light=True),
        ObjectKind("cellphone", ("desk", "bed", "sofa", "sidetable", "dresser", "drawer"), light=True),
        ObjectKind("keychain", _DESK_THINGS + ("coffeetable", "sofa"), light=True),
        ObjectKind("creditcard", _DESK_THINGS + ("coffeetable",), light=True),
        ObjectKind("remotecontrol", ("sofa", "coffeetable", "sidetable", "tvstand", "dresser"), light=True),
        ObjectKind("alarmclock", ("desk", "shelf", "sidetable", "dresser"), light=True),
        ObjectKind("pillow", ("bed", "sofa"), light=True),
        ObjectKind("vase", ("shelf", "coffeetable", "sidetable", "diningtable", "tvstand"), light=True),
        ObjectKind("statue", ("shelf", "coffeetable", "sidetable", "tvstand", "dresser"), light=True),
    ]
}


def rooms_with(kind: str) -> list[str]:
    """Rooms whose template contains receptacle ``kind``."""
    return [room for room in ROOM_ORDER if any(k == kind for k, _ in ROOMS[room])]
