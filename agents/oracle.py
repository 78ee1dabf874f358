"""The oracle agent: solves tasks from their golden solution.

It replays ``task.golden.actions`` when the task has them; otherwise it asks the env's reference
solver (``env.oracle_action()``), which plans from the current state.  Tests use it to prove every
task is solvable; the trainer can use its episodes as pre-collected successes.  (Task scripts and
checks that only need the solver's actions use :mod:`envgym.oracle`.)
"""

from __future__ import annotations

from typing import Any

from envgym.agents.base import Agent


class OracleAgent(Agent):
    name = "oracle"

    def __init__(self, env: Any, prefer_replay: bool = True):
        if env is None:
            raise ValueError("the oracle agent needs the env it plays in")
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        self.prefer_replay = prefer_replay
        self._script: list[Any] | None = None

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        task = getattr(self.env, "task", None)
        actions = task.golden.actions if task is not None else None
        self._script = list(actions) if (self.prefer_replay and actions) else None

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._script:
            return self._script.pop(0)
        action = self.env.oracle_action()
        if action is None:
            raise RuntimeError(f"{type(self.env).__name__} has no oracle for this state and the task has no golden actions")
        return action

