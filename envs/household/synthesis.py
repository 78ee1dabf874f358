"""Task synthesis for ``envgym/Household-v0`` (registered as its ``synthesis=`` adapter).

Specs are Household goals (``type``, ``object``, ``receptacle``), so the env's own goal check is an
independent referee and the env's planner (``oracle_action``) turns every verified task into golden
actions.  The role prompts of this family live in ``prompts/`` beside this module.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from envgym.oracle import roll_out
from envgym.synth.adapters import GenericAdapter, Mutation, Solution, SpecError, StateError
from envgym.synth.diff import apply_value, render_path
from envgym.envs.household.catalog import OBJECTS, RECEPTACLES, ROOMS
from envgym.envs.household.goals import GOAL_TYPES, Goal
from envgym.envs.household.world import World


class HouseholdAdapter(GenericAdapter):
    """``envgym/Household-v0``: specs are Household goals; the env's planner is the solver."""

    family = "household"
    prompt_dir = Path(__file__).with_name("prompts")
    dedup_scope = "initial_state"  # instructions are goal templates; another house is another task
    incidental = ["task_id", "instruction", "goal", "turn", "subgoals_done", "world.agent_location",
                  "world.receptacles[*].is_open"]

    def state_schema(self) -> dict[str, Any] | None:
        schema = super().state_schema()
        return schema if schema else household_state_schema()

    def prompt_context(self) -> dict[str, str]:
        lines = []
        for kind in OBJECTS.values():
            abilities = [a for a in ("clean", "hot", "cool", "light") if getattr(kind, a)]
            lines.append(f"- {kind.name}: in {', '.join(kind.places)}" + (f"; can be {', '.join(abilities)}" if abilities else ""))
        lines.append("Rooms and their receptacle kinds (min-max count):")
        for room, kinds in ROOMS.items():
            lines.append(f"- {room}: " + ", ".join(f"{k} ({lo}-{hi})" for k, (lo, hi) in kinds))
        world_schema = household_state_schema()["properties"]["world"]
        return {"env_id": self.env_id, "schema": json.dumps(world_schema, indent=1), "catalog": "\n".join(lines)}

    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        goal_type = spec.get("type")
        if goal_type not in GOAL_TYPES:
            raise SpecError(f"spec.type must be one of {', '.join(GOAL_TYPES)}, got {goal_type!r}")
        receptacle = spec.get("receptacle") if goal_type != "look_at_obj_in_light" else None
        try:
            goal = Goal(goal_type, str(spec.get("object")), receptacle)
        except ValueError as exc:
            raise SpecError(f"spec is not a valid household goal: {exc}") from None
        difficulty = spec.get("difficulty", "medium")
        if difficulty not in ("easy", "medium", "hard"):
            raise SpecError(f"spec.difficulty must be easy, medium or hard, got {difficulty!r}")
        out = {k: v for k, v in spec.items() if k not in ("targets", "incidental")}
        out.update({"type": goal.type, "object": goal.object, "difficulty": difficulty,
                    "forbid_side_effects": bool(spec.get("forbid_side_effects", True))})
        if goal.receptacle:
            out["receptacle"] = goal.receptacle
        else:
            out.pop("receptacle", None)
        return out

    def _goal(self, spec: dict[str, Any]) -> Any:
        return Goal(spec["type"], spec["object"], spec.get("receptacle"))

    def target_patterns(self, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any]) -> list[str]:
        """The goal objects' place (and, for clean/heat/cool goals, that state flag); the lamp for the
        lamp goal."""
        names = sorted({i["name"] for s in (initial, golden) for i in s.get("world", {}).get("items", [])
                        if isinstance(i, dict) and i.get("kind") == spec["object"]})
        goal = self._goal(spec)
        fields = ["location"] + ([goal.state] if goal.state else [])
        patterns = [f"world.items[{name}].{f}" for name in names for f in fields]
        if goal.type == "look_at_obj_in_light":
            patterns.append("world.lamp.on")
        return patterns

    def incidental_patterns(self, spec: dict[str, Any]) -> list[str]:
        return list(self.incidental)

    def normalize_state(self, state: Any, spec: dict[str, Any], instruction: str, task_id: str) -> dict[str, Any]:
        if not isinstance(state, dict) or not isinstance(state.get("world"), dict):
            raise StateError("a household state is {\"world\": {...}} (plus optional goal)")
        goal = {"type": spec["type"], "object": spec["object"], "receptacle": spec.get("receptacle")}
        given = state.get("goal")
        if given is not None and given != goal:
            raise StateError(f"state.goal {given!r} differs from the spec's goal {goal!r}")
        return {"task_id": task_id, "instruction": instruction, "goal": goal, "world": state["world"],
                "subgoals_done": 0, "turn": 0}

    def native_success(self, state: dict[str, Any], spec: dict[str, Any]) -> bool | None:
        try:
            return bool(self._goal(spec).satisfied(World.from_json(state["world"])))
        except (KeyError, TypeError, ValueError):
            return None

    def solve(self, initial: dict[str, Any], spec: dict[str, Any], golden: dict[str, Any] | None = None,
              max_steps: int = 200) -> Solution:
        """Run the env's planner (``oracle_action``) from ``initial`` in a fresh env (it plans from the
        goal; ``golden`` is not needed)."""
        env = self.make_env(max_turns=max_steps + 1)
        try:
            env.set_state(copy.deepcopy(initial))
            run = roll_out(env, max_steps=max_steps)
            if run.error is not None:
                return Solution(run.actions, None, False, f"the planner's action {run.actions[-1]!r} failed: {run.error}")
            final = json.loads(json.dumps(env.get_state()))
            success = bool(self.native_success(final, spec))
            message = "" if success else (
                "the planner found no way to the goal" if not run.actions
                else f"the planner stopped after {len(run.actions)} actions short of the goal")
            return Solution(run.actions, final, success, message)
        finally:
            self.close_env(env)

    def side_effect_mutations(self, golden: dict[str, Any], spec: dict[str, Any], protected: list[str],
                              limit: int = 3) -> list[Mutation]:
        """Move distractor items (not of the goal's kind) to another receptacle, one at a time."""
        world = golden.get("world", {})
        receptacles = sorted(r["name"] for r in world.get("receptacles", []) if isinstance(r, dict))
        distractors = sorted((i for i in world.get("items", []) if isinstance(i, dict) and i.get("kind") != spec["object"]
                              and i.get("location") != "<agent>"), key=lambda i: i["name"])
        out = []
        for item in distractors[: max(0, limit)]:
            other = next((r for r in receptacles if r != item["location"]), None)
            if other is None:
                continue
            segments = (("key", "world"), ("key", "items"), ("id", "name", item["name"]), ("key", "location"))
            out.append(Mutation(f"moved unrelated {item['name']} from {item['location']} to {other}",
                                render_path(segments), apply_value(golden, segments, other)))
        return out or super().side_effect_mutations(golden, spec, protected, limit)




