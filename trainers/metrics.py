"""Metrics: JSONL (one line per step, crash-safe appends), TensorBoard, a live progress line (rich)
and the reward/success curve PNG (matplotlib, Agg)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class MetricsLogger:
    def __init__(self, run_dir: str | os.PathLike, *, total_steps: int, tensorboard: bool = True, progress: bool = True,
                 offset: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "metrics.jsonl"
        if offset is not None and self.path.exists():
            with open(self.path, "rb+") as handle:
                handle.truncate(offset)
        elif offset is None and self.path.exists():
            self.path.unlink()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard missing: JSONL still works
                self._tb = None
        self._progress = None
        self._task = None
        if progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=total_steps)

    def offset(self) -> int:
        return os.fstat(self._fd).st_size

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, "time": time.time(), **metrics}
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)
        if self._progress is not None and self._task is not None:
            desc = (
                f"succ {metrics.get('rollout/success', float('nan')):.2f}  "
                f"reward {metrics.get('rollout/return', float('nan')):.2f}  "
                f"tok/s {metrics.get('perf/tokens_per_s', 0):.0f}  "
                f"stale {metrics.get('train/staleness_mean', 0):.2f}  "
                f"v{metrics.get('policy_version', 0)}"
            )
            self._progress.update(self._task, completed=step, description=desc)

    def event(self, name: str, payload: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps({"event": name, "time": time.time(), **payload}, separators=(",", ":")) + "\n").encode())
        if name == "eval" and self._tb is not None:  # eval/train/success, eval/heldout/mean_turns, …
            for key in ("success", "mean_turns", "infra_errors"):
                self._tb.add_scalar(f"eval/{payload['set']}/{key}", float(payload[key]), payload["step"])
            self._tb.flush()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    out = []
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    return out


def plot_curve(metrics_path: str | os.PathLike, png_path: str | os.PathLike, title: str = "") -> Path:
    """Training success / return per step (and eval points) → PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    steps = [r for r in records if "step" in r and "rollout/success" in r]
    evals = [r for r in records if r.get("event") == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if steps:
        xs = [r["step"] for r in steps]
        ax.plot(xs, [r["rollout/success"] for r in steps], label="train success (all rollouts)", alpha=0.6)
        ax.plot(xs, _smooth([r["rollout/success"] for r in steps]), label="train success (smoothed)")
        ax.plot(xs, [r.get("rollout/return", 0.0) for r in steps], label="train return", alpha=0.4, linestyle=":")
    if evals:
        ax.plot([e["step"] for e in evals], [e["success"] for e in evals], "o-", color="black", label="eval success")
    ax.set_xlabel("training step (policy version)")
    ax.set_ylabel("success / return")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def _smooth(values: list[float], alpha: float = 0.2) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else (1 - alpha) * acc + alpha * v
        out.append(acc)
    return out
