"""The household world state: rooms, receptacles, objects, the desk lamp and the agent.

Objects lie in receptacles (``location`` is a receptacle name) or in the agent's hand
(``location == HELD``).  The agent stands at a receptacle, or in the middle of the house
(``agent_location is None``) before its first move.  Objects inside a closed receptacle are hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envgym.envs.household.catalog import OBJECTS, RECEPTACLES

HELD = "<agent>"


@dataclass
class Receptacle:
    name: str  # "cabinet 2"
    kind: str  # "cabinet"
    room: str
    is_open: bool = True  # always True for receptacles that cannot be opened

    @property
    def openable(self) -> bool:
        return RECEPTACLES[self.kind].openable


@dataclass
class Item:
    name: str  # "apple 1"
    kind: str  # "apple"
    location: str  # a receptacle name, or HELD
    clean: bool = False
    hot: bool = False
    cool: bool = False

    def describe(self) -> str:
        """``a hot, clean apple 1`` style description of the item's state."""
        states = [s for s in ("hot", "cool", "clean") if getattr(self, s)]
        return f"{', '.join(states)} {self.name}" if states else self.name


@dataclass
class Lamp:
    name: str  # "desklamp 1"
    location: str  # the receptacle it stands on
    on: bool = False


@dataclass
class World:
    receptacles: dict[str, Receptacle]
    items: dict[str, Item]
    lamp: Lamp
    agent_location: str | None = None

    # ------------------------------------------------------------------ queries
    @property
    def holding(self) -> Item | None:
        return next((item for item in self.items.values() if item.location == HELD), None)

    def rooms(self) -> dict[str, list[str]]:
        """``{room: [receptacle names]}`` in the order the receptacles were built."""
        rooms: dict[str, list[str]] = {}
        for recep in self.receptacles.values():
            rooms.setdefault(recep.room, []).append(recep.name)
        return rooms

    def contents(self, receptacle: str) -> list[Item]:
        return [item for item in self.items.values() if item.location == receptacle]

    def visible_items(self) -> list[Item]:
        """Items the agent can see and reach: those in its receptacle when that is open."""
        here = self.agent_location
        if here is None or not self.receptacles[here].is_open:
            return []
        return self.contents(here)

    def of_kind(self, kind: str) -> list[Item]:
        return [item for item in self.items.values() if item.kind == kind]

    def receptacles_of(self, kind: str) -> list[Receptacle]:
        return [r for r in self.receptacles.values() if r.kind == kind]

    def can_change(self, item: Item, state: str) -> bool:
        return OBJECTS[item.kind].can(state)

    # ------------------------------------------------------------------ rendering
    def describe_location(self) -> str:
        """ALFWorld-style description of what the agent sees where it stands."""
        here = self.agent_location
        if here is None:
            return self.describe_house()
        recep = self.receptacles[here]
        if not recep.is_open:
            return f"The {here} is closed."
        things = [item.name for item in self.contents(here)]
        if self.lamp.location == here:
            things.insert(0, self.lamp.name)
        listing = _listing(things)
        text = f"The {here} is open. In it, you see {listing}." if recep.openable else f"On the {here}, you see {listing}."
        if self.lamp.location == here and self.lamp.on:
            text += f" The {self.lamp.name} is on."
        return text

    def describe_house(self) -> str:
        parts = [f"in the {room}, {_listing(names)}" for room, names in self.rooms().items()]
        return f"You are in the middle of the house. Looking quickly around you, you see: {'; '.join(parts)}."

    def status_line(self) -> str:
        here = self.agent_location
        where = "the middle of the house" if here is None else f"{here} ({self.receptacles[here].room})"
        held = self.holding
        return f"Location: {where}. Carrying: {'a ' + held.describe() if held else 'nothing'}."

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        return {
            # flat dataclasses: vars() is a shallow copy, ~10x cheaper than asdict's deep recursion
            "receptacles": [dict(vars(r)) for r in self.receptacles.values()],
            "items": [dict(vars(i)) for i in self.items.values()],
            "lamp": dict(vars(self.lamp)),
            "agent_location": self.agent_location,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> World:
        receptacles = {r["name"]: Receptacle(**r) for r in data["receptacles"]}
        items = {i["name"]: Item(**i) for i in data["items"]}
        world = cls(receptacles=receptacles, items=items, lamp=Lamp(**data["lamp"]),
                    agent_location=data.get("agent_location"))
        world.validate()
        return world

    def validate(self) -> None:
        """Raise ``ValueError`` when the state is inconsistent (unknown kinds or places, two held items)."""
        for recep in self.receptacles.values():
            if recep.kind not in RECEPTACLES:
                raise ValueError(f"unknown receptacle kind {recep.kind!r}")
            if not recep.openable and not recep.is_open:
                raise ValueError(f"{recep.name} cannot be closed")
        for item in self.items.values():
            if item.kind not in OBJECTS:
                raise ValueError(f"unknown object kind {item.kind!r}")
            if item.location != HELD and item.location not in self.receptacles:
                raise ValueError(f"{item.name} lies in unknown receptacle {item.location!r}")
        if sum(item.location == HELD for item in self.items.values()) > 1:
            raise ValueError("the agent can hold only one object")
        if self.lamp.location not in self.receptacles:
            raise ValueError(f"the lamp stands on unknown receptacle {self.lamp.location!r}")
        if self.agent_location is not None and self.agent_location not in self.receptacles:
            raise ValueError(f"the agent stands at unknown receptacle {self.agent_location!r}")


def _listing(names: list[str]) -> str:
    """``a apple 1, a mug 2, and a pen 1`` (ALFWorld's wording, article included), or ``nothing``."""
    if not names:
        return "nothing"
    phrases = [f"a {name}" for name in names]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + f", and {phrases[-1]}"
