"""Credit-assignment comparison at equal env-step budgets, with seeds and confidence intervals.

    python -m envgym.trainers.compare --suite credit --mode quick|full [--jobs 2] [--out DIR]
    python -m envgym.trainers.compare [--config configs/compare_maze.yaml] [--estimators grpo gigpo hae turn]
                               [--seeds 0 1] [--env-steps 100000] [--out runs/compare] [k=v overrides ...]

Every (env, method, seed) cell trains from scratch with the env's config and the method's overrides,
stopping once its rollouts took the env-step budget; then the fixed evaluation sets are played
(held-out tasks with ``eval.tasks``).  A cell whose ``result.json`` exists is not run again (an
interrupted study resumes).  ``--suite credit`` is the study of :mod:`envgym.trainers.credit_suite`;
without it, ``--estimators`` are compared on one ``--config``.  Written to ``--out``:

* ``results.md`` — per env: held-out success (mean ± 95 % CI over seeds, t-distribution; per seed),
  the paired difference to GRPO (same seeds), training-task success, env steps until the
  EMA-smoothed training success first reached 50 % / 80 %, wall time; the exact command, the commit,
  the machine's load and the hyper-parameter search budget;
* ``<env>.png`` — training success (EMA) vs env steps, mean and every seed, and the final held-out
  success per method with its CI;
* ``results.json`` — everything, raw.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from envgym.trainers.algorithms.estimators import ESTIMATORS

DEFAULT_CONFIG = "configs/compare_maze.yaml"


def label(estimator: str) -> str:
    return ESTIMATORS[estimator].label


@dataclass(frozen=True)
class Cell:
    """One training run of the comparison."""

    env: str
    method: str
    label: str
    config: str
    seed: int
    env_steps: int
    overrides: tuple[str, ...]
    run_dir: str


def run_cell(cell: Cell) -> dict[str, Any]:
    """Train one cell (or read its earlier ``result.json``) and return its result."""
    from envgym.trainers.metrics import read_metrics
    from envgym.trainers.train import run

    run_dir = Path(cell.run_dir)
    cached = run_dir / "result.json"
    result = finished(cell)
    if result is not None:
        return result
    overrides = [
        *cell.overrides, f"run.seed={cell.seed}", f"run.max_env_steps={cell.env_steps}", f"run.out_dir={run_dir}",
        "run.progress=false", "run.resume=never",
    ]
    start = time.perf_counter()
    summary = run(cell.config, overrides)
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if "perf/env_steps" in r]
    result = {
        "env": cell.env, "method": cell.method, "label": cell.label, "seed": cell.seed, "config": cell.config,
        "overrides": list(cell.overrides), "env_steps_budget": cell.env_steps,
        "env_steps": records[-1]["perf/env_steps"] if records else 0.0,  # training rollouts (not demonstrations, not evaluations)
        "steps": summary["steps"], "wall_s": round(time.perf_counter() - start, 1),
        "eval_before": summary["eval_success_before"], "eval_after": summary["eval_success_after"],
        "heldout_before": summary["heldout_success_before"], "heldout_after": summary["heldout_success_after"],
        "curve": [[r["perf/env_steps"], r.get("rollout/success", float("nan"))] for r in records],
        "commit": _commit(), "load_after": round(os.getloadavg()[0], 1),
    }
    cached.write_text(json.dumps(result))
    return result


def finished(cell: Cell) -> dict[str, Any] | None:
    """The cell's earlier result, if a run with the same overrides and budget finished."""
    cached = Path(cell.run_dir) / "result.json"
    if not cached.exists():
        return None
    result = json.loads(cached.read_text())
    same = result.get("overrides") == list(cell.overrides) and result.get("env_steps_budget") == cell.env_steps
    return result if same else None


