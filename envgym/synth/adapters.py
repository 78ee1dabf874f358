"""Env adapters: what task synthesis needs to know about one environment family.

The orchestrator is env-agnostic; an adapter supplies fresh env instances, the state schema shown to
the generator and discriminator, which state paths a spec names (``targets``) and which change in
passing (``incidental``), optional independent checks (``native_success``: does a state satisfy the
spec by the env's own goal logic) and an optional solver that turns a verified task into a
replayable action list.

* :class:`GenericAdapter` — any env with ``get_state``/``set_state`` (web apps without a spec
  language included, family ``web_generic``); the spec carries ``targets``/``incidental`` path
  patterns written by the proposer.
* :class:`envgym.synth.web.WebAdapter` — the mock web apps that have a spec language (the task board
  first): specs are UI operations, states load through the browser, a solver replays the diff as
  browser actions.
* :class:`HouseholdAdapter` — ``envgym/Household-v0``.  Specs are Household goals (``type``,
  ``object``, ``receptacle``), so the env's own goal check is an independent referee and the env's
  planner (``oracle_action``) turns every verified task into golden actions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envgym.synth.diff import MISSING, Change, leaves, matches, render_path

ENV_FAMILIES = {"envgym/Household-v0": "household", "envgym/WebTaskBoard-v0": "web"}


@dataclass
class Solution:
    """A replay found by the adapter's solver: the actions and where they lead."""

    actions: list[Any]
    final_state: dict[str, Any] | None
    success: bool
    message: str = ""


@dataclass
class Mutation:
    description: str
    path: str
    state: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


class SpecError(ValueError):
    """The proposer's spec cannot be used."""


class StateError(ValueError):
    """A generated state is malformed for this env (before the env itself sees it)."""


