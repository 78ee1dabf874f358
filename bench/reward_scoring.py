"""Cost of one python-reward scoring call (what an env pays when a synthesized task's episode ends).

Scores a household task's reward (`tests/support/synth_scripts.household_reward`) on its initial and
golden states, ``--calls`` times, through the run-time scoring path (one isolated process per call),
and reports wall-clock p50/p99/mean in ms, calls/s, and CPU ms per call (this process and its
finished children, jails included: less disturbed by a busy machine than wall time).  Also reports
which isolation boundary ran.

Prints one JSON document.  Usage: ``python bench/reward_scoring.py [--calls 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.support: the household case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    from envgym.rewards import boundary_name, score_task
    from tests.support.synth_scripts import household_case, household_reward

    case = household_case(1000, "pick_and_place", "mug", "cabinet", difficulty="easy")
    task = {"task_id": "bench-reward", "env_id": "envgym/Household-v0", "instruction": "put the mug in the cabinet",
            "reward": {"kind": "python", "code": household_reward("mug", "cabinet", None)}}
    initial, golden = {"world": case["initial"]}, {"world": case["golden"]}
    first = score_task(task, initial, golden)
    assert first.error is None and first.success, first
    times = []
    cpu_start = jailed_cpu_seconds()
    for _ in range(args.calls):
        start = time.perf_counter()
        result = score_task(task, initial, golden)
        times.append(time.perf_counter() - start)
        assert result.success, result
    cpu = jailed_cpu_seconds() - cpu_start
    times.sort()
    ms = [t * 1000 for t in times]
    print(json.dumps({
        "bench": "reward_scoring",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "boundary": boundary_name(),
        "calls": args.calls,
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "calls_per_s": round(len(ms) / sum(times), 1),
        "cpu_ms_per_call": round(cpu * 1000 / args.calls, 2),
    }, indent=2))


def jailed_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children, after ending the warm reward jails
    (so that theirs count too; a jail restarts on the next call).  Under bubblewrap the work of
    processes inside its pid namespace is not passed up: measure CPU with the landlock boundary."""
    import resource

    try:
        from envgym.rewards.jail import close_jails
    except ImportError:  # a tree from before the jail: its sandboxes were reaped call by call
        pass
    else:
        close_jails()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
