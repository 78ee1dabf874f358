"""Oracle roll-outs: an env played by its own reference solver.

An env's reference solver is its ``oracle_action()`` hook (the next action from the current state,
``None`` when it has none); a task's ``golden.actions`` are a recorded one.  :func:`roll_out` plays
them from wherever the env stands (after ``reset`` or ``set_state``); :func:`oracle_actions` records
the solver's actions for a task file.  Task scripts (``envs/*/make_tasks.py``), task synthesis,
``envgym check`` and the oracle agent all play the oracle through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OracleRun:
    """What one roll-out did.  ``error``: the ``action_error`` of the action the env refused (the
    roll-out stops there); ``done``: the episode ended (terminated or truncated)."""

    actions: list[Any] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    error: str | None = None

    @property
    def success(self) -> bool:
        return bool(self.info.get("success"))


def roll_out(env: Any, *, script: list[Any] | None = None, max_steps: int | None = None) -> OracleRun:
    """Play from the env's current state: the actions of ``script`` first (e.g. a task's
    ``golden.actions``), then ``oracle_action()`` until it returns ``None``, the episode ends, the env
    refuses an action or ``max_steps`` actions were taken."""
    solver = env.unwrapped if hasattr(env, "unwrapped") else env
    pending = list(script or [])
    run = OracleRun()
    while max_steps is None or len(run.actions) < max_steps:
        action = pending.pop(0) if pending else solver.oracle_action()
        if action is None:
            break
        run.actions.append(action)
        _, _, terminated, truncated, run.info = env.step(action)
        if "action_error" in run.info:
            run.error = str(run.info["action_error"])
            break
        if terminated or truncated:
            run.done = True
            break
    return run


def oracle_actions(env: Any, task: Any) -> list[Any]:
    """The actions of the env's reference solver on ``task``, from reset to the end of the episode
    (for writing ``golden.actions`` into task files).  A solver action the env rejects is a bug in
    the solver or the task: it raises instead of being recorded."""
    env.reset(options={"task": task})
    run = roll_out(env)
    if run.error is not None:
        raise RuntimeError(f"{getattr(task, 'task_id', task)}: oracle action {run.actions[-1]!r} failed: {run.error}")
    return run.actions
