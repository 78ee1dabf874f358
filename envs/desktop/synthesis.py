"""Task synthesis for the desktop envs (registered as their ``synthesis=`` adapter).

Specs are the generic ones (``targets``/``incidental`` path patterns over the state of
:mod:`envgym.envs.desktop.homedir`: files, folders, settings).  The adapter

* shows generators the env's state schema (files with the app's own formats, e.g. workbooks), with
  the role prompts of ``prompts/`` beside this module;
* loads every generated state into a real desktop (``set_state``: the home folder is rewritten and
  the app restarted on it) and returns what the env reads back (``get_state``), so rewards see the
  files as the app's own tools parse them;
* solves a candidate with the app's planner (``DesktopApp.plan_change``: initial → golden as oracle
  plan steps), plays the plan through the env's pixel and keyboard actions from the initial state
  and accepts it only when the final state equals the golden one (formula results aside); the
  played actions become ``golden.actions``.

Desktops are kept warm between checks: an env handed back with ``close_env`` serves the next check
(``set_state`` and ``reset`` rebuild everything it shows), and all of them are closed when the
adapter is garbage-collected or :meth:`DesktopAdapter.close` is called.
"""

from __future__ import annotations

import copy
import json
import threading
import weakref
from pathlib import Path
from typing import Any

from envgym.hashing import state_hash
from envgym.oracle import roll_out
from envgym.synth.adapters import GenericAdapter, Solution
from envgym.synth.diff import json_diff, matches

#: Paths that change in passing: formula results follow the cells they read.
INCIDENTAL = ["files.*.workbook.sheets[*].values.*"]


class DesktopAdapter(GenericAdapter):
    """Synthesis over a desktop env (see the module docstring)."""

    family = "desktop"
    prompt_dir = Path(__file__).with_name("prompts")

    def __init__(self, env_id: str, **kwargs: Any):
        super().__init__(env_id, **kwargs)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._solutions: dict[str, Solution] = {}
        self._finalizer = weakref.finalize(self, _close_all, self._idle)

    # ------------------------------------------------------------------ warm envs
    def make_env(self, **overrides: Any) -> Any:
        if not overrides:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
        env = super().make_env(**overrides)
        env._synthesis_pooled = not overrides  # type: ignore[attr-defined]
        return env

    def close_env(self, env: Any) -> None:
        if getattr(env, "_synthesis_pooled", False) and self._finalizer.alive:
            with self._lock:
                self._idle.append(env)
            return
        super().close_env(env)

    def close(self) -> None:
        """Close every warm env (their containers go too)."""
        self._finalizer()

    # ------------------------------------------------------------------ specs and states
    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_spec(spec)
        out["incidental"] = sorted(set(out["incidental"]) | set(INCIDENTAL))
        return out

    def incidental_patterns(self, spec: dict[str, Any]) -> list[str]:
        return sorted(set(spec.get("incidental", [])) | set(INCIDENTAL))

    def prompt_context(self) -> dict[str, str]:
        env = self.make_env()
        try:
            title = env.unwrapped.app.title
            sample = env.unwrapped.tasks[0].initial_state if len(env.unwrapped.tasks) else {}
        finally:
            self.close_env(env)
        return {"env_id": self.env_id, "schema": json.dumps(self.state_schema() or {}, indent=1),
                "catalog": f"The app is {title}.", "sample": json.dumps(sample)}

    # ------------------------------------------------------------------ the oracle
    def solve(self, initial: dict[str, Any], spec: dict[str, Any], golden: dict[str, Any] | None = None) -> Solution | None:
        """Plan initial → golden with the app's planner and play the plan in a desktop."""
        if golden is None:
            return None
        key = state_hash([initial, golden])
        with self._lock:
            cached = self._solutions.get(key)
        if cached is None:
            cached = self._solve(initial, golden, spec)
            with self._lock:
                self._solutions[key] = cached
        return cached

    def _solve(self, initial: dict[str, Any], golden: dict[str, Any], spec: dict[str, Any]) -> Solution:
        from envgym.envs.desktop.oracle import Unplannable
        from envgym.tasks import Task

        from envgym.envs.desktop.taskgen import plan_steps

        env = self.make_env()
        try:
            app = env.unwrapped.app
            try:
                plan = app.plan_change(initial, golden)
            except Unplannable as exc:
                return Solution([], None, False, f"no plan of {app.title}'s actions reaches the golden state: {exc}")
            probe = Task(task_id="synth-probe", env_id=self.env_id, instruction="(synthesis check: play the plan)",
                         initial_state=copy.deepcopy(initial),
                         spec={"plan": plan, "max_turns": 2 * plan_steps(plan) + 20})
            env.reset(options={"task": probe})
            run = roll_out(env)
            final = json.loads(json.dumps(env.get_state()))
        finally:
            self.close_env(env)
        if run.error is not None or not run.done:
            return Solution(run.actions, None, False, f"playing the plan stopped: {run.error or 'the oracle lost its way'}")
        ignored = self.incidental_patterns(spec)
        differences = [c for c in json_diff(final, golden) if not matches(c.path, ignored)]
        if differences:
            shown = [c.to_json() for c in differences[:6]]
            return Solution(run.actions, final, False, "playing the plan from the initial state does not reach the golden "
                            f"state; the app ends with {json.dumps(shown, default=str)[:900]}")
        return Solution(run.actions, final, True)


def _close_all(envs: list[Any]) -> None:
    while envs:
        env = envs.pop()
        try:
            env.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the runtime removes containers at exit
            pass


__all__ = ["DesktopAdapter"]
