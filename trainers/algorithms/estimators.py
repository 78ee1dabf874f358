"""The advantage-estimator registry: one table that config validation, the learner and the
comparison script all read.

>>> sorted(ESTIMATORS)
['dr_grpo', 'dual', 'gae', 'gigpo', 'grpo', 'hae', 'turn']

Each :class:`Estimator` maps the learner's per-row arrays (``reward``, ``group``, ``traj``, ``turn``,
``anchor``, ``switch``; one row per agent turn; ``parts [N, C]`` when the hierarchical agent marked
its completion tokens) plus, for critic estimators, the critic's values to
``(advantages, value targets)``.  Advantages are ``[N]`` (one per turn, every completion token) or
``[N, C]`` per completion token, NaN where a token is not trained (HAE with the hierarchical agent).
``critic=True`` tells the learner to build the three-head value model
(:class:`envgym.trainers.algorithms.value_heads.ThreeHeadValue`) and train it on the targets with
:func:`critic_targets_loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from envgym.trainers.algorithms.advantages import (
    dr_grpo_advantages,
    dual_level_advantages,
    gae_advantages,
    gigpo_advantages,
    grpo_advantages,
    turn_level_advantages,
)
from envgym.trainers.algorithms.hierarchical import (
    HAEResult,
    hierarchical_advantages,
    hierarchical_token_advantages,
    part_masks_from_codes,
    whiten_rows,
)

Arrays = dict[str, np.ndarray]
Values = dict[str, np.ndarray]
#: ``fn(arrays, algo, values) -> (advantages, targets)``; ``algo`` has gamma, omega, lam, lam_seg, …
EstimatorFn = Callable[[Arrays, Any, "Values | None"], tuple[np.ndarray, Values]]


@dataclass(frozen=True)
class Estimator:
    name: str
    label: str
    fn: EstimatorFn
    critic: bool = False


def _grpo(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    return grpo_advantages(arr["reward"], arr["group"], arr["traj"]).advantages, {}


def _dr_grpo(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    return dr_grpo_advantages(arr["reward"], arr["group"], arr["traj"]).advantages, {}


def _gigpo(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    res = gigpo_advantages(arr["reward"], arr["group"], arr["traj"], arr["turn"], arr["anchor"],
                           gamma=algo.gamma, omega=algo.omega, episode_stats=algo.gigpo_episode_stats)
    return res.advantages, {}


def _turn(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    return turn_level_advantages(arr["reward"], arr["traj"], arr["turn"], gamma=algo.gamma).advantages, {}


def _dual(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    return dual_level_advantages(arr["reward"], arr["group"], arr["traj"], arr["turn"], gamma=algo.gamma).advantages, {}


def _gae(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    if values is None:
        raise ValueError("gae needs the critic's values")
    res = gae_advantages(arr["reward"], values["v_low"], arr["traj"], arr["turn"], gamma=algo.gamma, lam=algo.lam)
    adv = whiten_rows(res.advantages, np.ones(res.advantages.size, dtype=bool)) if algo.gae_whiten else res.advantages
    return adv, {"v_low": res.returns}


def _hae(arr: Arrays, algo: Any, values: Values | None) -> tuple[np.ndarray, Values]:
    """HiPER's hierarchical advantages; per token when the rows carry the hierarchical agent's parts
    (``arr["parts"]``), else for a flat agent (:func:`hae_flat_advantages`).  Value targets: ``v_low``,
    ``v_high`` (trained on segment starts only), ``v_term`` and the ``segment_start`` mask."""
    if values is None:
        raise ValueError("hae needs the critic's values")
    res = hierarchical_advantages(arr["reward"], arr["traj"], arr["turn"], arr["switch"], values["v_high"],
                                  values["v_low"], values["v_term"], gamma=algo.gamma, lam=algo.lam, lam_seg=algo.lam_seg)
    targets = {"v_low": res.returns_low, "v_high": res.returns_high, "v_term": res.returns_term,
               "segment_start": res.segment_start.astype(np.float64)}
    parts = arr.get("parts")
    if parts is not None and np.any(parts > 0):
        return hae_token_advantages(parts, res, normalize=algo.hae_norm_adv), targets
    return hae_flat_advantages(res), targets


def hae_token_advantages(parts: np.ndarray, res: HAEResult, *, normalize: bool = True) -> np.ndarray:
    """Per-token HAE advantages ``[N, C]`` for the hierarchical agent (HiPER's token assignment).

    ``A^low`` on action tokens, ``A^H`` on the subgoal tokens of segment-start (SWITCH) turns,
    ``A^term`` on switch tokens; NaN on tokens that are not trained (KEEP turns' subgoal copies,
    whitespace and end-of-turn tokens, padding).  With ``normalize`` (HiPER's ``norm_adv``) each of
    the three is whitened over the turns that train on it: ``(A − mean) / (std + 1e-8)``.
    """
    act, sub, swt = part_masks_from_codes(parts)
    start = res.segment_start.astype(bool)
    a_low, a_high, a_term = res.a_low, res.a_high, res.a_term
    if normalize:
        a_low = whiten_rows(a_low, act.any(axis=1))
        a_high = whiten_rows(a_high, (sub & start[:, None]).any(axis=1))
        a_term = whiten_rows(a_term, swt.any(axis=1))
    adv, mask = hierarchical_token_advantages(act, sub, swt, start, a_low, a_high, a_term)
    return np.where(mask, adv, np.nan)


def hae_flat_advantages(res: HAEResult) -> np.ndarray:
    """HiPER's hierarchical advantages for a *flat* executor (every completion token is an action):
    ``A = A^low + 1[segment start] · A^H``, then normalised ``(A − mean) / (std + 1e-6)`` — a turn that
    opened a segment (``switch``) also chose it, so it carries the planner's advantage too."""
    adv = res.a_low + np.where(res.segment_start, res.a_high, 0.0)
    return (adv - adv.mean()) / (adv.std() + 1e-6) if adv.size > 1 else adv


ESTIMATORS: dict[str, Estimator] = {e.name: e for e in (
    Estimator("grpo", "GRPO (episode)", _grpo),
    Estimator("dr_grpo", "Dr.GRPO", _dr_grpo),
    Estimator("gigpo", "GiGPO (episode + anchor step)", _gigpo),
    Estimator("turn", "Turn-level (MARS)", _turn),
    Estimator("dual", "Dual-level (MatchTIR)", _dual),
    Estimator("gae", "GAE (critic)", _gae, critic=True),
    Estimator("hae", "HAE (3-head critic)", _hae, critic=True),
)}


def get_estimator(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown advantage estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None


def estimate(name: str, arrays: Arrays, algo: Any, values: Values | None = None) -> tuple[np.ndarray, Values]:
    """Per-row advantages (float64) and value targets of estimator ``name``."""
    adv, targets = get_estimator(name).fn(arrays, algo, values)
    return np.asarray(adv, dtype=np.float64), targets


def critic_targets_loss(values: Any, targets: dict[str, Any]) -> Any:
    """Squared error of the three heads against the estimator's targets (torch tensors):

    ``L = mean (V_low − R_low)² [+ Σ_start (V_high − R_high)² / #start + mean (V_term − R_term)²]``,
    the bracket only when the targets hold ``v_high`` (HAE: the planner's value is trained on
    segment-start turns only).
    """
    loss = ((values.v_low - targets["v_low"]) ** 2).mean()
    if "v_high" in targets:
        start = targets["segment_start"]
        loss = loss + ((values.v_high - targets["v_high"]) ** 2 * start).sum() / start.sum().clamp_min(1)
        loss = loss + ((values.v_term - targets["v_term"]) ** 2).mean()
    return loss
