"""Task synthesis for mock web apps driven in a real browser: :class:`WebAdapter`.

An app joins synthesis with a subclass that names two modules of its own (found through the env's
registration, ``synthesis="module:Adapter"``; the task board's is
:class:`envgym.envs.web.taskboard.synthesis.TaskBoardAdapter`):

* ``language`` — the app's **spec language**: ``validate``, ``targets``, ``holds``, ``normalize``,
  ``side_effect_mutations``, ``SPEC_LANGUAGE``, ``INCIDENTAL``, ``START_PATH``;
* ``solver`` — ``plan(initial, target) -> actions``, raising ``solver.Unsolvable``.

The adapter:

* shows generators the app's pydantic state schema (``env.state_schema()``, else the app's
  ``State.model_json_schema()``) and a sample state to build from;
* loads every generated state in a fresh env **through the browser** (``reset`` with a task whose
  ``initial_state`` is that state: the app gets it via ``set_state`` and Chromium opens the start page)
  and returns the env's own ``get_state()`` of it;
* derives ``targets`` from the spec's operations (paths keyed by ids: ``cards[TRK-105].column``);
* is its own referee (``native_success`` = the spec language's ``holds``), so a golden state that
  misses the spec or an initial state that already meets it is the generator's fault;
* solves a candidate by planning UI actions from the initial→golden diff and **replaying them in a
  fresh browser env** from the initial state: the solution succeeds only when the replay's final state
  equals the golden state (same JSON up to list order of id-keyed elements); the actions become
  ``golden.actions`` and the checks require the discriminator's reward to score the replay's final
  state 1.  Solutions are cached per (initial, golden) so review rounds do not replay twice.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from envgym.hashing import state_hash
from envgym.synth.adapters import GenericAdapter, Mutation, Solution, SpecError, StateError
from envgym.synth.diff import apply_value, json_diff, render_path


class WebAdapter(GenericAdapter):
    """Synthesis over one mock web app driven in a real browser (see the module docstring)."""

    family = "web"
    language: ModuleType  # the app's spec language (see the module docstring)
    solver: ModuleType  # the app's UI-action planner

    def __init__(self, env_id: str, *, env_factory: Callable[..., Any] | None = None, env_kwargs: dict[str, Any] | None = None,
                 family: str | None = None, sample_seed: int = 0):
        if not (hasattr(self, "language") and hasattr(self, "solver")):
            raise TypeError(f"{type(self).__name__} must name the app's spec language and solver modules")
        super().__init__(env_id, env_factory=env_factory, env_kwargs=env_kwargs, family=family or "web")
        self.sample_seed = sample_seed
        self._solutions: dict[str, Solution] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ envs and states
    def state_schema(self) -> dict[str, Any] | None:
        if self._schema is False:
            env = self.make_env()
            try:
                schema = env.state_schema()
                self._schema = schema if schema else env.app.State.model_json_schema()
            finally:
                self.close_env(env)
        return self._schema  # type: ignore[return-value]

    def _probe_task(self, state: dict[str, Any], max_turns: int | None = None) -> Any:
        from envgym.tasks import Task

        spec = {"start_path": self.language.START_PATH}
        if max_turns:
            spec["max_turns"] = int(max_turns)
        return Task(task_id="synth-probe", env_id=self.env_id, instruction="(synthesis check: load a state)",
                    spec=spec, initial_state=copy.deepcopy(state))

    def load_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Open ``state`` in a fresh env and browser page; the env's ``get_state()`` of it."""
        env = self.make_env()
        try:
            env.reset(options={"task": self._probe_task(state)})
            return json.loads(json.dumps(env.get_state()))
        finally:
            self.close_env(env)

    def sample_state(self) -> dict[str, Any]:
        env = self.make_env()
        try:
            return env.app.generate(self.sample_seed).model_dump(mode="json")
        finally:
            self.close_env(env)

    # ------------------------------------------------------------------ prompts
    def prompt_context(self) -> dict[str, str]:
        return {"env_id": self.env_id, "schema": json.dumps(self.state_schema() or {}, indent=1),
                "catalog": self.language.SPEC_LANGUAGE, "sample": json.dumps(self.sample_state(), sort_keys=False)}

    # ------------------------------------------------------------------ specs
    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.language.validate(spec)
        except ValueError as exc:
            raise SpecError(str(exc)) from None

    def target_patterns(self, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any]) -> list[str]:
        return self.language.targets(spec, initial)

    def incidental_patterns(self, spec: dict[str, Any]) -> list[str]:
        return list(self.language.INCIDENTAL)

    def normalize_state(self, state: Any, spec: dict[str, Any], instruction: str, task_id: str) -> dict[str, Any]:
        if not isinstance(state, dict):
            raise StateError(f"a state must be a JSON object, got {type(state).__name__}")
        return self.language.normalize(state)

    def native_success(self, state: dict[str, Any], spec: dict[str, Any]) -> bool | None:
        try:
            return bool(self.language.holds(state, spec))
        except (KeyError, TypeError, AttributeError):
            return None

    # ------------------------------------------------------------------ the oracle
    def solve(self, initial: dict[str, Any], spec: dict[str, Any], golden: dict[str, Any] | None = None) -> Solution | None:
        """Plan UI actions from ``initial`` to ``golden`` and replay them in a fresh browser env."""
        if golden is None:
            return None
        key = state_hash([initial, golden])
        with self._lock:
            cached = self._solutions.get(key)
        if cached is not None:
            return cached
        solution = self._solve(initial, golden)
        with self._lock:
            self._solutions[key] = solution
        return solution

    def _solve(self, initial: dict[str, Any], golden: dict[str, Any]) -> Solution:
        try:
            actions = self.solver.plan(initial, golden)
        except self.solver.Unsolvable as exc:
            return Solution([], None, False, f"no sequence of UI actions leads from the initial to the golden state: {exc}")
        steps = [a for a in actions if not str(a).startswith("answer(")]
        env = self.make_env()
        try:
            env.reset(options={"task": self._probe_task(initial, max_turns=len(steps) + 2)})
            for action in steps:
                _, _, terminated, truncated, info = env.step(action)
                if info.get("action_error"):
                    return Solution(actions, None, False, f"the UI action {action} failed: {info['action_error']}")
                if terminated or truncated:
                    return Solution(actions, None, False, f"the episode ended early at {action}")
            final = json.loads(json.dumps(env.get_state()))
        finally:
            self.close_env(env)
        differences = json_diff(final, golden)
        if differences:
            shown = [c.to_json() for c in differences[:6]]
            return Solution(actions, final, False,
                            "replaying the UI actions from the initial state does not reach the golden state; the app "
                            f"ends with {json.dumps(shown, default=str)[:900]} (before = what the app does, after = golden)")
        return Solution(actions, final, True)

    def side_effect_mutations(self, golden: dict[str, Any], spec: dict[str, Any], protected: list[str],
                              limit: int = 3) -> list[Mutation]:
        out = [Mutation(description, render_path(segments), apply_value(golden, segments, value))
               for description, segments, value in self.language.side_effect_mutations(golden, protected, limit)]
        return out or super().side_effect_mutations(golden, spec, protected, limit)


__all__ = ["WebAdapter"]
