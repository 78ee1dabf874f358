"""Time each advantage estimator on 1,000,000 turn rows; prints JSON.

Data: groups of 8 trajectories reset to the same task, 10–50 turns each, a sparse success reward on
the last turn plus a small per-step penalty, anchor states drawn from a few recurring states per
group (hashed to 63-bit ids, as the data manager stores them), SWITCH turns with probability 0.2, and
rows in collection order (trajectory by trajectory).  ``gigpo_shuffled_rows`` repeats GiGPO with the
rows in random order (forces the internal sort).  Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from envgym.trainers.algorithms import (  # noqa: E402
    dr_grpo_advantages,
    dual_level_advantages,
    entropy_step_filter,
    gae_advantages,
    gigpo_advantages,
    grpo_advantages,
    hierarchical_advantages,
    turn_level_advantages,
)


def make_rows(n_rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_traj = int(n_rows / 30 * 1.1) + 8
    lengths = rng.integers(10, 51, size=n_traj)
    cum = np.cumsum(lengths)
    n_traj = int(np.searchsorted(cum, n_rows)) + 1
    lengths = lengths[:n_traj]
    lengths[-1] -= int(cum[n_traj - 1] - n_rows)
    traj = np.repeat(np.arange(n_traj, dtype=np.int64), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    turn = np.arange(n_rows, dtype=np.int64) - starts
    group = traj // 8
    is_last = np.zeros(n_rows, dtype=bool)
    is_last[np.cumsum(lengths) - 1] = True
    success = rng.random(n_traj) < 0.4
    rewards = -0.01 + np.where(is_last, np.repeat(success, lengths).astype(np.float64), 0.0)
    # ~6 recurring states per group; state index drifts with the turn, so states recur across trajectories.
    state = (turn // 3 + rng.integers(0, 3, size=n_rows)) % 6
    anchors = ((group * 6 + state) * np.int64(0x9E3779B97F4A7C15 & 0x7FFFFFFFFFFFFFFF)) & np.int64(0x7FFFFFFFFFFFFFFF)
    switch = rng.random(n_rows) < 0.2
    agents = rng.integers(0, 2, size=n_rows)
    values = rng.normal(size=(3, n_rows))
    return {
        "rewards": rewards, "group": group, "traj": traj, "turn": turn, "anchor": anchors,
        "switch": switch, "agent": agents, "v_high": values[0], "v_low": values[1], "v_term": values[2],
    }


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d = make_rows(args.rows)
    perm = np.random.default_rng(1).permutation(args.rows)
    s = {k: v[perm] for k, v in d.items()}
    cases: dict[str, Callable[[], Any]] = {
        "grpo": lambda: grpo_advantages(d["rewards"], d["group"], d["traj"]),
        "dr_grpo": lambda: dr_grpo_advantages(d["rewards"], d["group"], d["traj"]),
        "gigpo": lambda: gigpo_advantages(d["rewards"], d["group"], d["traj"], d["turn"], d["anchor"]),
        "gigpo_row_stats": lambda: gigpo_advantages(d["rewards"], d["group"], d["traj"], d["turn"], d["anchor"], episode_stats="row"),
        "gigpo_shuffled_rows": lambda: gigpo_advantages(s["rewards"], s["group"], s["traj"], s["turn"], s["anchor"]),
        "turn_level_mars": lambda: turn_level_advantages(d["rewards"], d["traj"], d["turn"], d["agent"]),
        "dual_level_matchtir": lambda: dual_level_advantages(d["rewards"], d["group"], d["traj"], d["turn"]),
        "gae": lambda: gae_advantages(d["rewards"], d["v_low"], d["traj"], d["turn"]),
        "hae": lambda: hierarchical_advantages(d["rewards"], d["traj"], d["turn"], d["switch"], d["v_high"], d["v_low"], d["v_term"]),
    }
    seconds = {name: best_time(fn, args.repeats) for name, fn in cases.items()}
    # Entropy filter on token tensors: 100,000 rows x 128 tokens (1M rows of tokens would not fit the point).
    rng = np.random.default_rng(2)
    ent = rng.random((100_000, 128), dtype=np.float32)
    lens = rng.integers(1, 129, size=100_000)
    mask = np.arange(128)[None, :] < lens[:, None]
    seconds["entropy_step_filter_100k_rows_x128_tokens"] = best_time(
        lambda: entropy_step_filter(ent, mask, np.arange(100_000), 0.5, group_ids=np.arange(100_000) // 240), args.repeats
    )
    n_traj = int(np.unique(d["traj"]).size)
    print(json.dumps({
        "rows": args.rows,
        "trajectories": n_traj,
        "groups": int(np.unique(d["group"]).size),
        "cpu_count": os.cpu_count(),
        "seconds": seconds,
        "target_seconds": 1.0,
        "all_within_target": all(v <= 1.0 for v in seconds.values()),
    }, indent=2))


if __name__ == "__main__":
    main()
