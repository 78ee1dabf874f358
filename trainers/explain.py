"""The trainer explains itself: when steps carry no learning signal, and what a short run's curve means.

:class:`SignalWatch` sees every step's metrics.  A step has a learning signal when the learner took an
optimiser step on rows with a non-zero advantage (``train/loss`` present, ``train/adv_nonzero`` > 0).
After ``patience`` steps in a row without one it returns a warning naming the likely cause — read
from what the rollouts did — and what to change; it warns again only after a step with signal.
:func:`summary_notes` adds a line to the end-of-run summary when the numbers are easy to misread.
"""

from __future__ import annotations

import math
from typing import Any

#: A from-scratch policy's eval success often dips before it climbs; below this many steps a drop
#: says little (the main job, configs/maze_tiny.yaml, starts climbing after about 100).
SHORT_RUN_STEPS = 100


def has_signal(metrics: dict[str, Any]) -> bool:
    return "train/loss" in metrics and float(metrics.get("train/adv_nonzero", 1.0)) > 0


class SignalWatch:
    def __init__(self, patience: int):
        self.patience = patience
        self.quiet: list[dict[str, Any]] = []

    def observe(self, step: int, metrics: dict[str, Any]) -> str | None:
        """The warning to show after ``metrics`` of ``step``, or ``None``."""
        if has_signal(metrics):
            self.quiet = []
            return None
        self.quiet.append(metrics)
        if len(self.quiet) != self.patience:
            return None
        return f"no learning signal for {self.patience} steps (up to step {step}): {likely_cause(self.quiet)}"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def likely_cause(quiet: list[dict[str, Any]]) -> str:
    """Why steps like these train nothing, and what to try."""
    success = _mean([float(m.get("rollout/success", float("nan"))) for m in quiet])
    rows = _mean([float(m.get("train/rows", 0.0)) for m in quiet])
    if rows == 0:
        return ("the batches hold no turns with token ids, so there is nothing to train on; the agent must record "
                "prompt/completion ids (agent.kind choice, llm or hierarchical with a local policy)")
    if success == 0:
        return ("no episode succeeds, so every group has the same return and every advantage is 0. Likely: the tasks "
                "are too hard for this policy (a from-scratch policy never stumbles on a success). Try "
                "data.seed_with_oracle=true (oracle episodes as successes), a pretrained policy.source, easier tasks, "
                "larger rollout.group_size, or a reward with partial credit")
    if success == 1:
        return ("every episode succeeds, so there is nothing left to improve on these tasks: use harder tasks, "
                "or evaluate on held-out ones (eval.tasks)")
    return (f"episodes succeed {success:.0%} of the time, but each group's episodes end alike (every group "
            "uniform) or every row was filtered out: larger rollout.group_size, data.drop_uniform_groups=true, or "
            "a higher data.step_filter_rho")


def summary_notes(summary: dict[str, Any]) -> list[str]:
    """Lines for the end-of-run summary where its numbers are easy to misread."""
    notes = []
    before, after = summary.get("eval_success_before"), summary.get("eval_success_after")
    steps = int(summary.get("steps") or 0)
    if isinstance(before, float) and isinstance(after, float) and after < before and steps < SHORT_RUN_STEPS:
        notes.append(f"note: eval success fell from {before:.3f} to {after:.3f} in {steps} steps. Early on a from-scratch "
                     f"policy's success often dips before it climbs (the main job climbs after about {SHORT_RUN_STEPS} "
                     "steps); judge the curve after more steps (run.steps).")
    return notes
