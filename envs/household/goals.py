"""ALFWorld's six goal types: their instructions, success checks and subgoal decompositions.

=========================== ========================================= ==================================
type                        instruction                               satisfied when
=========================== ========================================= ==================================
``pick_and_place``          put some mug in cabinet.                  a mug lies in some cabinet
``pick_clean_then_place``   put a clean apple in fridge.              a clean apple lies in some fridge
``pick_heat_then_place``    put a hot potato on diningtable.          a hot potato lies on a diningtable
``pick_cool_then_place``    put a cool tomato on countertop.          a cool tomato lies on a countertop
``look_at_obj_in_light``    look at book under the desklamp.          the agent holds a book, stands at
                                                                      the desk lamp, and the lamp is on
``pick_two_obj_and_place``  put two cd in drawer.                     one drawer holds two cds
=========================== ========================================= ==================================

Subgoals are checked in order and never undone: the current one is the first whose predicate has
not held yet (see :meth:`Goal.advance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from envgym.envs.household.catalog import LAMP_KIND, OBJECTS, RECEPTACLES, TOOL_FOR_STATE, VERB_FOR_STATE
from envgym.envs.household.world import HELD, World

GOAL_TYPES = (
    "pick_and_place",
    "pick_clean_then_place",
    "pick_heat_then_place",
    "pick_cool_then_place",
    "look_at_obj_in_light",
    "pick_two_obj_and_place",
)
#: the object state each "then place" goal needs
REQUIRED_STATE = {
    "pick_clean_then_place": "clean",
    "pick_heat_then_place": "hot",
    "pick_cool_then_place": "cool",
}
DONE = "done"


@dataclass(frozen=True)
class Subgoal:
    text: str
    reached: Callable[[World], bool]


@dataclass(frozen=True)
class Goal:
    type: str
    object: str
    receptacle: str | None = None  # None for look_at_obj_in_light

    def __post_init__(self) -> None:
        if self.type not in GOAL_TYPES:
            raise ValueError(f"unknown goal type {self.type!r}; choose one of {', '.join(GOAL_TYPES)}")
        kind = OBJECTS.get(self.object)
        if kind is None:
            raise ValueError(f"unknown object kind {self.object!r}")
        if self.state and not kind.can(self.state):
            raise ValueError(f"a {self.object} cannot be made {self.state}")
        if self.type == "look_at_obj_in_light":
            if not kind.light:
                raise ValueError(f"a {self.object} is not something to look at under the lamp")
        elif self.receptacle not in RECEPTACLES:
            raise ValueError(f"goal {self.type} needs a known receptacle kind, got {self.receptacle!r}")

    @property
    def state(self) -> str | None:
        """``clean`` / ``hot`` / ``cool`` for the "then place" goals, else ``None``."""
        return REQUIRED_STATE.get(self.type)

    @property
    def preposition(self) -> str:
        return RECEPTACLES[self.receptacle].preposition if self.receptacle else "in"

    def instruction(self) -> str:
        o, r, prep = self.object, self.receptacle, self.preposition
        if self.type == "pick_and_place":
            return f"put some {o} {prep} {r}."
        if self.type == "look_at_obj_in_light":
            return f"look at {o} under the desklamp."
        if self.type == "pick_two_obj_and_place":
            return f"put two {o} {prep} {r}."
        adjective = {"clean": "clean", "hot": "hot", "cool": "cool"}[self.state]
        return f"put a {adjective} {o} {prep} {r}."

    # ------------------------------------------------------------------ checks
    def satisfied(self, world: World) -> bool:
        if self.type == "look_at_obj_in_light":
            held = world.holding
            lamp = world.lamp
            return held is not None and held.kind == self.object and lamp.on and world.agent_location == lamp.location
        if self.type == "pick_two_obj_and_place":
            return max(self.placed_counts(world).values(), default=0) >= 2
        return any(
            item.kind == self.object
            and item.location != HELD
            and world.receptacles[item.location].kind == self.receptacle
            and (self.state is None or getattr(item, self.state))
            for item in world.items.values()
        )

    def placed_counts(self, world: World) -> dict[str, int]:
        """``{receptacle of the goal kind: number of goal objects in it}``."""
        counts = {r.name: 0 for r in world.receptacles_of(self.receptacle or "")}
        for item in world.of_kind(self.object):
            if item.location in counts:
                counts[item.location] += 1
        return counts

    def subgoals(self) -> list[Subgoal]:
        """The task's steps in order; the last one is the goal itself."""
        o, r, prep = self.object, self.receptacle, self.preposition
        steps = [Subgoal(f"find {_an(o)}", lambda w: self._sees(w)), Subgoal(f"take the {o}", lambda w: self._holds(w))]
        if self.type == "look_at_obj_in_light":
            steps.append(Subgoal(f"go to the {LAMP_KIND} with the {o}",
                                 lambda w: self._holds(w) and w.agent_location == w.lamp.location))
            steps.append(Subgoal(f"turn on the {LAMP_KIND}", self.satisfied))
        elif self.type == "pick_two_obj_and_place":
            first_placed = lambda w: max(self.placed_counts(w).values(), default=0) >= 1  # noqa: E731
            steps += [
                Subgoal(f"put the first {o} {prep} {_an(r)}", first_placed),
                Subgoal(f"find a second {o}", lambda w: first_placed(w) and self._sees_outside_target(w)),
                Subgoal(f"take the second {o}", lambda w: first_placed(w) and self._holds(w)),
                Subgoal(f"put the second {o} {prep} the same {r}", self.satisfied),
            ]
        else:
            if self.state:
                tool, verb = TOOL_FOR_STATE[self.state], VERB_FOR_STATE[self.state]
                steps.append(Subgoal(f"{verb} the {o} with the {tool}", lambda w: self._holds(w, self.state)))
            steps.append(Subgoal(f"put the {o} {prep} {_an(r)}", self.satisfied))
        return steps

    def advance(self, world: World, done: int) -> int:
        """Number of subgoals done after this step, given ``done`` before it (monotone)."""
        steps = self.subgoals()
        if self.satisfied(world):
            return len(steps)
        while done < len(steps) - 1 and steps[done].reached(world):
            done += 1
        return done

    def current_subgoal(self, done: int) -> str:
        steps = self.subgoals()
        return steps[done].text if done < len(steps) else DONE

    # ------------------------------------------------------------------ predicates
    def _holds(self, world: World, state: str | None = None) -> bool:
        held = world.holding
        return held is not None and held.kind == self.object and (state is None or getattr(held, state))

    def _sees(self, world: World) -> bool:
        return self._holds(world) or any(item.kind == self.object for item in world.visible_items())

    def _sees_outside_target(self, world: World) -> bool:
        return self._holds(world) or any(
            item.kind == self.object and world.receptacles[item.location].kind != self.receptacle
            for item in world.visible_items()
        )



def candidate_subgoals(goal: Goal) -> list[str]:
    """The subgoals a planner may choose from for ``goal``: every step of every goal type that can be
    stated about the goal's object (and receptacle), in a fixed order.  The goal's own steps are among
    them, so is what the other types would ask of the same object (heat it, turn on the lamp, ...);
    which ones apply, and in what order, is the planner's to learn."""
    texts: list[str] = []
    for goal_type in GOAL_TYPES:
        receptacle = None if goal_type == "look_at_obj_in_light" else goal.receptacle
        if receptacle is None and goal_type != "look_at_obj_in_light":
            continue
        try:
            other = Goal(goal_type, goal.object, receptacle)
        except ValueError:  # the object cannot be made hot, looked at under the lamp, ...
            continue
        texts.extend(step.text for step in other.subgoals() if step.text not in texts)
    return texts


def _an(noun: str) -> str:
    """``an apple`` / ``a mug``."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
