"""Scoring tasks whose reward is code (``reward.kind == "python"``): one path for the env at
episode end, the synthesis filters and the env server.

:func:`score_task` scans the code (:mod:`envgym.rewards.scan`, cached by code), re-checks it once
per task against the scores its verification recorded (:func:`recheck`), then runs
``reward(initial, final)`` in the jail (:mod:`envgym.rewards.jail`).  Limits are the operator's
(:func:`envgym.rewards.jail.default_limits` or the ``limits`` argument); a task's
``reward.params`` never set them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from envgym.hashing import state_hash
from envgym.rewards.jail import RewardLimits, run_call, run_calls
from envgym.rewards.scan import scan_reward_code

#: how close a re-checked score must be to the recorded one
TOLERANCE = 1e-6
_CACHE_SIZE = 4096


@dataclass
class RewardResult:
    score: float | None
    components: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.error is None and self.score is not None and self.score >= 1.0 - 1e-9


class _Memo:
    """A small thread-safe LRU of answers that depend only on their key (scan findings, re-checks)."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return KeyError

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_SCANS = _Memo(_CACHE_SIZE)
_RECHECKS = _Memo(_CACHE_SIZE)


def scan_problem(code: str) -> str | None:
    """The first static-scan finding of ``code`` as text, or ``None`` (cached by code)."""
    key = state_hash(code)
    cached = _SCANS.get(key)
    if cached is KeyError:
        findings = scan_reward_code(code)
        cached = f"{findings[0].code}: {findings[0].message}" if findings else None
        _SCANS.put(key, cached)
    return cached


def recheck(task: Any, limits: RewardLimits | None = None) -> str | None:
    """Whether the task's reward still gives the scores its verification recorded for
    ``(initial, golden)`` and ``(initial, initial)`` — each in a fresh process, once per task and
    code (cached); ``None`` when it does or nothing was recorded, else what differs."""
    scores = task.verification.get("scores") if isinstance(task.verification, dict) else None
    if not isinstance(scores, dict) or task.initial_state is None or task.golden.state is None:
        return None
    expected = {"golden": scores.get("golden"), "initial": scores.get("initial")}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in expected.values()):
        return None
    key = state_hash([task.reward.code, task.initial_state, task.golden.state, expected])
    cached = _RECHECKS.get(key)
    if cached is not KeyError:
        return cached
    results = run_calls(task.reward.code, [(task.initial_state, task.golden.state), (task.initial_state, task.initial_state)],
                        limits=limits)
    problem, transient = None, False
    for (name, want), result in zip(expected.items(), results):
        if not result.ok:
            problem = f"re-check of reward(initial, {name}) failed: {result.kind}: {result.error}"
            transient = result.kind in ("timeout", "crashed")
        elif abs(float(result.score) - float(want)) > TOLERANCE:
            problem = f"reward(initial, {name}) = {result.score:g}, but its verification recorded {want:g}"
        if problem:
            break
    if not transient:
        _RECHECKS.put(key, problem)
    return problem


def score_task(task: Any, initial_state: dict[str, Any], final_state: dict[str, Any], trajectory: Any = None,
               *, limits: RewardLimits | None = None) -> RewardResult:
    """The task's python reward of ``final_state``, jailed.  ``trajectory`` is accepted for the
    reward signature's sake; rewards receive ``None`` (states are the contract).  Raises
    :class:`envgym.rewards.IsolationUnavailable` when no boundary can be established."""
    from envgym.tasks import parse_task

    task = parse_task(task)
    if task.reward.kind != "python" or not task.reward.code:
        raise ValueError(f"task {task.task_id!r} has no python reward (kind={task.reward.kind!r}); the env scores it")
    problem = scan_problem(task.reward.code)
    if problem is not None:
        return RewardResult(None, {}, f"the reward code fails the static scan: {problem}")
    problem = recheck(task, limits)
    if problem is not None:
        return RewardResult(None, {}, f"the reward disagrees with its verification: {problem}")
    result = run_call(task.reward.code, initial_state, final_state, limits=limits)
    if not result.ok:
        return RewardResult(None, {}, f"{result.kind}: {result.error}")
    return RewardResult(result.score, dict(result.components))
