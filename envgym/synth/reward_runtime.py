"""Scoring synthesized tasks (``reward.kind == "python"``) at run time.

An env cannot score a python reward itself (the code is untrusted), so:

* :func:`score_task` runs the task's reward on ``(initial_state, final_state)`` in the sandbox and
  returns a :class:`RewardResult` (``success`` means ``score == 1``);
* :class:`PythonRewardWrapper` wraps any env with ``get_state()``: it records the state after
  ``reset`` and, on the step that ends the episode, replaces the reward with the task's score and
  sets ``info["success"]`` and ``info["reward_components"]``; steps before the end pay 0.  A reward
  that cannot run (sandbox error, timeout) is an infrastructure failure: ``info["infra_error"]``.
  Tasks with ``kind == "env"`` pass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

from envgym.synth.sandbox import run_reward


@dataclass
class RewardResult:
    score: float | None
    components: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.error is None and self.score is not None and self.score >= 1.0 - 1e-9


def score_task(task: Any, initial_state: dict[str, Any], final_state: dict[str, Any], trajectory: Any = None,
               *, time_limit_s: float | None = None, memory_mb: int | None = None) -> RewardResult:
    """The task's python reward of ``final_state`` (sandboxed).  ``trajectory`` is accepted for the
    reward signature's sake; rewards receive ``None`` (states are the contract)."""
    from envgym.tasks import parse_task

    task = parse_task(task)
    if task.reward.kind != "python" or not task.reward.code:
        raise ValueError(f"task {task.task_id!r} has no python reward (kind={task.reward.kind!r}); the env scores it")
    params = task.reward.params or {}
    run = run_reward(task.reward.code, [initial_state, final_state], [(0, 1)],
                     time_limit_s=float(time_limit_s or params.get("time_limit_s", 2.0)),
                     memory_mb=int(memory_mb or params.get("memory_mb", 512)))
    result = run.results[0]
    if not result.ok:
        return RewardResult(None, {}, f"{result.kind}: {result.error}")
    return RewardResult(result.score, dict(result.components))


class PythonRewardWrapper(gymnasium.Wrapper):
    """See the module docstring."""

    def __init__(self, env: Any):
        super().__init__(env)
        self._initial: dict[str, Any] | None = None
        self._python = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        task = getattr(self.env.unwrapped, "task", None)
        self._python = task is not None and task.reward.kind == "python"
        self._initial = self.env.unwrapped.get_state() if self._python else None
        return observation, info

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if not self._python:
            return observation, reward, terminated, truncated, info
        reward = 0.0
        if terminated or truncated:
            task = self.env.unwrapped.task
            result = score_task(task, self._initial or {}, self.env.unwrapped.get_state())
            if result.error is not None:
                info["infra_error"] = f"the task's reward could not run: {result.error}"
                info["success"] = False
            else:
                reward = float(result.score or 0.0)
                info["success"] = result.success
                info["reward_components"] = result.components
        return observation, reward, terminated, truncated, info
