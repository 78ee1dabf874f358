"""Reward code (``reward.kind == "python"``): static scan, kernel-enforced jail, task scoring.

* :mod:`envgym.rewards.jail` — the boundary (bubblewrap namespaces, or Landlock, plus seccomp and
  rlimits), a warm pool of zygotes forking one fresh process per call; :func:`run_call`,
  :func:`run_calls`, :class:`RewardLimits` (operator limits with hard bounds);
* :mod:`envgym.rewards.scan` — the static scan, a fast first filter;
* :mod:`envgym.rewards.scoring` — :func:`score_task`, used by :class:`envgym.Env` at episode end,
  by the synthesis filters and by the env server.
"""

from envgym.rewards.jail import (
    ALLOWED_MODULES,
    BOUNDS,
    CallResult,
    IsolationUnavailable,
    RewardLimits,
    boundary,
    boundary_name,
    default_limits,
    run_call,
    run_calls,
)
from envgym.rewards.scan import Finding, constant_return, scan_reward_code
from envgym.rewards.scoring import RewardResult, recheck, score_task

__all__ = [
    "ALLOWED_MODULES", "BOUNDS", "CallResult", "Finding", "IsolationUnavailable", "RewardLimits", "RewardResult",
    "boundary", "boundary_name", "constant_return", "default_limits", "recheck", "run_call", "run_calls",
    "scan_reward_code", "score_task",
]
