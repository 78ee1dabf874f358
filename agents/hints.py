"""Hints for a person playing an env (``:hint`` in the terminal, the Hint button on the web page).

A hint is the next action of a solver that starts from the env's *current* state, so it stays right
after a wrong move.  Where it comes from:

* Envs whose ``oracle_action()`` plans from the state (Maze, Household, SQL, the code sandbox, and
  any plugin env that implements it): that action, local or over the wire.
* The web task board: its planner (:mod:`envgym.envs.web.taskboard.solver`) re-plans from the app's
  current state to the task's goal state (the task's ``golden.state``, or the state its recorded
  solution reaches in a second, private session), then the hint is the first step of that plan the
  current page can take (or a ``goto`` back to the task's start page).
* The other web apps have no planner: the hint is the next step of the task's recorded solution
  while every action that took effect so far followed it, and once the player has left that path
  the hint says so rather than guessing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from envgym.actions import InvalidAction, parse_action


@dataclass
class Hint:
    """``action``: what to do next (``None``: no hint); ``note``: where it comes from, or why not."""

    action: Any
    note: str


def _call_key(action: Any) -> Any:
    try:
        call = parse_action(action)
    except InvalidAction:
        return ("invalid", str(action))
    return (call.name, call.args, tuple(sorted(call.kwargs.items())), call.text if not call.is_call else "")


class HintSource:
    """Hints for one env across its episodes: call :meth:`reset` after ``env.reset``, :meth:`record`
    after every step, :meth:`hint` whenever the player asks."""

    def __init__(self, env: Any, env_id: str | None = None):
        self.env = env
        self.unwrapped = getattr(env, "unwrapped", env)
        self.env_id = env_id or getattr(getattr(self.unwrapped, "spec", None), "id", None) or type(self.unwrapped).__name__
        self.tags = _tags(self.env_id)
        self.task: Any = None
        self.taken: list[Any] = []  # actions that took effect (no action_error)
        self.observation: dict[str, Any] = {}
        self._target_state: Any = None

    # ------------------------------------------------------------------ episode bookkeeping
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self.taken = []
        self.observation = observation
        self._target_state = None
        self.task = getattr(self.unwrapped, "task", None) or _task_from_files(self.env_id, info.get("task_id"))

    def record(self, action: Any, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self.observation = observation
        if not info.get("action_error"):
            self.taken.append(action)

    # ------------------------------------------------------------------ hints
    def hint(self) -> Hint:
        if "web" not in self.tags:
            return self._state_oracle_hint()
        if self.env_id in _PLANNED_WEB_ENVS:
            return self._taskboard_hint()
        return self._recorded_path_hint()

    def _state_oracle_hint(self) -> Hint:
        oracle = getattr(self.unwrapped, "oracle_action", None)
        action = oracle() if callable(oracle) else None
        if action is None:
            return Hint(None, f"no hint: {self.env_id} has no solver for this state")
        return Hint(action, "the env's solver, planned from the current state")

    def _golden(self) -> list[Any] | None:
        golden = getattr(self.task, "golden", None)
        return list(golden.actions) if golden is not None and golden.actions else None

    def _recorded_path_hint(self) -> Hint:
        golden = self._golden()
        if golden is None:
            return Hint(None, f"no hint: this task has no recorded solution and {self.env_id} has no planner")
        done = len(self.taken)
        if [_call_key(a) for a in self.taken] != [_call_key(a) for a in golden[:done]]:
            return Hint(None, f"no hint: {self.env_id} has no planner that works from the current page; the hint "
                              f"follows the task's recorded solution, which your actions left at step {_first_difference(self.taken, golden) + 1}")
        if done >= len(golden):
            return Hint(None, "no hint: the recorded solution is complete")
        return Hint(golden[done], f"step {done + 1} of {len(golden)} of the task's recorded solution")

    def _taskboard_hint(self) -> Hint:
        from envgym.envs.web.taskboard.solver import Unsolvable, plan

        golden = self._golden()
        if self.task is None or golden is None:
            return Hint(None, "no hint: the task is unknown here, so there is no goal to plan towards")
        try:
            steps = plan(self.unwrapped.get_state(), self._goal_state(golden))
        except Unsolvable as exc:
            return Hint(None, f"no hint: the planner cannot reach the goal from here ({exc})")
        final = golden[-1] if _call_key(golden[-1])[0] == "answer" else steps[-1]
        steps[-1] = final
        return Hint(self._first_doable(steps), "the task board's planner, from the current state")

    def _goal_state(self, golden: list[Any]) -> Any:
        if self._target_state is None:
            recorded = getattr(self.task.golden, "state", None)
            self._target_state = recorded if recorded is not None else _replayed_state(self.unwrapped, self.env_id, self.task, golden)
        return self._target_state

    def _first_doable(self, steps: list[Any]) -> Any:
        """The first step the current page can take: its element is on the page, or it opens the card
        whose page is already open; otherwise go back to the task's start page."""
        page = self.observation.get("axtree") or self.observation.get("text", "")
        path = urlsplit(self.observation.get("url", "")).path
        for index, step in enumerate(steps):
            call = parse_action(step)
            bid = call.args[0] if call.args and call.name != "answer" else None
            wanted = _wanted_value(call)
            if wanted is not None and _shown_value(page, bid) == wanted:
                continue  # a form field already set on the page, not yet saved
            if bid is None or f"[{bid}]" in page:
                return step
            card = re.fullmatch(r"card-(.+)", str(bid)) if call.name == "click" and index == 0 else None
            if card is None or path != f"/card/{card.group(1)}":
                break
        return f'goto("{self.task.spec.get("start_path", "/")}")'


