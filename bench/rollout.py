"""Rollout throughput, async vs sync, under heterogeneous env latencies.  Prints JSON.

    python bench/rollout.py [--steps 6] [--median-ms 10] [--sigma 1.0] [--staleness 2]

Both modes run the real trainer (same tiny policy, same Maze tasks, same batch) for ``--steps``
training steps, with every env step delayed by a lognormal time (``median · exp(σ·N(0,1))``, the
``LatencyEnv`` wrapper of :mod:`envgym.trainers.env_cluster`).  Sync = lockstep: a batch is generated turn by
turn for all its episodes (each turn waits for the slowest env), then the learner trains while no
rollout runs.  Async = episodes advance independently (the rollout service flushes partial batches
after ``max_wait_ms``), rollouts keep running while the learner trains, staleness bounded by
admission (η = ``--staleness``).  Reported per mode over the training loop: env-steps/s, env
utilisation (fraction of env-worker time inside env calls), policy utilisation (fraction of wall
time the backend was generating), tokens/s; and the async/sync env-steps/s ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(mode: str, args: argparse.Namespace, out: Path) -> dict:
    from envgym.trainers.train import run

    overrides = [
        f"run.out_dir={out}", f"run.steps={args.steps}", "run.progress=false", "run.tensorboard=false",
        "run.plot=false", "run.checkpoint_every=0", f"mode={mode}", "eval.episodes_per_task=0",
        f"envs.0.workers={args.workers}", f"envs.0.latency.median_s={args.median_ms / 1000}",
        f"envs.0.latency.sigma={args.sigma}", f"rollout.max_staleness={args.staleness}",
        f"rollout.batch_episodes={args.batch}", f"rollout.max_wait_ms={args.max_wait_ms if mode == 'async' else 'null'}",
        "data.fsync=false", f"run.seed={args.seed}",
    ]
    summary = run(str(ROOT / "configs" / "maze_tiny.yaml"), overrides)
    return {"training_steps": summary["steps"], **summary["training_loop"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--median-ms", type=float, default=10.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--staleness", type=int, default=2)
    parser.add_argument("--workers", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = {mode: measure(mode, args, Path(tmp) / mode) for mode in ("sync", "async")}
    report = {
        "bench": "rollout",
        "latency": {"median_ms": args.median_ms, "sigma": args.sigma, "distribution": "lognormal"},
        "batch_episodes": args.batch, "group_size": 8, "workers": args.workers, "staleness": args.staleness,
        **results,
        "async_over_sync_env_steps_per_s": round(results["async"]["env_steps_per_s"] / max(results["sync"]["env_steps_per_s"], 1e-9), 2),
    }
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
