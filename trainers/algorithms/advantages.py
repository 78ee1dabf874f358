"""Critic-free and critic-based advantage estimators on flat per-turn-row arrays (numpy).

Every estimator takes one entry per turn row plus integer ids and returns per-row advantages.  Rows
may come in any order; trajectories are put in ``(traj_id, turn_index)`` order internally (no sort when
they already are).  Groups of size one are handled explicitly: their normalised term is 0 and they
are flagged in ``AdvantageResult.singleton``.

Statistics follow the released code of verl / verl-agent by default (``torch.std`` = unbiased);
pass ``unbiased=False`` for the population std.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from envgym.trainers.algorithms.grouping import (
    TrajectoryLayout,
    combine_ids,
    dense_ids,
    normalize_within_groups,
    reverse_linear_scan_sorted,
)

__all__ = [
    "AdvantageResult",
    "dr_grpo_advantages",
    "dual_level_advantages",
    "gae_advantages",
    "gigpo_advantages",
    "grpo_advantages",
    "trajectory_returns",
    "turn_level_advantages",
]


@dataclass(frozen=True)
class AdvantageResult:
    """Per-row ``advantages``; ``returns`` (a value target where the estimator has one, else ``None``);
    ``singleton`` flags rows whose (primary) normalisation group had one member; ``components`` holds
    the named terms the advantage is made of (all per row)."""

    advantages: np.ndarray
    returns: np.ndarray | None
    singleton: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)


def _as_float(x: np.ndarray, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} rows, expected {n}")
    return arr


def trajectory_returns(rewards: np.ndarray, traj_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Undiscounted episode return per trajectory ``R_i = Σ_{t∈τ_i} r_t``.

    Returns ``(R per trajectory index, trajectory index per row, number of trajectory indices)``.
    """
    rewards = _as_float(rewards, "rewards")
    traj, n_traj = dense_ids(traj_ids)
    if traj.size != rewards.size:
        raise ValueError("rewards and traj_ids must have the same length")
    return np.bincount(traj, weights=rewards, minlength=n_traj), traj, n_traj


