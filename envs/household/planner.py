"""The reference solver: the next command towards the goal from any state.

It reads the full state (it knows where every object is) and works backwards from the goal:

* holding something the goal does not need -> put it down here (opening this receptacle if
  needed), or go to the first receptacle that needs no opening and put it there;
* holding nothing -> fetch a goal object (go to its receptacle, open it, take it), preferring one
  that already has the required state;
* holding a goal object -> give it the required state (go to the sinkbasin/microwave/fridge, use it),
  then go to the destination, open it if needed and put it in; for the lamp goal, go to the lamp
  and switch it on.

Every command it returns is admissible, and each one brings the agent strictly closer to the goal
along this fixed recipe, so it finishes from any reachable state.
"""

from __future__ import annotations

from envgym.envs.household.catalog import TOOL_FOR_STATE, VERB_FOR_STATE
from envgym.envs.household.goals import Goal
from envgym.envs.household.world import HELD, Item, World


def next_command(world: World, goal: Goal) -> str | None:
    """The next command of the reference plan, or ``None`` when the goal holds (or cannot be reached)."""
    if goal.satisfied(world):
        return None
    held = world.holding
    if held is not None and held.kind != goal.object:
        return _put_down(world, held)
    if goal.type == "look_at_obj_in_light":
        return _look_in_light(world, goal)
    if goal.type == "pick_two_obj_and_place":
        return _place_two(world, goal)
    return _place_one(world, goal)


def _place_one(world: World, goal: Goal) -> str | None:
    held = world.holding
    if held is None:
        candidates = sorted(world.of_kind(goal.object), key=lambda i: not (goal.state and getattr(i, goal.state)))
        return _fetch(world, candidates[0]) if candidates else None
    if goal.state and not getattr(held, goal.state):
        tool = _nearest(world, TOOL_FOR_STATE[goal.state])
        if world.agent_location != tool:
            return f"go to {tool}"
        return f"{VERB_FOR_STATE[goal.state]} {held.name} with {tool}"
    return _deliver(world, held, _nearest(world, goal.receptacle))


def _place_two(world: World, goal: Goal) -> str | None:
    counts = goal.placed_counts(world)
    if not counts:
        return None
    destination = max(counts, key=counts.__getitem__)  # the first of the fullest: stable as the agent moves
    held = world.holding
    if held is not None:
        return _deliver(world, held, destination)
    spare = [item for item in world.of_kind(goal.object) if item.location != destination]
    return _fetch(world, spare[0]) if spare else None


def _look_in_light(world: World, goal: Goal) -> str | None:
    held = world.holding
    if held is None:
        candidates = world.of_kind(goal.object)
        return _fetch(world, candidates[0]) if candidates else None
    if world.agent_location != world.lamp.location:
        return f"go to {world.lamp.location}"
    return f"use {world.lamp.name}"


def _fetch(world: World, item: Item) -> str:
    source = item.location
    if source == HELD:  # cannot happen: callers fetch only with empty hands
        raise AssertionError("fetching an item that is already held")
    if world.agent_location != source:
        return f"go to {source}"
    if not world.receptacles[source].is_open:
        return f"open {source}"
    return f"take {item.name} from {source}"


def _deliver(world: World, item: Item, destination: str) -> str:
    if world.agent_location != destination:
        return f"go to {destination}"
    if not world.receptacles[destination].is_open:
        return f"open {destination}"
    return f"put {item.name} in/on {destination}"


def _put_down(world: World, item: Item) -> str:
    here = world.agent_location
    if here is not None:
        return _deliver(world, item, here)
    spot = next(r.name for r in world.receptacles.values() if not r.openable)
    return f"go to {spot}"


def _nearest(world: World, kind: str) -> str:
    """The receptacle of ``kind`` to use: the one the agent stands at, else the first in the house."""
    here = world.agent_location
    if here is not None and world.receptacles[here].kind == kind:
        return here
    return world.receptacles_of(kind)[0].name
