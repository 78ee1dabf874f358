"""Procedural houses: a goal and a world, both drawn from the task seed.

The goal comes from the stream ``default_rng([seed, 0])`` and the world from ``default_rng([seed, 1])``,
so a task that names its goal explicitly builds the same house as one whose goal was drawn.

A house always has a kitchen (fridge, microwave, sinkbasin: every goal is feasible) and a room with the
desk lamp (bedroom desk, else living-room side table), plus the rooms the goal needs and, by
``difficulty``, more rooms and more distractor objects.  Openable receptacles start closed.  Goal
objects never start in a receptacle of the goal's kind, so no task is solved at reset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envgym.envs.household.catalog import (
    LAMP_HOSTS,
    LAMP_KIND,
    OBJECTS,
    RECEPTACLES,
    ROOM_ORDER,
    ROOMS,
    TOOL_FOR_STATE,
    ObjectKind,
    rooms_with,
)
from envgym.envs.household.goals import GOAL_TYPES, REQUIRED_STATE, Goal
from envgym.envs.household.world import Item, Lamp, Receptacle, World

DIFFICULTIES = ("easy", "medium", "hard")
EXTRA_ROOMS = {"easy": 0, "medium": 1, "hard": 3}
DISTRACTORS = {"easy": 5, "medium": 9, "hard": 14}
NEVER_TARGETS = ("garbagecan", "sinkbasin", "bathtubbasin", "microwave")


def target_kinds(goal_type: str, kind: ObjectKind) -> list[str]:
    """Receptacle kinds a goal of ``goal_type`` may ask ``kind`` to be put in.

    Never a basin, the garbage can or the microwave, nor the appliance that does the goal's state
    change, and only kinds that leave the object another kind to start from.
    """
    state = REQUIRED_STATE.get(goal_type)
    excluded = set(NEVER_TARGETS) | ({TOOL_FOR_STATE[state]} if state else set())
    return [place for place in kind.places if place not in excluded and set(kind.places) - {place}]


def goal_objects(goal_type: str) -> list[str]:
    """Object kinds a goal of ``goal_type`` can be about."""
    if goal_type == "look_at_obj_in_light":
        return [k.name for k in OBJECTS.values() if k.light]
    state = REQUIRED_STATE.get(goal_type)
    return [k.name for k in OBJECTS.values() if (state is None or k.can(state)) and target_kinds(goal_type, k)]


def choose_goal(seed: int, goal_type: str, obj: str | None = None, receptacle: str | None = None) -> Goal:
    """The goal of a task: ``goal_type`` with ``obj``/``receptacle`` drawn from the seed when not given."""
    if goal_type not in GOAL_TYPES:
        raise ValueError(f"unknown goal type {goal_type!r}; choose one of {', '.join(GOAL_TYPES)}")
    rng = np.random.default_rng([seed, 0])
    obj = obj or _pick(rng, goal_objects(goal_type))
    if goal_type == "look_at_obj_in_light":
        return Goal(goal_type, obj)
    if receptacle is None:
        if obj not in OBJECTS:
            raise ValueError(f"unknown object kind {obj!r}")
        receptacle = _pick(rng, target_kinds(goal_type, OBJECTS[obj]))
    return Goal(goal_type, obj, receptacle)


def build_world(seed: int, goal: Goal, difficulty: str = "medium") -> World:
    """The initial house of a task."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    rng = np.random.default_rng([seed, 1])
    start_kind = _pick(rng, [p for p in OBJECTS[goal.object].places if p != goal.receptacle])
    rooms = _choose_rooms(rng, [k for k in (goal.receptacle, start_kind) if k], difficulty)
    receptacles = _build_receptacles(rng, rooms)
    lamp = _place_lamp(rooms, receptacles)
    items = _place_items(rng, goal, difficulty, receptacles)
    return World(receptacles=receptacles, items=items, lamp=lamp)


def spec_for(goal: Goal, difficulty: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": goal.type, "object": goal.object, "difficulty": difficulty}
    if goal.receptacle:
        spec["receptacle"] = goal.receptacle
    return spec


# ---------------------------------------------------------------------- helpers
def _pick(rng: np.random.Generator, options: list[Any]) -> Any:
    if not options:
        raise ValueError("nothing to choose from")
    return options[int(rng.integers(len(options)))]


def _choose_rooms(rng: np.random.Generator, needed_kinds: list[str], difficulty: str) -> list[str]:
    rooms = {"kitchen", _pick(rng, [room for room, _ in LAMP_HOSTS])}
    for kind in needed_kinds:
        hosts = rooms_with(kind)
        if not rooms & set(hosts):
            rooms.add(_pick(rng, hosts))
    spare = [room for room in ROOM_ORDER if room not in rooms]
    for index in rng.permutation(len(spare))[: EXTRA_ROOMS[difficulty]]:
        rooms.add(spare[int(index)])
    return [room for room in ROOM_ORDER if room in rooms]


def _build_receptacles(rng: np.random.Generator, rooms: list[str]) -> dict[str, Receptacle]:
    counters: dict[str, int] = {}
    receptacles: dict[str, Receptacle] = {}
    for room in rooms:
        for kind, (low, high) in ROOMS[room]:
            for _ in range(int(rng.integers(low, high + 1))):
                counters[kind] = counters.get(kind, 0) + 1
                name = f"{kind} {counters[kind]}"
                receptacles[name] = Receptacle(name, kind, room, is_open=not RECEPTACLES[kind].openable)
    return receptacles


def _place_lamp(rooms: list[str], receptacles: dict[str, Receptacle]) -> Lamp:
    for room, host_kind in LAMP_HOSTS:
        if room in rooms:
            host = next(r for r in receptacles.values() if r.room == room and r.kind == host_kind)
            return Lamp(f"{LAMP_KIND} 1", host.name)
    raise ValueError("a house needs a bedroom or a living room for the desk lamp")


def _place_items(
    rng: np.random.Generator, goal: Goal, difficulty: str, receptacles: dict[str, Receptacle]
) -> dict[str, Item]:
    copies = (2 if goal.type == "pick_two_obj_and_place" else 1) + int(rng.integers(0, 2))
    placements = [(goal.object, _start_for(rng, goal.object, receptacles, exclude=goal.receptacle)) for _ in range(copies)]
    distractor_kinds = [k for k in OBJECTS if k != goal.object and _hosts(k, receptacles)]
    for _ in range(DISTRACTORS[difficulty]):
        kind = _pick(rng, distractor_kinds)
        placements.append((kind, _start_for(rng, kind, receptacles)))
    counters: dict[str, int] = {}
    items = []
    for kind, location in placements:
        counters[kind] = counters.get(kind, 0) + 1
        items.append(Item(f"{kind} {counters[kind]}", kind, location))
    return {items[int(i)].name: items[int(i)] for i in rng.permutation(len(items))}


def _hosts(kind: str, receptacles: dict[str, Receptacle], exclude: str | None = None) -> list[str]:
    places = set(OBJECTS[kind].places) - {exclude}
    return [r.name for r in receptacles.values() if r.kind in places]


def _start_for(rng: np.random.Generator, kind: str, receptacles: dict[str, Receptacle], exclude: str | None = None) -> str:
    return _pick(rng, _hosts(kind, receptacles, exclude))
