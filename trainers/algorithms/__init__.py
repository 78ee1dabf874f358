"""RL algorithm library: advantage estimators, step filters (numpy) and policy losses (torch).

The numpy parts import eagerly; ``losses`` and ``value_heads`` need torch and are loaded on first
attribute access (``envgym.trainers.algorithms.policy_loss``) or by importing the sub-module.
"""

from __future__ import annotations

import importlib
from typing import Any

from envgym.trainers.algorithms.advantages import (
    AdvantageResult,
    dr_grpo_advantages,
    dual_level_advantages,
    gae_advantages,
    gigpo_advantages,
    grpo_advantages,
    trajectory_returns,
    turn_level_advantages,
)
from envgym.trainers.algorithms.filters import (
    EntropyFilterResult,
    entropy_step_filter,
    judge_step_filter,
)
from envgym.trainers.algorithms.hierarchical import (
    HAEResult,
    hierarchical_advantages,
    hierarchical_token_advantages,
)

_LAZY = {
    "aggregate_loss": "losses",
    "decoupled_ppo_loss": "losses",
    "gspo_log_ratio": "losses",
    "importance_weights": "losses",
    "kl_k3": "losses",
    "policy_loss": "losses",
    "ppo_clip_loss_matrix": "losses",
    "ThreeHeadValue": "value_heads",
}

__all__ = [
    "AdvantageResult",
    "EntropyFilterResult",
    "HAEResult",
    "dr_grpo_advantages",
    "dual_level_advantages",
    "entropy_step_filter",
    "gae_advantages",
    "gigpo_advantages",
    "grpo_advantages",
    "hierarchical_advantages",
    "hierarchical_token_advantages",
    "judge_step_filter",
    "trajectory_returns",
    "turn_level_advantages",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"envgym.trainers.algorithms.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'envgym.trainers.algorithms' has no attribute {name!r}")
