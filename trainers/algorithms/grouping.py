"""Vectorised grouping and segmented-scan helpers for per-turn-row arrays.

Every advantage estimator in this package works on *flat* arrays with one entry per turn row and
integer ids that say which rows belong together (``group_ids``, ``traj_ids``, ``anchor_ids`` ...).
The helpers here turn those ids into dense indices and compute per-group statistics and per-trajectory
reverse recurrences without a Python loop over rows:

* :func:`dense_ids` / :func:`combine_ids` — ``np.unique(..., return_inverse=True)`` (or a no-copy fast
  path when the ids already are small non-negative integers);
* :func:`group_stats` / :func:`normalize_within_groups` — per-group count, mean and std through
  ``np.bincount``;
* :class:`TrajectoryLayout` — rows ordered by ``(trajectory, turn)`` (no sort when they already are);
* :func:`reverse_linear_scan` — ``y_t = x_t + c_t · y_{t+1}`` within a chain, by log-step doubling
  (⌈log2 L⌉ whole-array passes for chains of length ≤ L), which covers discounted returns, GAE and the
  SMDP recursion of HAE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GroupStats",
    "TrajectoryLayout",
    "combine_ids",
    "dense_ids",
    "discounted_reverse_cumsum",
    "group_stats",
    "normalize_within_groups",
    "reverse_linear_scan",
    "reverse_linear_scan_sorted",
]


def dense_ids(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary ids to dense indices ``inv`` in ``[0, n)`` so that ``ids[i] == ids[j] ⇔ inv[i] == inv[j]``.

    Small non-negative integer ids (``max < 2·len + 1024``) are returned as they are (``n = max + 1``;
    some indices may be unused, which ``np.bincount`` tolerates), otherwise
    ``np.unique(ids, return_inverse=True)`` is used.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if ids.dtype.kind in "iu":
        lo, hi = int(ids.min()), int(ids.max())
        if lo >= 0 and hi < 2 * ids.size + 1024:
            return ids.astype(np.int64, copy=False), hi + 1
    if ids.dtype.kind == "b":
        return ids.astype(np.int64), 2
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.reshape(-1).astype(np.int64, copy=False), int(uniq.size)


def combine_ids(*id_arrays: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense index of the tuple ``(ids_1[i], ids_2[i], ...)``: rows get equal indices iff all ids agree."""
    if not id_arrays:
        raise ValueError("need at least one id array")
    inv, n = dense_ids(id_arrays[0])
    for ids in id_arrays[1:]:
        inv2, n2 = dense_ids(ids)
        if inv2.shape != inv.shape:
            raise ValueError("id arrays must have the same length")
        if n * max(n2, 1) < 2**62:
            key = inv * max(n2, 1) + inv2
        else:  # pragma: no cover - needs > 2**31 distinct ids on both sides
            _, key = np.unique(np.stack([inv, inv2], axis=1), axis=0, return_inverse=True)
        inv, n = dense_ids(key.reshape(-1))
    return inv, n


@dataclass(frozen=True)
class GroupStats:
    """Per-row view of per-group statistics: ``count``, ``mean`` and ``std`` of the row's group."""

    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def group_stats(values: np.ndarray, inv: np.ndarray, n: int, *, unbiased: bool = False) -> GroupStats:
    """Per-group statistics broadcast back to rows.

    ``mean_g = Σ_{i∈g} x_i / n_g``;
    ``std_g = sqrt(Σ_{i∈g} (x_i − mean_g)² / (n_g − 1))`` if ``unbiased`` else ``/ n_g``
    (two-pass, so no catastrophic cancellation; ``std_g = 0`` for ``n_g ≤ 1`` when unbiased).
    """
    values = np.asarray(values, dtype=np.float64)
    count_g = np.bincount(inv, minlength=n).astype(np.float64)
    sum_g = np.bincount(inv, weights=values, minlength=n)
    mean_g = sum_g / np.maximum(count_g, 1.0)
    mean = mean_g[inv]
    dev = values - mean
    ss_g = np.bincount(inv, weights=dev * dev, minlength=n)
    dof_g = count_g - 1.0 if unbiased else count_g
    var_g = np.where(dof_g > 0, ss_g / np.maximum(dof_g, 1.0), 0.0)
    return GroupStats(count=count_g[inv], mean=mean, std=np.sqrt(var_g)[inv])


