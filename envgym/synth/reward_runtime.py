"""Scoring synthesized tasks (``reward.kind == "python"``) at run time.

An env cannot score a python reward itself (the code is untrusted), so:

* :func:`score_task` runs the task's reward on ``(initial_state, final_state)`` in the sandbox and
  returns a :class:`RewardResult` (``success`` means ``score == 1``);
* :class:`envgym.Env` calls it itself: for such a task it records the state after ``reset`` and, on
  the step that ends the episode, pays the task's score (steps before pay 0) and sets
  ``info["success"]`` and ``info["reward_components"]``.  A reward that cannot run (sandbox error,
  timeout) is an infrastructure failure: ``info["infra_error"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