class GenericAdapter:
    """Synthesis over any env exposing JSON state."""

    family = "generic"
    #: which kept tasks an instruction is compared with for dedup (see filters.Deduplicator)
    dedup_scope = "global"

    def __init__(self, env_id: str, *, env_factory: Callable[..., Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                 family: str | None = None):
        self.env_id = env_id
        self._factory = env_factory
        self.env_kwargs = dict(env_kwargs or {})
        if family:
            self.family = family
        elif env_id.startswith("envgym/Web"):
            self.family = "web_generic"  # a web app without a spec language: state-path specs
        self._schema: dict[str, Any] | None | bool = False

    # ------------------------------------------------------------------ envs
    def make_env(self, **overrides: Any) -> Any:
        """A fresh env instance (one per check: no state leaks between checks)."""
        kwargs = {**self.env_kwargs, **overrides}
        if self._factory is not None:
            return self._factory(**kwargs)
        import envgym

        return envgym.make(self.env_id, **kwargs).unwrapped

    def close_env(self, env: Any) -> None:
        close = getattr(env, "close", None)
        if callable(close):
            close()

    def state_schema(self) -> dict[str, Any] | None:
        if self._schema is False:
            env = self.make_env()
            try:
                self._schema = env.state_schema()
            finally:
                self.close_env(env)
        return self._schema  # type: ignore[return-value]

    def load_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Load ``state`` into a fresh env and return the env's own ``get_state()`` of it (the
        canonical form the env will hand to rewards at run time).  Raises what ``set_state`` raises."""
        env = self.make_env()
        try:
            env.set_state(copy.deepcopy(state))
            return json.loads(json.dumps(env.get_state()))
        finally:
            self.close_env(env)

    # ------------------------------------------------------------------ prompts
    def prompt_context(self) -> dict[str, str]:
        return {"env_id": self.env_id, "schema": json.dumps(self.state_schema() or {}, indent=1), "catalog": ""}

    # ------------------------------------------------------------------ specs
    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec as stored in the task; raises :class:`SpecError`."""
        targets = spec.get("targets")
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
            raise SpecError("spec.targets must be a non-empty list of state path patterns")
        incidental = spec.get("incidental", [])
        if not isinstance(incidental, list) or not all(isinstance(t, str) for t in incidental):
            raise SpecError("spec.incidental must be a list of state path patterns")
        out = dict(spec)
        out.setdefault("forbid_side_effects", True)
        out.setdefault("incidental", [])
        return out

    def target_patterns(self, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any]) -> list[str]:
        return list(spec.get("targets", []))

    def incidental_patterns(self, spec: dict[str, Any]) -> list[str]:
        return list(spec.get("incidental", []))

    def forbids_side_effects(self, spec: dict[str, Any]) -> bool:
        return bool(spec.get("forbid_side_effects", True))

    # ------------------------------------------------------------------ states
    def normalize_state(self, state: Any, spec: dict[str, Any], instruction: str, task_id: str) -> dict[str, Any]:
        if not isinstance(state, dict):
            raise StateError(f"a state must be a JSON object, got {type(state).__name__}")
        return state

    def native_success(self, state: dict[str, Any], spec: dict[str, Any]) -> bool | None:
        """Whether ``state`` meets the spec by the env's own logic; ``None``: no such check."""
        return None

    def solve(self, initial: dict[str, Any], spec: dict[str, Any], golden: dict[str, Any] | None = None) -> Solution | None:
        """A replayable solution from ``initial`` (towards ``golden`` where the solver needs the target);
        ``None``: this env has no solver."""
        return None

    def side_effect_mutations(self, golden: dict[str, Any], spec: dict[str, Any], protected: list[str],
                              limit: int = 3) -> list[Mutation]:
        """Up to ``limit`` copies of ``golden`` with one unrelated leaf changed (a leaf no pattern in
        ``protected`` covers), spread over the state."""
        candidates = [(seg, v) for seg, v in leaves(golden) if not matches(render_path(seg), protected)
                      and not _is_identity(seg)]
        if not candidates or limit <= 0:
            return []
        step = max(1, len(candidates) // limit)
        out = []
        from envgym.synth.diff import apply_value

        for segments, value in candidates[::step][:limit]:
            new = _perturb(value)
            out.append(Mutation(f"changed unrelated {render_path(segments)}", render_path(segments),
                                apply_value(golden, segments, new)))
        return out


class HouseholdAdapter(GenericAdapter):
    """``envgym/Household-v0``: specs are Household goals; the env's planner is the solver."""

    family = "household"
    dedup_scope = "initial_state"  # instructions are goal templates; another house is another task
    incidental = ["task_id", "instruction", "goal", "turn", "subgoals_done", "world.agent_location",
                  "world.receptacles[*].is_open"]

    def state_schema(self) -> dict[str, Any] | None:
        schema = super().state_schema()
        return schema if schema else household_state_schema()

    def prompt_context(self) -> dict[str, str]:
        from envgym.envs.household.catalog import OBJECTS, ROOMS

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
        from envgym.envs.household.goals import GOAL_TYPES, Goal

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
        from envgym.envs.household.goals import Goal

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
        from envgym.envs.household.world import World

        try:
            return bool(self._goal(spec).satisfied(World.from_json(state["world"])))
        except (KeyError, TypeError, ValueError):
            return None

    def solve(self, initial: dict[str, Any], spec: dict[str, Any], golden: dict[str, Any] | None = None,
              max_steps: int = 200) -> Solution:
        """Run the env's planner (``oracle_action``) from ``initial`` in a fresh env (it plans from the
        goal; ``golden`` is not needed)."""
        env = self.make_env(max_turns=max_steps + 1)
        actions: list[Any] = []
        try:
            env.set_state(copy.deepcopy(initial))
            info: dict[str, Any] = {}
            for _ in range(max_steps):
                action = env.oracle_action()
                if action is None:
                    break
                actions.append(action)
                _, _, terminated, truncated, info = env.step(action)
                if info.get("action_error"):
                    return Solution(actions, None, False, f"the planner's action {action!r} failed: {info['action_error']}")
                if terminated or truncated:
                    break
            final = json.loads(json.dumps(env.get_state()))
            success = bool(self.native_success(final, spec))
            message = "" if success else (
                "the planner found no way to the goal" if not actions else f"the planner stopped after {len(actions)} actions short of the goal")
            return Solution(actions, final, success, message)
        finally:
            self.close_env(env)

    def side_effect_mutations(self, golden: dict[str, Any], spec: dict[str, Any], protected: list[str],
                              limit: int = 3) -> list[Mutation]:
        """Move distractor items (not of the goal's kind) to another receptacle, one at a time."""
        from envgym.synth.diff import apply_value

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


def make_adapter(env_id: str, *, env_factory: Callable[..., Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                 family: str | None = None) -> GenericAdapter:
    """The adapter for ``env_id``: Household and the web apps with a spec language
    (:data:`envgym.synth.web.WEB_APPS`) get their own; everything else the generic one."""
    chosen = family or ENV_FAMILIES.get(env_id)
    if chosen == "household":
        return HouseholdAdapter(env_id, env_factory=env_factory, env_kwargs=env_kwargs, family="household")
    if chosen == "web":
        from envgym.synth.web import WEB_APPS, WebAdapter

        if env_id in WEB_APPS:
            return WebAdapter(env_id, env_factory=env_factory, env_kwargs=env_kwargs, family="web")
    return GenericAdapter(env_id, env_factory=env_factory, env_kwargs=env_kwargs, family=family)


def household_state_schema() -> dict[str, Any]:
    """JSON Schema of ``HouseholdEnv.get_state()`` (the env does not publish one yet)."""
    from envgym.envs.household.catalog import OBJECTS, RECEPTACLES

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


def _is_identity(segments: tuple) -> bool:
    return bool(segments) and segments[-1][0] == "key" and segments[-1][1] in ("id", "name", "key")


def _perturb(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + " (changed)"
    if value is None:
        return "changed"
    return MISSING


__all__ = ["Change", "GenericAdapter", "HouseholdAdapter", "Mutation", "Solution", "SpecError", "StateError",
           "household_state_schema", "make_adapter"]
