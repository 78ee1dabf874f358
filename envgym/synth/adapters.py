"""Env adapters: what task synthesis needs to know about one environment family.

The orchestrator is env-agnostic; an adapter supplies fresh env instances, the state schema shown to
the generator and discriminator, which state paths a spec names (``targets``) and which change in
passing (``incidental``), optional independent checks (``native_success``: does a state satisfy the
spec by the env's own goal logic) and an optional solver that turns a verified task into a
replayable action list.

* :class:`GenericAdapter` — any env with ``get_state``/``set_state`` (web apps without a spec
  language included, family ``web_generic``); the spec carries ``targets``/``incidental`` path
  patterns written by the proposer.
* An env's own adapter, a subclass named by its registration (``register(..., synthesis=
  "module:Class")``) and living with the env: e.g. ``envgym.envs.household.synthesis.HouseholdAdapter``
  (specs are Household goals, the env's planner is the solver) and
  ``envgym.envs.web.taskboard.synthesis.TaskBoardAdapter`` (a :class:`envgym.synth.web.WebAdapter`:
  specs are UI operations, states load through the browser, a solver replays the diff as browser
  actions).  :func:`make_adapter` finds it through the registry, as it finds third-party envs'.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envgym.errors import UnknownEnvError
from envgym.synth.diff import MISSING, Change, apply_value, leaves, matches, render_path


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
    #: a folder of the family's own role prompts (``<role>.<version>.md``), searched before the
    #: built-in ``envgym/synth/prompts/<family>/`` (see :func:`envgym.synth.roles.load_prompt`)
    prompt_dir: Path | None = None

    def __init__(self, env_id: str, *, env_factory: Callable[..., Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                 family: str | None = None):
        self.env_id = env_id
        self._factory = env_factory
        self.env_kwargs = dict(env_kwargs or {})
        if family:
            self.family = family
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
        for segments, value in candidates[::step][:limit]:
            new = _perturb(value)
            out.append(Mutation(f"changed unrelated {render_path(segments)}", render_path(segments),
                                apply_value(golden, segments, new)))
        return out


def make_adapter(env_id: str, *, env_factory: Callable[..., Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                 family: str | None = None) -> GenericAdapter:
    """The adapter for ``env_id``: the env's own (its registration's ``synthesis``) unless ``family``
    asks for another; otherwise the generic one (family ``web_generic`` for envs tagged ``web``)."""
    try:
        from envgym.registration import spec

        env_spec = spec(env_id)
    except UnknownEnvError:
        env_spec = None  # an unregistered env built by env_factory
    own = env_spec.load_synthesis() if env_spec is not None else None
    if own is not None and family in (None, own.family):
        return own(env_id, env_factory=env_factory, env_kwargs=env_kwargs)
    if family is None and env_spec is not None and "web" in env_spec.tags:
        family = "web_generic"  # a web app without a spec language: state-path specs
    return GenericAdapter(env_id, env_factory=env_factory, env_kwargs=env_kwargs, family=family)


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


__all__ = ["Change", "GenericAdapter", "Mutation", "Solution", "SpecError", "StateError", "make_adapter"]