def run_cells(cells: list[Cell], jobs: int, report_only: bool = False) -> list[dict[str, Any]]:
    """Run ``cells``, ``jobs`` at a time (separate processes, one torch thread each); with
    ``report_only`` only the finished ones are read (nothing runs)."""
    results: list[dict[str, Any]] = []
    if report_only:
        cells = [c for c in cells if finished(c) is not None]

    def report(result: dict[str, Any]) -> None:
        results.append(result)
        print(f"[{len(results)}/{len(cells)}] {result['env']} {result['method']} seed {result['seed']}: held-out "
              f"{result['heldout_after']} train {result['eval_after']} ({result['steps']} steps, "
              f"{result['env_steps']:,} env steps, {result['wall_s']} s)", flush=True)

    if jobs <= 1:
        for cell in cells:
            report(run_cell(cell))
        return results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for result in pool.map(run_cell, cells):
            report(result)
    return results


# ---------------------------------------------------------------------- statistics


def ci95(values: list[float]) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95 % confidence interval of the mean (Student t, n − 1 dof;
    half-width NaN for fewer than two values)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size < 2:
        return float(x.mean()), float("nan")
    from scipy.stats import t

    return float(x.mean()), float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def smooth(values: np.ndarray, alpha: float = 0.15) -> np.ndarray:
    """EMA that carries over NaNs (steps without a finished episode)."""
    out = np.empty_like(values)
    acc = np.nan
    for i, v in enumerate(values):
        if not np.isnan(v):
            acc = v if np.isnan(acc) else (1 - alpha) * acc + alpha * v
        out[i] = acc
    return out


def first_reach(curve: list[list[float]], level: float) -> float | None:
    """Env steps at which the EMA-smoothed training success first reached ``level``."""
    if not curve:
        return None
    xs = np.array([c[0] for c in curve], dtype=float)
    hit = np.flatnonzero(smooth(np.array([c[1] for c in curve], dtype=float)) >= level)
    return float(xs[hit[0]]) if hit.size else None


def training_env_steps(result: dict[str, Any]) -> float:
    """Env steps the run's training rollouts took (the last point of its curve)."""
    return float(result["curve"][-1][0]) if result["curve"] else 0.0


def _fmt(mean: float, half: float) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.3f}" if not np.isfinite(half) else f"{mean:.3f} ± {half:.3f}"


def _reach(xs: list[float | None], n: int) -> str:
    got = [x for x in xs if x is not None]
    return f"{np.mean(got):,.0f} ({len(got)}/{n})" if got else f"never (0/{n})"


def _paired(runs: list[dict[str, Any]], base: list[dict[str, Any]], key: str) -> str:
    """Mean paired difference (same seeds) to the baseline, with its 95 % CI."""
    ref = {r["seed"]: r[key] for r in base}
    diffs = [r[key] - ref[r["seed"]] for r in runs if r[key] is not None and ref.get(r["seed"]) is not None]
    mean, half = ci95(diffs)
    return "–" if not diffs else f"{mean:+.3f}" + (f" ± {half:.3f}" if np.isfinite(half) else "")


def env_table(results: list[dict[str, Any]], methods: list[tuple[str, str]]) -> tuple[list[str], dict[str, Any]]:
    """The markdown table of one env and its statistics."""
    key = "heldout_after" if any(r["heldout_after"] is not None for r in results) else "eval_after"
    before_key = key.replace("_after", "_before")
    lines = ["| method | held-out success (mean ± 95% CI) | per seed | Δ vs GRPO (paired) | before RL | Δ by RL (paired) | "
             "train-task success | env steps to 50% | env steps to 80% | env steps / run | wall s / run |", "|---" * 11 + "|"]
    base = [r for r in results if r["method"] == "grpo"]
    stats: dict[str, Any] = {}
    for name, text in methods:
        runs = sorted((r for r in results if r["method"] == name), key=lambda r: r["seed"])
        if not runs:
            continue
        finals = [r[key] for r in runs]
        mean, half = ci95(finals)
        train_mean, train_half = ci95([r["eval_after"] for r in runs])
        reach = {lvl: [first_reach(r["curve"], lvl) for r in runs] for lvl in (0.5, 0.8)}
        stats[name] = {"mean": mean, "ci95": half, "per_seed": finals, "train_mean": train_mean, "reach50": reach[0.5],
                       "reach80": reach[0.8], "wall_s": float(np.mean([r["wall_s"] for r in runs]))}
        seeds = ", ".join("–" if f is None else f"{f:.2f}" for f in finals)
        delta = "(baseline)" if name == "grpo" else _paired(runs, base, key)
        start = ci95([r[before_key] for r in runs])
        by_rl = _paired(runs, [{**r, key: r[before_key]} for r in runs], key)  # after − before, run by run
        stats[name].update(before=start[0], before_ci95=start[1])
        lines.append(f"| {text} | {_fmt(mean, half)} | {seeds} | {delta} | {_fmt(*start)} | {by_rl} | {_fmt(train_mean, train_half)} | "
                     f"{_reach(reach[0.5], len(runs))} | {_reach(reach[0.8], len(runs))} | "
                     f"{np.mean([training_env_steps(r) for r in runs]):,.0f} | {stats[name]['wall_s']:.0f} |")
    return lines, stats