def household_state_schema() -> dict[str, Any]:
    """JSON Schema of ``HouseholdEnv.get_state()`` (the env does not publish one yet)."""
    flag = {"type": "boolean"}
    return {
        "type": "object",
        "required": ["goal", "world"],
        "properties": {
            "task_id": {"type": ["string", "null"]},
            "instruction": {"type": "string"},
            "goal": {"type": "object", "required": ["type", "object"], "properties": {
                "type": {"type": "string"}, "object": {"type": "string"}, "receptacle": {"type": ["string", "null"]}}},
            "subgoals_done": {"type": "integer", "minimum": 0},
            "turn": {"type": "integer", "minimum": 0},
            "world": {
                "type": "object",
                "required": ["receptacles", "items", "lamp"],
                "additionalProperties": False,
                "properties": {
                    "receptacles": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["name", "kind", "room"], "additionalProperties": False,
                        "properties": {"name": {"type": "string"}, "kind": {"enum": sorted(RECEPTACLES)},
                                       "room": {"enum": ["kitchen", "livingroom", "bedroom", "bathroom"]},
                                       "is_open": flag}}},
                    "items": {"type": "array", "items": {
                        "type": "object", "required": ["name", "kind", "location"], "additionalProperties": False,
                        "properties": {"name": {"type": "string"}, "kind": {"enum": sorted(OBJECTS)},
                                       "location": {"type": "string", "description": "a receptacle name, or \"<agent>\" when held"},
                                       "clean": flag, "hot": flag, "cool": flag}}},
                    "lamp": {"type": "object", "required": ["name", "location"], "additionalProperties": False,
                             "properties": {"name": {"type": "string"}, "location": {"type": "string"}, "on": flag}},
                    "agent_location": {"type": ["string", "null"]},
                },
            },
        },
    }


__all__ = ["HouseholdAdapter", "household_state_schema"]
