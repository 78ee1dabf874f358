"""What the learner made of each trained turn, for people reading trajectories.

Per training step, one JSON line per trained turn in ``<run.out_dir>/turn_stats.jsonl``, beside the
trajectory store: the episode and turn it belongs to, the learner's policy version, the turn's
advantage (the mean over its decision tokens when the estimator gives one per token) and how far
the learner's logprobs of the sampled tokens are from the rollout's,

    ``logp_diff = mean_j |log π_learner(y_j) − log π_rollout(y_j)|``  over the decision tokens ``j``,

with ``π_learner`` the proximal pass (the weights before the step).  In a synchronous run both are
the same weights, so the difference is numerical noise (≈1e-7 in fp32 on a CPU); staleness, a
different dtype or a mismatch between what was sampled and what is re-run shows up here first.
``envgym show --html`` puts both next to each turn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from envgym.fileio import JsonlAppender
from envgym.report import TURN_STATS_FILE

__all__ = ["TURN_STATS_FILE", "TurnStatsWriter", "turn_stats"]


def turn_stats(rows: Any, advantages: np.ndarray, learner_logp: Any, version: int) -> list[dict[str, Any]]:
    """One record per row of ``rows`` (:class:`envgym.trainers.batching.TurnRows`); ``learner_logp``
    is ``[N, C]`` (zeros past each completion)."""
    adv = np.nan_to_num(np.asarray(advantages, dtype=np.float64).reshape(len(rows), -1))
    old = learner_logp.detach().cpu().numpy()
    out = []
    for i in range(len(rows)):
        decisions = _decision_positions(rows.allowed[i], len(rows.completion_ids[i]))
        row_adv = adv[i, decisions] if adv.shape[1] > 1 and decisions else adv[i, :1]
        record = {"episode_id": rows.episode[i], "turn": int(rows.turn[i]), "version": int(version),
                  "advantage": round(float(row_adv.mean()), 6), "logp_diff": None, "tokens": len(decisions)}
        rollout = rows.rollout_logp[i]
        if rollout is not None and decisions:
            diff = [abs(float(old[i, j]) - float(rollout[j])) for j in decisions]
            record["logp_diff"] = float(f"{sum(diff) / len(diff):.3g}")
        out.append(record)
    return out


def _decision_positions(allowed: list[list[int]] | None, length: int) -> list[int]:
    """Completion positions that were a choice (free sampling: all of them)."""
    if allowed is None:
        return list(range(length))
    return [j for j in range(length) if j >= len(allowed) or len(allowed[j]) > 1]


class TurnStatsWriter:
    """Appends :func:`turn_stats` records to ``path`` (whole lines, crash-safe)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._appender = JsonlAppender(self.path, fsync=False)

    def write(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self._appender.append_line(json.dumps(record, separators=(",", ":")))

    def close(self) -> None:
        self._appender.close()