# ---------------------------------------------------------------------- plots


def plot_env(results: list[dict[str, Any]], methods: list[tuple[str, str]], budget: int, title: str, path: Path) -> None:
    """Training success vs env steps (mean and each seed) and final held-out success per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget, 80)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    key = "heldout_after" if any(r["heldout_after"] is not None for r in results) else "eval_after"
    for k, (name, text) in enumerate(methods):
        runs = [r for r in results if r["method"] == name]
        curves = [np.interp(grid, [c[0] for c in r["curve"]], smooth(np.array([c[1] for c in r["curve"]], dtype=float)))
                  for r in runs if r["curve"]]
        color = f"C{k}"
        for c in curves:
            left.plot(grid, c, color=color, alpha=0.25, lw=0.8)
        if curves:
            left.plot(grid, np.nanmean(np.vstack(curves), axis=0), color=color, lw=2, label=f"{text} (n={len(curves)})")
        finals = [r[key] for r in runs if r[key] is not None]
        right.scatter([k] * len(finals), finals, color=color, alpha=0.5, s=14)
        mean, half = ci95(finals)
        if np.isfinite(mean):
            right.errorbar([k], [mean], yerr=[[half if np.isfinite(half) else 0.0]], fmt="o", color=color, capsize=4, ms=7)
    left.set(xlabel="env steps", ylabel="training success (EMA)", ylim=(-0.02, 1.02), title=f"{title}: learning (thin = seeds)")
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="upper left")
    right.set_xticks(range(len(methods)), [m for m, _ in methods], rotation=35, fontsize=8)
    right.set(ylabel="held-out success after training", ylim=(-0.02, 1.02), title="final held-out success (mean ± 95% CI)")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- the report


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "trainers", "agents", "envs", "configs"],
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + (" (with uncommitted changes under trainers/ agents/ envs/ configs/)" if dirty else "")


def report(results: list[dict[str, Any]], envs: list[tuple[str, int, str]], methods: list[tuple[str, str]],
           header: list[str], out: Path) -> tuple[str, dict[str, Any]]:
    """``results.md`` text and per-env statistics; writes one plot per env."""
    lines = list(header)
    stats: dict[str, Any] = {}
    for env, budget, title in envs:
        env_results = [r for r in results if r["env"] == env]
        if not env_results:
            continue
        table, stats[env] = env_table(env_results, methods)
        lines += [f"## {title} — {budget:,} env steps per run", "", *table, "",
                  f"![{env}]({env}.png)", ""]
        plot_env(env_results, methods, budget, title, out / f"{env}.png")
    lines += [
        "Held-out success: the fixed held-out evaluation after training (tasks never trained on). "
        "Δ vs GRPO: mean over seeds of (method − GRPO) on the same seed, with its 95 % CI. "
        "Before RL: the same evaluation of the run's start (the behaviour-cloned policy of its agent format), "
        "sampled with the run's seed; Δ by RL: after − before, run by run. "
        "Env steps to 50 %/80 %: first env step at which the EMA-smoothed training success (over every finished "
        "episode) reached the level, mean over the seeds that reached it. CI: Student t over seeds.",
    ]
    return "\n".join(lines), stats


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    """The study: the learning-rate search of every (env, method), then its seeds with the winner."""
    from envgym.trainers import credit_suite as suite

    mode, out = args.mode, Path(args.out or f"docs/results/credit-{args.mode}")
    work = Path(args.work or f"runs/credit-{mode}") if args.out is None or args.work else out  # run directories
    envs = [suite.study_env(e) for e in (args.envs or [e.name for e in suite.ENVS])]
    methods = [suite.method(m) for m in (args.methods or [m.name for m in suite.METHODS])]
    seeds = args.seeds if args.seeds is not None else list(suite.SEEDS[mode])
    grid = tuple(args.grid or suite.SEARCH_GRID)
    budget = {e.name: args.env_steps or e.budget[mode] for e in envs}
    search = [Cell(e.name, m.name, f"{m.label} [{option}]", e.config, suite.SEARCH_SEED, max(1, int(budget[e.name] * suite.SEARCH_BUDGET)),
                   (*suite.run_overrides(e, m, mode), *args.overrides, option), str(work / "search" / f"{e.name}_{m.name}_{_slug(option)}"))
              for e in envs for m in methods for option in grid] if len(grid) > 1 else []
    print(f"search: {len(search)} runs", flush=True)
    if search:
        chosen, search_lines = choose(run_cells(search, args.jobs, args.report_only), grid)
        search_lines = ["### The search (training-task success; held-out shown, never used)", "", *search_lines]
    else:  # one option: every method runs it, nothing is searched
        chosen, search_lines = {(e.name, m.name): grid[0] for e in envs for m in methods}, []
    cells = [Cell(e.name, m.name, m.label, e.config, seed, budget[e.name],
                  (*suite.run_overrides(e, m, mode), *args.overrides, chosen[(e.name, m.name)]),
                  str(work / "runs" / f"{e.name}_{m.name}_seed{seed}"))
             for seed in seeds for e in envs for m in methods]
    extra = [f"Mode: {mode}.", f"Hyper-parameter search: {suite.hp_search(grid)}.", "", *search_lines]
    return _execute(cells, args, out, [(e.name, budget[e.name], e.name.capitalize()) for e in envs],
                    [(m.name, m.label) for m in methods], seeds, extra=extra, before=tuple(search))


def choose(results: list[dict[str, Any]], grid: tuple[str, ...]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The grid option with the best training-task success per (env, method) (ties: the earlier
    option), and the search's markdown table."""
    chosen: dict[tuple[str, str], str] = {}
    lines = ["| env | method | " + " | ".join(grid) + " | chosen |", "|---" * (len(grid) + 3) + "|"]
    by_cell: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in results:
        option = next(o for o in grid if o in r["overrides"])
        by_cell.setdefault((r["env"], r["method"]), {})[option] = r
    for (env, name), runs in by_cell.items():
        scores = [(runs[o]["eval_after"] if runs.get(o) and runs[o]["eval_after"] is not None else -1.0) for o in grid]
        chosen[(env, name)] = grid[int(np.argmax(scores))]
        cells = [f"{runs[o]['eval_after']:.3f} (held-out {runs[o]['heldout_after']:.3f})" if o in runs and runs[o]["eval_after"] is not None
                 and runs[o]["heldout_after"] is not None else "–" for o in grid]
        lines.append(f"| {env} | {name} | " + " | ".join(cells) + f" | `{chosen[(env, name)]}` |")
    return chosen, lines


