"""Step (turn) filters: keep informative turns, drop turns graded as wrong."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envgym.trainers.algorithms.grouping import dense_ids

__all__ = ["EntropyFilterResult", "entropy_step_filter", "judge_step_filter"]


@dataclass(frozen=True)
class EntropyFilterResult:
    """``keep`` per row; ``turn_entropy`` per row (mean over the real tokens of the row's turn, NaN when
    the turn has none); ``threshold`` the smallest kept entropy (NaN when nothing is kept)."""

    keep: np.ndarray
    turn_entropy: np.ndarray
    threshold: float


def entropy_step_filter(
    token_entropy: np.ndarray,
    token_mask: np.ndarray,
    turn_ids: np.ndarray,
    rho: float,
    *,
    group_ids: np.ndarray | None = None,
) -> EntropyFilterResult:
    """Keep the top-ρ fraction of turns by mean token entropy over **real** tokens.

    ``H_u = Σ_{rows i of turn u} Σ_j m_ij h_ij / Σ_i Σ_j m_ij`` (padding, ``m = 0``, is ignored);
    turns are ranked by ``H_u`` (descending, ties by first appearance) and the first
    ``k = ⌈ρ · n_turns⌉`` are kept — over the whole batch, or within each ``group_ids`` group when
    given.  Turns without a real token are never kept.  Rows of one turn share the decision.
    """
    h = np.asarray(token_entropy, dtype=np.float64)
    m = np.asarray(token_mask).astype(bool)
    if h.shape != m.shape or h.ndim != 2:
        raise ValueError("token_entropy and token_mask must share one [N, T] shape")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    turn, n_turn = dense_ids(turn_ids)
    if turn.size != h.shape[0]:
        raise ValueError("turn_ids must have one entry per row")
    row_sum = np.where(m, h, 0.0).sum(axis=1)
    row_cnt = m.sum(axis=1).astype(np.float64)
    tok_sum = np.bincount(turn, weights=row_sum, minlength=n_turn)
    tok_cnt = np.bincount(turn, weights=row_cnt, minlength=n_turn)
    present = np.bincount(turn, minlength=n_turn) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ent = np.where(tok_cnt > 0, tok_sum / np.maximum(tok_cnt, 1.0), np.nan)
    valid = present & (tok_cnt > 0)
    if group_ids is None:
        grp_of_turn = np.zeros(n_turn, dtype=np.int64)
    else:
        grp, _ = dense_ids(group_ids)
        grp_of_turn = np.full(n_turn, -1, dtype=np.int64)
        grp_of_turn[turn] = grp
        if np.any(grp_of_turn[turn] != grp):
            raise ValueError("rows of one turn carry different group ids")
    cand = np.flatnonzero(present)
    g = grp_of_turn[cand]
    score = np.where(valid[cand], ent[cand], -np.inf)
    order = np.lexsort((np.arange(cand.size), -score, g))  # by group, entropy desc, first appearance
    g_sorted = g[order]
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = g_sorted[1:] != g_sorted[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(order.size), 0))
    rank = np.arange(order.size) - group_start
    _, g_dense = np.unique(g_sorted, return_inverse=True)
    size = np.bincount(g_dense)[g_dense]
    k = np.ceil(rho * size - 1e-9).astype(np.int64)
    keep_turn = np.zeros(n_turn, dtype=bool)
    keep_turn[cand[order]] = (rank < k) & np.isfinite(score[order])
    kept = ent[keep_turn]
    return EntropyFilterResult(
        keep=keep_turn[turn],
        turn_entropy=ent[turn],
        threshold=float(kept.min()) if kept.size else float("nan"),
    )


def judge_step_filter(scores: np.ndarray, threshold: float = 0.5, *, keep_ungraded: bool = True) -> np.ndarray:
    """Keep turns a step judge graded as right: ``keep_t = score_t ≥ threshold``.

    Boolean grades are used as they are; NaN scores (turns the judge did not grade) are kept when
    ``keep_ungraded`` and dropped otherwise.
    """
    s = np.asarray(scores)
    if s.dtype == bool:
        return s.copy()
    s = s.astype(np.float64)
    ungraded = np.isnan(s)
    with np.errstate(invalid="ignore"):
        keep = s >= threshold
    return np.where(ungraded, keep_ungraded, keep)
