"""Hierarchical advantage estimation (HiPER's HAE) for planner/executor agents, plus token assignment.

A hierarchical agent emits, every turn, a SWITCH/KEEP decision, a subgoal (new on SWITCH turns, a
copy of the current one on KEEP turns) and an action.  A *segment* is the run of turns from a SWITCH
turn up to the next one; the first turn of a trajectory always starts a segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envgym.trainers.algorithms.grouping import TrajectoryLayout, reverse_linear_scan_sorted

__all__ = ["PART_ACTION", "PART_NONE", "PART_PAD", "PART_SUBGOAL", "PART_SWITCH", "HAEResult", "hierarchical_advantages",
           "hierarchical_token_advantages", "part_masks_from_codes", "whiten_rows"]

#: codes of a turn's completion tokens (``parts [N, C]``): padding, no part (whitespace, end of turn),
#: the switch decision, the subgoal, the action
PART_PAD, PART_NONE, PART_SWITCH, PART_SUBGOAL, PART_ACTION = -1, 0, 1, 2, 3


@dataclass(frozen=True)
class HAEResult:
    """Per-row outputs of :func:`hierarchical_advantages` (original row order).

    ``a_low``/``returns_low``: executor advantage and V_low target on every row;
    ``a_high``/``returns_high``: planner advantage and V_high target, set on segment-start rows only
    (0 elsewhere; see ``segment_start``); ``a_term``/``returns_term``: switch advantage and V_term target
    on every row; ``segment_index``: segment number within the trajectory (0, 1, ...).
    """

    a_low: np.ndarray
    a_high: np.ndarray
    a_term: np.ndarray
    returns_low: np.ndarray
    returns_high: np.ndarray
    returns_term: np.ndarray
    segment_start: np.ndarray
    segment_index: np.ndarray


def hierarchical_advantages(
    rewards: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    switch: np.ndarray,
    v_high: np.ndarray,
    v_low: np.ndarray,
    v_term: np.ndarray | None = None,
    *,
    gamma: float = 0.99,
    lam: float = 0.95,
    lam_seg: float = 0.95,
) -> HAEResult:
    """Hierarchical advantage estimation (HAE).

    Segments start at SWITCH turns (and at each trajectory's first turn); segment ``k`` starts at
    turn ``s_k`` and lasts ``d_k`` turns.

    Low level (executor), GAE inside a segment with the recursion reset at its end:
      ``δ_t = r_t + γ V_low(t+1) − V_low(t)`` inside the segment,
      ``δ_t = r_t + γ V_high(s_{k+1}) − V_low(t)`` on the segment's last turn (``V_high = 0`` after the
      episode's last segment), ``A^low_t = δ_t + γλ A^low_{t+1}`` (no carry across the segment end).

    High level (planner), SMDP-GAE over segments:
      ``R_k = Σ_{j<d_k} γ^j r_{s_k+j}``,
      ``δ^H_k = R_k + γ^{d_k} V_high(s_{k+1}) − V_high(s_k)``,
      ``A^H_k = δ^H_k + (γ^{d_k} λ_seg) A^H_{k+1}``; reported on the row ``s_k``.

    Switch (termination) head, as HiPER's released code computes it: the return to the end of the
    turn's segment, bootstrapped with the planner's value where the next segment starts,
      ``G^term_t = Σ_{j=t}^{e_k} γ^{j−t} r_j + γ^{e_k−t+1} V_high(s_{k+1})`` (``e_k`` the segment's last
      turn; ``V_high = 0`` after the episode's last segment),
      ``A^term_t = G^term_t − V_term(t)`` (``V_term = 0`` when not given).
    (A Monte-Carlo return to the episode end would make the switch head's target as noisy as the
    whole remaining episode; the bootstrap keeps it local to the decision's segment.)

    Value targets: ``returns_low = A^low + V_low``, ``returns_high = A^H + V_high(s_k)``,
    ``returns_term = G^term_t``.  ``v_high`` is read at segment starts only.
    """
    n = np.asarray(rewards).size
    layout = TrajectoryLayout.build(traj_ids, turn_index)
    r = layout.to_sorted(np.asarray(rewards, dtype=np.float64))
    vh, vl, vt = (_sorted_column(layout, x, name, n) for x, name in ((v_high, "v_high"), (v_low, "v_low"), (v_term, "v_term")))
    sw = np.asarray(switch, dtype=bool)
    if sw.shape != (n,):
        raise ValueError(f"switch must have shape ({n},), got {sw.shape}")
    seg_start = layout.to_sorted(sw) | layout.is_first
    seg_end = layout.is_last.copy()
    seg_end[:-1] |= seg_start[1:]
    boot = _segment_bootstrap(layout, vh, seg_end)
    a_low = _low_level(layout, r, vl, boot, seg_end, gamma, lam)
    a_high, ret_high = _high_level(layout, r, vh, seg_start, seg_end, gamma, lam_seg)
    g = reverse_linear_scan_sorted(r + gamma * boot, gamma, seg_end, layout.max_len)  # switch head
    seg_index = np.cumsum(seg_start) - 1
    seg_index = seg_index - seg_index[layout.is_first][np.cumsum(layout.is_first) - 1]  # numbered per trajectory
    back = layout.to_original
    return HAEResult(
        a_low=back(a_low),
        a_high=back(a_high),
        a_term=back(g - vt),
        returns_low=back(a_low + vl),
        returns_high=back(ret_high),
        returns_term=back(g),
        segment_start=back(seg_start),
        segment_index=back(seg_index),
    )


def _sorted_column(layout: TrajectoryLayout, x: np.ndarray | None, name: str, n: int) -> np.ndarray:
    if x is None:
        return np.zeros(n)
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return layout.to_sorted(arr)


def _segment_bootstrap(layout: TrajectoryLayout, vh: np.ndarray, seg_end: np.ndarray) -> np.ndarray:
    """Per sorted row: ``V_high`` of the next segment's start on a segment's last turn (0 after the
    trajectory's last turn and on every other row)."""
    nxt_vh = np.zeros(vh.size)
    nxt_vh[:-1] = vh[1:]
    return np.where(seg_end & ~layout.is_last, nxt_vh, 0.0)


def _low_level(layout: TrajectoryLayout, r: np.ndarray, vl: np.ndarray, boot: np.ndarray, seg_end: np.ndarray,
               gamma: float, lam: float) -> np.ndarray:
    """Executor GAE inside segments (rows sorted by trajectory, turn): ``A^low``, the recursion reset
    at each segment end, where the bootstrap is ``boot`` (``V_high`` of the next segment's start)."""
    nxt_vl = np.zeros(r.size)
    nxt_vl[:-1] = vl[1:]
    v_next = np.where(seg_end, boot, nxt_vl)
    return reverse_linear_scan_sorted(r + gamma * v_next - vl, gamma * lam, seg_end, layout.max_len)


def _high_level(layout: TrajectoryLayout, r: np.ndarray, vh: np.ndarray, seg_start: np.ndarray, seg_end: np.ndarray,
                gamma: float, lam_seg: float) -> tuple[np.ndarray, np.ndarray]:
    """Planner SMDP-GAE over segments: ``(A^H, A^H + V_high)`` on each segment's start row, 0 elsewhere."""
    n = r.size
    starts = np.flatnonzero(seg_start)
    seg_len = np.diff(np.append(starts, n))
    R_k = reverse_linear_scan_sorted(r, gamma, seg_end, layout.max_len)[starts]
    vh_k = vh[starts]
    last_seg_k = layout.is_last[starts + seg_len - 1]  # last segment of its trajectory
    vh_next_k = np.zeros(starts.size)
    vh_next_k[:-1] = vh_k[1:]
    vh_next_k[last_seg_k] = 0.0
    disc_k = np.power(gamma, seg_len.astype(np.float64))
    seg_end_idx = np.flatnonzero(last_seg_k)
    max_segs = int(np.diff(np.concatenate(([-1], seg_end_idx))).max()) if seg_end_idx.size else 0
    a_high_k = reverse_linear_scan_sorted(R_k + disc_k * vh_next_k - vh_k, disc_k * lam_seg, last_seg_k, max_segs)
    a_high = np.zeros(n)
    a_high[starts] = a_high_k
    ret_high = np.zeros(n)
    ret_high[starts] = a_high_k + vh_k
    return a_high, ret_high


def hierarchical_token_advantages(
    action_mask: np.ndarray,
    subgoal_mask: np.ndarray,
    switch_mask: np.ndarray,
    segment_start: np.ndarray,
    a_low: np.ndarray,
    a_high: np.ndarray,
    a_term: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Spread per-turn HAE advantages over the tokens of each turn's response.

    Inputs: ``[N, T]`` masks of the action, subgoal and switch-decision tokens of each turn row (from
    the hierarchical agent), ``segment_start`` per row (``HAEResult.segment_start``: SWITCH turns and
    first turns) and the per-row advantages.  Returns ``(token_advantages, loss_mask)``:

    ``adv[i, j] = A^low_i`` on action tokens, ``A^H_i`` on subgoal tokens of segment-start (SWITCH)
    turns, ``A^term_i`` on switch tokens, 0 elsewhere;
    ``loss_mask = action ∨ (subgoal ∧ segment_start) ∨ switch`` — the subgoal tokens of KEEP turns
    (copies of the current subgoal) are not trained.
    """
    act = np.asarray(action_mask, dtype=bool)
    sub = np.asarray(subgoal_mask, dtype=bool)
    swt = np.asarray(switch_mask, dtype=bool)
    if not (act.shape == sub.shape == swt.shape) or act.ndim != 2:
        raise ValueError("action/subgoal/switch masks must share one [N, T] shape")
    if np.any((act & sub) | (act & swt) | (sub & swt)):
        raise ValueError("a token belongs to more than one of action/subgoal/switch")
    start = np.asarray(segment_start, dtype=bool)[:, None]
    sub_trained = sub & start
    adv = (
        np.where(act, np.asarray(a_low, dtype=np.float64)[:, None], 0.0)
        + np.where(sub_trained, np.asarray(a_high, dtype=np.float64)[:, None], 0.0)
        + np.where(swt, np.asarray(a_term, dtype=np.float64)[:, None], 0.0)
    )
    return adv, act | sub_trained | swt


def part_masks_from_codes(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(action, subgoal, switch)`` masks ``[N, C]`` from part codes (``PART_*``).

    A row with no marked token (a malformed completion: the agent could not find its parts) counts
    every completion token as an action token, so what the agent wrote still gets the executor's
    advantage (a negative one, typically) instead of no gradient at all.
    """
    parts = np.asarray(parts)
    act, sub, swt = parts == PART_ACTION, parts == PART_SUBGOAL, parts == PART_SWITCH
    unmarked = ~(act | sub | swt).any(axis=1, keepdims=True)
    return act | (unmarked & (parts != PART_PAD)), sub, swt


def whiten_rows(x: np.ndarray, rows: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """``(x − mean_R x) / (std_R x + ε)`` over the rows ``R`` (population std), others unchanged;
    fewer than two rows: unchanged."""
    rows = np.asarray(rows, dtype=bool)
    if rows.sum() < 2:
        return x
    sel = x[rows]
    out = x.copy()
    out[rows] = (sel - sel.mean()) / (sel.std() + eps)
    return out
