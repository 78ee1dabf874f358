"""Credit-assignment comparison: GRPO vs GiGPO vs HAE vs turn-level, same env-step budget and seeds.

    python -m envgym.trainers.compare [--config configs/compare_maze.yaml] [--estimators grpo gigpo hae turn]
                               [--seeds 0 1] [--env-steps 100000] [--out runs/compare] [k=v overrides ...]

Every (estimator, seed) pair trains from scratch with the same config, stopping once the rollouts
took ``--env-steps`` env steps; then the fixed evaluation set is played.  Written to ``--out``:

* ``results.md`` — table: final eval success (mean ± std over seeds, and per seed), env steps to
  reach 50 % / 80 % training success (mean over the seeds that reached it), wall time;
* ``success_vs_env_steps.png`` — training success (EMA-smoothed, over every finished episode) vs
  env steps, mean over seeds with a min–max band;
* ``results.json`` — everything above, raw.

HAE here runs with the *flat* choice agent (a from-scratch tiny model cannot be asked to write
HiPER's ``<switch>/<subgoal>/<action>`` format): segments are cut every ``algo.hae_segment_len`` turns
(or where the env's ``info["subgoal"]`` changes), and a three-head critic on the prompt's last hidden
state supplies ``V_high, V_low, V_term``.  Every completion token is an action token, so a turn trains
on ``A^low`` plus, on segment-start turns, ``A^H``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from envgym.trainers.algorithms.estimators import ESTIMATORS

DEFAULT_CONFIG = "configs/compare_maze.yaml"


def label(estimator: str) -> str:
    return ESTIMATORS[estimator].label


def run_one(config: str, estimator: str, seed: int, env_steps: int, out: Path, extra: list[str]) -> dict[str, Any]:
    from envgym.trainers.metrics import read_metrics
    from envgym.trainers.train import run

    run_dir = out / f"{estimator}_seed{seed}"
    overrides = [
        f"algo.estimator={estimator}", f"run.seed={seed}", f"run.max_env_steps={env_steps}",
        f"run.out_dir={run_dir}", "run.progress=false", "run.resume=never", *extra,
    ]
    start = time.perf_counter()
    summary = run(config, overrides)
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if "perf/env_steps" in r]
    return {
        "estimator": estimator, "seed": seed, "eval_before": summary["eval_success_before"],
        "eval_after": summary["eval_success_after"], "steps": summary["steps"], "wall_s": round(time.perf_counter() - start, 1),
        "curve": [[r["perf/env_steps"], r.get("rollout/success", float("nan"))] for r in records],
    }


def _smooth(values: np.ndarray, alpha: float = 0.15) -> np.ndarray:
    out = np.empty_like(values)
    acc = np.nan
    for i, v in enumerate(values):
        if np.isnan(v):
            out[i] = acc
            continue
        acc = v if np.isnan(acc) else (1 - alpha) * acc + alpha * v
        out[i] = acc
    return out


def _first_reach(curve: list[list[float]], level: float) -> float | None:
    if not curve:
        return None
    xs = np.array([c[0] for c in curve], dtype=float)
    ys = _smooth(np.array([c[1] for c in curve], dtype=float))
    hit = np.flatnonzero(ys >= level)
    return float(xs[hit[0]]) if hit.size else None


def summarise(results: list[dict[str, Any]], estimators: list[str], env_steps: int) -> tuple[str, dict[str, Any]]:
    table = ["| estimator | eval success after (mean ± std) | per seed | env steps to 50 % | env steps to 80 % | wall s / run |",
             "|---|---|---|---|---|---|"]
    stats: dict[str, Any] = {}
    for est in estimators:
        runs = [r for r in results if r["estimator"] == est]
        finals = np.array([r["eval_after"] for r in runs], dtype=float)
        reach50 = [x for x in (_first_reach(r["curve"], 0.5) for r in runs) if x is not None]
        reach80 = [x for x in (_first_reach(r["curve"], 0.8) for r in runs) if x is not None]
        stats[est] = {"eval_mean": float(np.nanmean(finals)), "eval_std": float(np.nanstd(finals)),
                      "reach50": reach50, "reach80": reach80, "per_seed": finals.tolist()}

        def reach(xs: list[float]) -> str:
            return f"{np.mean(xs):,.0f} ({len(xs)}/{len(runs)} seeds)" if xs else f"not reached (0/{len(runs)})"

        table.append(
            f"| {label(est)} | {np.nanmean(finals):.3f} ± {np.nanstd(finals):.3f} | "
            f"{', '.join(f'{x:.2f}' for x in finals)} | {reach(reach50)} | {reach(reach80)} | "
            f"{np.mean([r['wall_s'] for r in runs]):.0f} |"
        )
    before = [r["eval_before"] for r in results if r["eval_before"] is not None]
    text = "\n".join([
        f"# Credit assignment on the maze — {env_steps:,} env steps per run",
        "",
        f"Untrained policy (eval success before training, all runs): {np.mean(before):.3f}" if before else "",
        "",
        *table,
        "",
        "Success to 50 %/80 %: first env step at which the EMA-smoothed training success (over every",
        "finished episode) reached the level.  Eval: the fixed evaluation set after training.",
    ])
    return text, stats


def plot(results: list[dict[str, Any]], estimators: list[str], env_steps: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, env_steps, 60)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for est in estimators:
        curves = []
        for r in (r for r in results if r["estimator"] == est):
            if not r["curve"]:
                continue
            xs = np.array([c[0] for c in r["curve"]], dtype=float)
            ys = _smooth(np.array([c[1] for c in r["curve"]], dtype=float))
            curves.append(np.interp(grid, xs, ys, left=ys[0], right=ys[-1]))
        if not curves:
            continue
        stack = np.vstack(curves)
        mean = np.nanmean(stack, axis=0)
        line, = ax.plot(grid, mean, label=f"{label(est)} (n={len(curves)})")
        ax.fill_between(grid, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("env steps")
    ax.set_ylabel("training success (EMA)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Success vs env steps (mean over seeds, band = min–max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Compare advantage estimators at equal env-step budgets.")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--estimators", nargs="+", default=["grpo", "gigpo", "hae", "turn"], choices=sorted(ESTIMATORS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--env-steps", type=int, default=100_000)
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("overrides", nargs="*", help="extra key.sub=value overrides for every run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        for est in args.estimators:
            result = run_one(args.config, est, seed, args.env_steps, out, args.overrides)
            results.append(result)
            print(f"{est:>6} seed {seed}: eval {result['eval_before']} -> {result['eval_after']} "
                  f"({result['steps']} steps, {result['wall_s']} s)", flush=True)
    text, stats = summarise(results, args.estimators, args.env_steps)
    (out / "results.md").write_text(text + "\n")
    plot(results, args.estimators, args.env_steps, out / "success_vs_env_steps.png")
    payload = {"config": args.config, "env_steps": args.env_steps, "seeds": args.seeds, "stats": stats, "runs": results}
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    print(text)
    print(f"\nwritten: {out / 'results.md'}, {out / 'success_vs_env_steps.png'}, {out / 'results.json'}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