def _group_of_trajectory(group_ids: np.ndarray, traj: np.ndarray, n_traj: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense group index per trajectory index (validated: all rows of a trajectory share a group).

    Returns ``(group per trajectory index, present mask per trajectory index, number of groups)``.
    """
    group, n_group = dense_ids(group_ids)
    if group.size != traj.size:
        raise ValueError("group_ids and traj_ids must have the same length")
    g_of_traj = np.full(n_traj, -1, dtype=np.int64)
    g_of_traj[traj] = group
    if np.any(g_of_traj[traj] != group):
        raise ValueError("rows of one trajectory carry different group ids")
    return g_of_traj, g_of_traj >= 0, n_group


def grpo_advantages(
    rewards: np.ndarray,
    group_ids: np.ndarray,
    traj_ids: np.ndarray,
    *,
    normalize_std: bool = True,
    unbiased: bool = True,
    eps: float = 1e-6,
) -> AdvantageResult:
    """GRPO (episode level), broadcast to every turn row of the trajectory.

    ``R_i = Σ_t r_{i,t}`` (trajectory return);
    ``A_i = (R_i − mean_{j∈g} R_j) / (std_{j∈g} R_j + ε)`` over the trajectories of group ``g``
    (statistics over trajectories, not rows).  ``normalize_std=False`` gives Dr.GRPO:
    ``A_i = R_i − mean_g R``.  A group with a single trajectory gets ``A = 0`` (flagged ``singleton``).
    ``returns`` holds ``R_i`` per row.
    """
    R, traj, n_traj = trajectory_returns(rewards, traj_ids)
    g_of_traj, present, n_group = _group_of_trajectory(group_ids, traj, n_traj)
    idx = np.flatnonzero(present)
    adv_t = np.zeros(n_traj)
    single_t = np.zeros(n_traj, dtype=bool)
    adv_t[idx], single_t[idx] = normalize_within_groups(
        R[idx], g_of_traj[idx], n_group, normalize_std=normalize_std, unbiased=unbiased, eps=eps
    )
    return AdvantageResult(advantages=adv_t[traj], returns=R[traj], singleton=single_t[traj])


def dr_grpo_advantages(rewards: np.ndarray, group_ids: np.ndarray, traj_ids: np.ndarray) -> AdvantageResult:
    """Dr.GRPO: ``A_i = R_i − mean_{j∈g} R_j`` (no std division); singleton groups get 0."""
    return grpo_advantages(rewards, group_ids, traj_ids, normalize_std=False)


def gigpo_advantages(
    rewards: np.ndarray,
    group_ids: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    anchor_ids: np.ndarray,
    *,
    gamma: float = 0.95,
    omega: float = 1.0,
    episode_stats: Literal["trajectory", "row"] = "trajectory",
    normalize_std: bool = True,
    step_normalize_std: bool | None = None,
    unbiased: bool = True,
    eps: float = 1e-6,
) -> AdvantageResult:
    """GiGPO: episode-level group advantage plus anchor-state step-level group advantage.

    * step return ``R_t = Σ_{k≥t} γ^{k−t} r_k`` within the trajectory;
    * episode term ``A^E_i = (R_i − mean_g R) / (std_g R + ε)`` with ``R_i = Σ_t r_{i,t}``; with
      ``episode_stats="trajectory"`` (default) the mean/std run over the N trajectories of group
      ``g``; with ``"row"`` over all step rows of ``g`` (each carrying its trajectory's ``R_i``), as
      verl-agent does, which weights long episodes more;
    * step groups ``s`` = rows of one group ``g`` with the same ``anchor_id``;
      ``A^S_t = (R_t − mean_s R) / (std_s R + ε)``; step groups of one row get ``A^S = 0``;
    * ``A_t = A^E + ω · A^S_t``.

    ``normalize_std=False`` drops the std division in the episode term (and, unless
    ``step_normalize_std`` says otherwise, in the step term) — verl-agent's ``mean_norm`` mode.
    ``singleton`` flags rows of groups with one trajectory (then ``A^E = 0``, but step groups still
    form wherever that trajectory revisits an anchor state: its rows from the same state are compared
    with each other, so ``A^S`` need not be 0); ``components`` has ``episode``, ``step``,
    ``step_singleton``.
    ``returns`` holds ``R_t``.
    """
    rewards = _as_float(rewards, "rewards")
    n = rewards.size
    if step_normalize_std is None:
        step_normalize_std = normalize_std
    layout = TrajectoryLayout.build(traj_ids, turn_index)
    r_sorted = layout.to_sorted(rewards)
    step_returns = layout.to_original(reverse_linear_scan_sorted(r_sorted, gamma, layout.is_last, layout.max_len))

    if episode_stats == "trajectory":
        episode = grpo_advantages(rewards, group_ids, traj_ids, normalize_std=normalize_std, unbiased=unbiased, eps=eps)
        a_e, single = episode.advantages, episode.singleton
    elif episode_stats == "row":
        R, traj, n_traj = trajectory_returns(rewards, traj_ids)
        group, n_group = dense_ids(group_ids)
        a_e, _ = normalize_within_groups(R[traj], group, n_group, normalize_std=normalize_std, unbiased=unbiased, eps=eps)
        g_of_traj, present, _ = _group_of_trajectory(group_ids, traj, n_traj)
        traj_per_group = np.bincount(g_of_traj[present], minlength=n_group)
        single = traj_per_group[group] <= 1
        a_e = np.where(single, 0.0, a_e)
    else:
        raise ValueError(f"episode_stats must be 'trajectory' or 'row', got {episode_stats!r}")

    step_key, n_step = combine_ids(np.asarray(group_ids), np.asarray(anchor_ids))
    if step_key.size != n:
        raise ValueError("anchor_ids must have one entry per row")
    a_s, step_single = normalize_within_groups(
        step_returns, step_key, n_step, normalize_std=step_normalize_std, unbiased=unbiased, eps=eps
    )
    return AdvantageResult(
        advantages=a_e + omega * a_s,
        returns=step_returns,
        singleton=single,
        components={"episode": a_e, "step": a_s, "step_singleton": step_single},
    )


def turn_level_advantages(
    rewards: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    agent_ids: np.ndarray | None = None,
    *,
    gamma: float = 0.95,
    normalize_std: bool = True,
    unbiased: bool = True,
    eps: float = 1e-6,
    returns_over: Literal["trajectory", "agent"] = "trajectory",
) -> AdvantageResult:
    """Turn-level advantage with agent-specific normalisation (MARS).

    Rows sharing ``(traj_id, turn_index)`` form one turn (its reward ``r_t`` is the sum of their
    rewards; all its rows must have one agent).  Then

    * per-agent whitening over all turns of agent ``a`` in the batch:
      ``r̃_t = (r_t − mean_a r) / (std_a r + ε)`` (``normalize_std=False``: ``r_t − mean_a r``);
    * ``A_t = Σ_{k≥t} γ^{k−t} r̃_k`` over the later turns of the trajectory
      (``returns_over="agent"``: only over the same agent's later turns, i.e. each player's own
      sub-trajectory in a multi-agent game);
    * every row of a turn gets the turn's ``A_t`` (constant within a turn).

    An agent with a single turn in the batch gets ``r̃ = 0`` (flagged ``singleton``).
    ``components``: ``normalized_reward`` (``r̃`` per row), ``turn_reward``.
    """
    rewards = _as_float(rewards, "rewards")
    n = rewards.size
    agents = np.zeros(n, dtype=np.int64) if agent_ids is None else np.asarray(agent_ids)
    agent, n_agent = dense_ids(agents)
    if agent.size != n:
        raise ValueError("agent_ids must have one entry per row")
    traj_key = traj_ids
    if returns_over == "agent":
        traj_key, _ = combine_ids(np.asarray(traj_ids), agent)
    elif returns_over != "trajectory":
        raise ValueError(f"returns_over must be 'trajectory' or 'agent', got {returns_over!r}")
    layout = TrajectoryLayout.build(traj_key, turn_index, allow_repeats=True)
    r_s = layout.to_sorted(rewards)
    agent_s = layout.to_sorted(agent)
    # A turn starts at a trajectory start or where the turn index changes (repeats stay adjacent).
    turn_start = layout.is_first.copy()
    turn_start[1:] |= layout.turn[1:] != layout.turn[:-1]
    turn_of_row = np.cumsum(turn_start) - 1  # dense turn index per sorted row
    starts = np.flatnonzero(turn_start)
    r_turn = np.add.reduceat(r_s, starts) if n else r_s
    agent_turn = agent_s[starts] if n else agent_s
    if np.any(agent_turn[turn_of_row] != agent_s):
        raise ValueError("rows of one turn carry different agent ids")
    r_norm, single_turn = normalize_within_groups(
        r_turn, agent_turn, n_agent, normalize_std=normalize_std, unbiased=unbiased, eps=eps
    )
    turn_last = layout.is_last[np.append(starts[1:] - 1, n - 1)] if n else layout.is_last
    ends = np.flatnonzero(turn_last)
    max_turns = int(np.diff(np.concatenate(([-1], ends))).max()) if ends.size else 0
    a_turn = reverse_linear_scan_sorted(r_norm, gamma, turn_last, max_turns)
    to_rows = layout.to_original
    return AdvantageResult(
        advantages=to_rows(a_turn[turn_of_row]),
        returns=None,
        singleton=to_rows(single_turn[turn_of_row]),
        components={"normalized_reward": to_rows(r_norm[turn_of_row]), "turn_reward": to_rows(r_turn[turn_of_row])},
    )


def dual_level_advantages(
    rewards: np.ndarray,
    group_ids: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    *,
    gamma: float = 0.95,
    normalize_std: bool = True,
    unbiased: bool = True,
    eps: float = 1e-6,
) -> AdvantageResult:
    """Dual-level advantage (MatchTIR): ``A_t = (A^traj + A^turn_t) / 2``.

    * ``A^traj_i = (R_i − mean_g R) / (std_g R + ε)`` over the trajectories of group ``g``,
      ``R_i = Σ_t r_{i,t}`` (GRPO);
    * turn return ``G_t = Σ_{k≥t} γ^{k−t} r_k`` within the trajectory (``γ = 0``: the turn's own
      reward); ``A^turn_t = (G_t − mean_{g,t} G) / (std_{g,t} G + ε)`` over the rows of group ``g``
      with the same turn index ``t``.

    Either term is 0 where its normalisation group has one member; ``singleton`` flags the trajectory
    level, ``components['turn_singleton']`` the turn level.  ``returns`` holds ``G_t``.
    """
    rewards = _as_float(rewards, "rewards")
    traj_level = grpo_advantages(rewards, group_ids, traj_ids, normalize_std=normalize_std, unbiased=unbiased, eps=eps)
    layout = TrajectoryLayout.build(traj_ids, turn_index)
    g_sorted = reverse_linear_scan_sorted(layout.to_sorted(rewards), gamma, layout.is_last, layout.max_len)
    turn_returns = layout.to_original(g_sorted)
    key, n_key = combine_ids(np.asarray(group_ids), np.asarray(turn_index))
    a_turn, turn_single = normalize_within_groups(
        turn_returns, key, n_key, normalize_std=normalize_std, unbiased=unbiased, eps=eps
    )
    return AdvantageResult(
        advantages=0.5 * (traj_level.advantages + a_turn),
        returns=turn_returns,
        singleton=traj_level.singleton,
        components={"trajectory": traj_level.advantages, "turn": a_turn, "turn_singleton": turn_single},
    )


def gae_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    *,
    gamma: float = 0.99,
    lam: float = 0.95,
    bootstrap_values: np.ndarray | None = None,
) -> AdvantageResult:
    """Generalised advantage estimation over the turns of each trajectory (single level).

    ``δ_t = r_t + γ V_{t+1} − V_t`` with ``V_{T} = 0`` after the last turn (or the last row's entry of
    ``bootstrap_values`` for a truncated episode);
    ``A_t = δ_t + γλ A_{t+1}``; ``returns = A_t + V_t`` (value targets).
    """
    rewards = _as_float(rewards, "rewards")
    values = _as_float(values, "values", rewards.size)
    layout = TrajectoryLayout.build(traj_ids, turn_index)
    r, v = layout.to_sorted(rewards), layout.to_sorted(values)
    v_next = np.zeros_like(v)
    v_next[:-1] = v[1:]
    boot = 0.0 if bootstrap_values is None else layout.to_sorted(_as_float(bootstrap_values, "bootstrap_values", r.size))
    v_next = np.where(layout.is_last, boot, v_next)
    delta = r + gamma * v_next - v
    adv = reverse_linear_scan_sorted(delta, gamma * lam, layout.is_last, layout.max_len)
    return AdvantageResult(
        advantages=layout.to_original(adv),
        returns=layout.to_original(adv + v),
        singleton=np.zeros(rewards.size, dtype=bool),
    )