def _slug(option: str) -> str:
    return option.replace(".", "_").replace("=", "-")


def study_wall_s(paths: list[Path]) -> float:
    """Wall time of the runs from the first start to the last finish (a resumed or re-reported study
    counts when its runs actually ran): ``max(finish) − min(finish − wall)`` over the ``result.json``
    files' times and the runs' own wall times."""
    done = [(p.stat().st_mtime, json.loads(p.read_text())["wall_s"]) for p in paths if p.exists()]
    return max(t for t, _ in done) - min(t - w for t, w in done) if done else 0.0


def run_estimators(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out or "runs/compare")
    seeds = args.seeds if args.seeds is not None else [0, 1]
    budget = args.env_steps or 100_000
    cells = [Cell("env", est, label(est), args.config, seed, budget, (f"algo.estimator={est}", *args.overrides),
                  str(out / f"{est}_seed{seed}")) for seed in seeds for est in args.estimators]
    return _execute(cells, args, out, [("env", budget, args.config)], [(e, label(e)) for e in args.estimators], seeds, extra=[])


def _execute(cells: list[Cell], args: argparse.Namespace, out: Path, envs: list[tuple[str, int, str]],
             methods: list[tuple[str, str]], seeds: list[int], extra: list[str], before: tuple[Cell, ...] = ()) -> dict[str, Any]:
    """Run ``cells`` and write the report; ``before``: earlier cells (the search) the wall time includes."""
    out.mkdir(parents=True, exist_ok=True)
    results = run_cells(cells, args.jobs, args.report_only)
    if args.report_only:
        extra = [f"Report of the {len(results)} finished runs of the {len(cells)} planned (--report-only).", *extra]
    wall = study_wall_s([Path(c.run_dir) / "result.json" for c in [*cells, *before]])
    command = "python -m envgym.trainers.compare " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    commits = sorted({r.get("commit", "not recorded") for r in results})
    loads = [r["load_after"] for r in results if "load_after" in r]
    header = [
        "# Credit assignment at equal env-step budgets", "",
        f"Command: `{command}`  ", f"Commit of the runs: {', '.join(f'`{c}`' for c in commits)}; of this report: `{_commit()}`  ",
        f"Seeds: {seeds}; {len(before)} search runs, then {len(cells)} runs, {args.jobs} at a time; wall time "
        f"{wall / 60:.1f} min (first start to last finish).  ",
        f"Machine: {os.cpu_count()} CPUs shared with other work; load average when runs finished: "
        + (f"median {np.median(loads):.1f}, max {max(loads):.1f}" if loads else "not recorded")
        + f"; {os.getloadavg()[0]:.1f} when this report was written.  ", *[f"{line}  " for line in extra], "",
    ]
    text, stats = report(results, envs, methods, header, out)
    (out / "results.md").write_text(text + "\n")
    payload = {"command": command, "commits": commits, "wall_s": round(wall, 1), "seeds": seeds, "stats": stats, "runs": results}
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    print(text)
    print(f"\nwritten: {out / 'results.md'}, {out / 'results.json'} and one PNG per env")
    return payload


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Compare credit-assignment methods at equal env-step budgets.")
    parser.add_argument("--suite", choices=["credit"], help="run the credit-assignment study (envgym.trainers.credit_suite)")
    parser.add_argument("--mode", choices=["quick", "full"], default="quick", help="suite: quick (CI) or full (the study)")
    parser.add_argument("--envs", nargs="+", help="suite: only these envs")
    parser.add_argument("--methods", nargs="+", help="suite: only these methods")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--estimators", nargs="+", default=["grpo", "gigpo", "hae", "turn"], choices=sorted(ESTIMATORS))
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--env-steps", type=int, help="env steps per run (default: 100,000; suite: each env's budget for the mode)")
    parser.add_argument("--grid", nargs="+", help="suite: the options every method searches (default: the suite's learning "
                        "rates); one option: no search, every method runs it")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    parser.add_argument("--report-only", action="store_true", help="run nothing: report the runs that finished")
    parser.add_argument("--out", help="where the report goes (suite default: docs/results/credit-<mode>)")
    parser.add_argument("--work", help="suite: where the run directories go (default: runs/credit-<mode>; with --out: inside it)")
    parser.add_argument("overrides", nargs="*", help="extra key.sub=value overrides for every run")
    args = parser.parse_args(argv)
    args.argv = argv
    return run_suite(args) if args.suite else run_estimators(args)


if __name__ == "__main__":
    main(sys.argv[1:])