#: Web envs with a planner that works from any state.
_PLANNED_WEB_ENVS = frozenset({"envgym/WebTaskBoard-v0"})


_VALUE = re.compile(r"""value=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _shown_value(page: str, bid: Any) -> str | None:
    """The ``value='…'`` the accessibility tree shows for element ``bid``."""
    for line in page.splitlines():
        if line.lstrip().startswith(f"[{bid}] "):
            found = _VALUE.search(line)
            try:
                return str(ast.literal_eval(found.group(1))) if found else None
            except (ValueError, SyntaxError):
                return None
    return None


def _wanted_value(call: Any) -> str | None:
    """The value a ``fill``/``select`` step puts in its field (``None`` for other steps)."""
    return str(call.args[1]) if call.name in ("fill", "select") and len(call.args) > 1 else None


def _first_difference(taken: list[Any], golden: list[Any]) -> int:
    for index, (mine, theirs) in enumerate(zip(taken, golden)):
        if _call_key(mine) != _call_key(theirs):
            return index
    return min(len(taken), len(golden))


def _tags(env_id: str) -> tuple[str, ...]:
    import envgym

    try:
        return tuple(envgym.spec(env_id).tags)
    except envgym.UnknownEnvError:
        return ()


def _task_from_files(env_id: str, task_id: Any) -> Any:
    """The task ``task_id`` from the env's own task file (for remote and container envs, whose task
    objects live on the server); ``None`` when it cannot be found here."""
    import os
    import sys

    import envgym

    try:
        cls = envgym.spec(env_id).load()
        module_dir = os.path.dirname(sys.modules[cls.__module__].__file__ or ".")
        path = os.path.join(module_dir, cls.default_task_file)
        return envgym.load_tasks(path).get(str(task_id))
    except Exception:  # not an envgym.Env class, no task file, no such task: no hint, not a crash
        return None


def _replayed_state(env: Any, env_id: str, task: Any, golden: list[Any]) -> Any:
    """The app state the task's recorded solution reaches, played in a second session."""
    import envgym

    spec = getattr(env, "spec", None)
    twin = spec.make() if spec is not None and callable(spec.entry_point) else envgym.make(env_id, **dict(getattr(spec, "kwargs", {}) or {}))
    try:
        twin.reset(options={"task": task.model_dump() if hasattr(task, "model_dump") else task})
        for action in golden:
            if _call_key(action)[0] == "answer":
                break
            twin.step(action)
        return twin.unwrapped.get_state()
    finally:
        twin.close()