def normalize_within_groups(
    values: np.ndarray,
    inv: np.ndarray,
    n: int,
    *,
    normalize_std: bool = True,
    unbiased: bool = False,
    eps: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Group-relative score ``(x − mean_g) / (std_g + ε)`` (or ``x − mean_g`` without std).

    Rows of a group of size one get 0 and are flagged: returns ``(scores, singleton)``.
    """
    stats = group_stats(values, inv, n, unbiased=unbiased)
    centred = np.asarray(values, dtype=np.float64) - stats.mean
    scores = centred / (stats.std + eps) if normalize_std else centred
    singleton = stats.count <= 1
    scores = np.where(singleton, 0.0, scores)
    return scores, singleton


@dataclass(frozen=True)
class TrajectoryLayout:
    """Rows ordered by ``(trajectory, turn index)``.

    ``order`` is the permutation to that order (``None`` when the rows already are in it);
    ``is_first`` / ``is_last`` flag, in sorted order, the first / last row of each trajectory;
    ``max_len`` is the longest trajectory (rows).  With ``allow_repeats`` several rows may share a
    turn index (they stay adjacent); otherwise turn indices must be strictly increasing.
    """

    order: np.ndarray | None
    is_first: np.ndarray
    is_last: np.ndarray
    max_len: int
    traj: np.ndarray  # dense trajectory index, sorted order
    turn: np.ndarray  # turn index, sorted order

    @property
    def size(self) -> int:
        return int(self.is_first.size)

    @classmethod
    def build(cls, traj_ids: np.ndarray, turn_index: np.ndarray, *, allow_repeats: bool = False) -> "TrajectoryLayout":
        traj, n_traj = dense_ids(traj_ids)
        turn = np.asarray(turn_index)
        if turn.shape != traj.shape:
            raise ValueError("traj_ids and turn_index must have the same length")
        turn = turn.astype(np.int64, copy=False)
        n = traj.size
        if n == 0:
            empty = np.zeros(0, dtype=bool)
            return cls(None, empty, empty, 0, traj, turn)
        order = None
        if not _is_sorted_by_traj(traj, turn, n_traj, allow_repeats):
            lo = int(turn.min())
            span = int(turn.max()) - lo + 1
            if n_traj * span < 2**62:
                key = traj * span + (turn - lo)
                order = np.argsort(key, kind="stable")
            else:  # pragma: no cover
                order = np.lexsort((turn, traj))
            traj = traj[order]
            turn = turn[order]
            same = traj[1:] == traj[:-1]
            step = turn[1:] - turn[:-1]
            if not allow_repeats and np.any(same & (step == 0)):
                raise ValueError("duplicate (traj_id, turn_index) rows")
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(traj[1:], traj[:-1], out=change[1:])
        is_first = change
        is_last = np.empty(n, dtype=bool)
        is_last[-1] = True
        is_last[:-1] = change[1:]
        starts = np.flatnonzero(is_first)
        max_len = int(np.diff(np.append(starts, n)).max())
        return cls(order, is_first, is_last, max_len, traj, turn)

    def to_sorted(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        return values if self.order is None else values[self.order]

    def to_original(self, values_sorted: np.ndarray) -> np.ndarray:
        if self.order is None:
            return values_sorted
        out = np.empty_like(values_sorted)
        out[self.order] = values_sorted
        return out


def _is_sorted_by_traj(traj: np.ndarray, turn: np.ndarray, n_traj: int, allow_repeats: bool) -> bool:
    """True when each trajectory's rows are contiguous and its turn indices increase."""
    same = traj[1:] == traj[:-1]
    n_blocks = traj.size - int(np.count_nonzero(same))
    n_present = int(np.count_nonzero(np.bincount(traj, minlength=n_traj)))
    if n_blocks != n_present:
        return False
    step = turn[1:] - turn[:-1]
    bad = (step < 0) if allow_repeats else (step <= 0)
    return not bool(np.any(same & bad))


def reverse_linear_scan_sorted(x: np.ndarray, decay: np.ndarray | float, chain_end: np.ndarray, max_len: int | None = None) -> np.ndarray:
    """Segmented reverse recurrence on rows already in chain order.

    ``y_t = x_t + c_t · y_{t+1}`` with the chain cut after every ``chain_end`` row (there ``y_t = x_t``).
    Computed by log-step doubling: after pass ``k`` each ``y_t`` holds the sum over the next ``2^k``
    rows of its chain and ``C_t = Π c`` over them (zero once a chain end is crossed), so
    ``⌈log2 max_len⌉`` vectorised passes suffice.
    """
    y = np.array(x, dtype=np.float64, copy=True)
    n = y.size
    if n == 0:
        return y
    c = np.broadcast_to(np.asarray(decay, dtype=np.float64), (n,)).copy()
    c[np.asarray(chain_end, dtype=bool)] = 0.0
    if max_len is None:
        ends = np.flatnonzero(chain_end)
        max_len = int(np.diff(np.concatenate(([-1], ends))).max()) if ends.size else n
    shift = 1
    while shift < max_len:
        y[:-shift] += c[:-shift] * y[shift:]
        c_new = np.zeros_like(c)
        np.multiply(c[:-shift], c[shift:], out=c_new[:-shift])
        c = c_new
        shift *= 2
    return y


def reverse_linear_scan(
    x: np.ndarray,
    decay: np.ndarray | float,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    *,
    cut: np.ndarray | None = None,
    layout: TrajectoryLayout | None = None,
) -> np.ndarray:
    """``y_t = x_t + c_t · y_{t+1}`` within each trajectory, rows given in any order.

    ``t+1`` is the next turn of the same trajectory; the recursion also restarts after rows with
    ``cut`` set (e.g. segment ends).  Returns ``y`` in the original row order.
    """
    layout = layout or TrajectoryLayout.build(traj_ids, turn_index)
    x_s = layout.to_sorted(np.asarray(x, dtype=np.float64))
    d = np.asarray(decay, dtype=np.float64)
    d_s = layout.to_sorted(d) if d.ndim else d
    end = layout.is_last if cut is None else (layout.is_last | layout.to_sorted(np.asarray(cut, dtype=bool)))
    return layout.to_original(reverse_linear_scan_sorted(x_s, d_s, end, layout.max_len))


def discounted_reverse_cumsum(
    values: np.ndarray,
    traj_ids: np.ndarray,
    turn_index: np.ndarray,
    gamma: float,
    *,
    layout: TrajectoryLayout | None = None,
) -> np.ndarray:
    """Per-row discounted return ``R_t = Σ_{k≥t} γ^{k−t} r_k`` over later turns of the same trajectory."""
    return reverse_linear_scan(values, gamma, traj_ids, turn_index, layout=layout)
