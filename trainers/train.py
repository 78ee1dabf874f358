"""Run a training config: ``python -m envgym.trainers.train CONFIG.yaml [key.sub=value ...]``.

>>> from envgym.trainers.train import run
>>> summary = run("configs/maze_tiny.yaml", ["algo.estimator=gigpo", "mode=async"])   # doctest: +SKIP

``run`` returns the summary dict (steps, wall time, eval success before/after, curve PNG path, the
per-step history); the CLI prints the learning curve and the summary as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from envgym.trainers.config import ConfigError, load_config
from envgym.trainers.explain import summary_notes


def run(config_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Load ``config_path`` with ``overrides`` (``key.sub=value``), train, return the summary."""
    from envgym.trainers.trainer import Trainer

    config = load_config(config_path, list(overrides or []))
    return Trainer(config).run()


def format_curve(summary: dict[str, Any], points: int = 12) -> str:
    """A small text table of the learning curve (train success per step, eval before/after)."""
    history = summary.get("history") or []
    lines = [f"{'step':>6}  {'success':>8}  {'return':>7}"]
    if history:
        stride = max(1, len(history) // points)
        picked = history[::stride]
        if picked[-1] is not history[-1]:
            picked.append(history[-1])
        for h in picked:
            lines.append(f"{h['step']:>6}  {h['success']:>8.3f}  {h['return']:>7.3f}")
    lines.append(f"eval success (training tasks): before {summary.get('eval_success_before')}  after {summary.get('eval_success_after')}"
                 f"  ({summary.get('steps')} steps, {summary.get('wall_s')} s)")
    if summary.get("heldout_success_before") is not None:
        lines.append(f"held-out success: before {summary['heldout_success_before']}  after {summary.get('heldout_success_after')}")
    if summary.get("curve_png"):
        lines.append(f"curve: {summary['curve_png']}")
    lines += summary_notes(summary)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        summary = run(argv[0], argv[1:])
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # the learner's NonFiniteError
        print(f"training stopped: {exc}\nthe last checkpoint written before it is kept (run again to resume "
              f"from it with a lower optim.lr, or start over with run.resume=never)", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # on Ray: the learner or rollout actor was lost
        from envgym.trainers.cluster.runtime import ActorLostError

        lost = exc if isinstance(exc, ActorLostError) else exc.__cause__
        if not isinstance(lost, ActorLostError):
            raise
        print(f"training stopped: {lost}", file=sys.stderr)
        return 1
    print(format_curve(summary))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
