"""Task-synthesis throughput: candidate tasks checked per minute, excluding LLM time.

Scripted role replies (household tasks from distinct seeds; a share of them faulty: a golden that
misses the goal, a constant reward, a reward ignoring side effects) are served instantly by the
loopback OpenAI-compatible stub server, and ``envgym.synth.cli_ops.synth`` runs the whole funnel
(critic vote and rollouts off).  Reported:

* ``candidates_checked_per_min_excl_llm`` — candidates / (time inside :func:`envgym.synth.checks.verify`
  summed over candidates, review rounds included) × 60: env loads, diffs, planner replay, static
  scan and jailed reward calls (one process per call, every call twice for the determinism check);
* ``end_to_end_candidates_per_min`` — with the stub's HTTP round trips and JSON handling included;
* ``cpu_seconds`` — CPU time of this process and its finished child processes (reward jails
  included; under bubblewrap their work is not passed up, so run with ``ENVGYM_REWARD_JAIL=landlock``
  for this figure) over the run, and ``candidates_per_cpu_min``: a figure that a busy shared
  machine disturbs less than wall-clock time (``load_avg_1m`` says how busy it was).

Prints one JSON document.  Usage: ``python bench/synth.py [--candidates 60] [--concurrency 4]``
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.support: the scripted roles


def build_roles(n: int):
    from tests.support.synth_scripts import ScriptedRoles, household_case, household_reward

    goals = [("pick_clean_then_place", "apple", "fridge", "clean"), ("pick_and_place", "mug", "cabinet", None),
             ("pick_heat_then_place", "potato", "countertop", "hot"), ("pick_cool_then_place", "tomato", "diningtable", "cool")]
    proposals, script = [], {}
    for k in range(n):
        goal_type, obj, receptacle, state = goals[k % len(goals)]
        case = household_case(1000 + k, goal_type, obj, receptacle, difficulty=("easy", "medium", "hard")[k % 3])
        tag = f"c{k}"
        good = household_reward(obj, receptacle, state)
        gen = {"initial_state": {"world": case["initial"]}, "golden_state": {"world": case["golden"]}}
        fault = k % 5
        if fault == 1:  # golden misses the goal (the object stays where it was), fixed after review
            bad = copy.deepcopy(gen)
            bad["golden_state"]["world"] = case["initial"]
            entry = {"generator": [bad, gen], "discriminator": [{"reward_code": good}]}
        elif fault == 2:  # constant reward, then a good one
            entry = {"generator": [gen], "discriminator": [{"reward_code": "def reward(initial, final, trajectory=None):\n    return 1.0\n"},
                                                           {"reward_code": good}]}
        elif fault == 3:  # ignores side effects every round: rejected
            entry = {"generator": [gen], "discriminator": [{"reward_code": household_reward(obj, receptacle, state, side_effects=False)}]}
        else:
            entry = {"generator": [gen], "discriminator": [{"reward_code": good}]}
        script[tag] = entry
        spec = {"type": goal_type, "object": obj, "receptacle": receptacle, "difficulty": "easy", "tag": tag}
        proposals.append({"instruction": f"{goal_type} {obj} {receptacle} (variant {k})", "spec": spec})
    return ScriptedRoles(proposals, script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="candidates in flight (1: check times do not overlap, so their sum is real time)")
    parser.add_argument("--max-rounds", type=int, default=2)
    args = parser.parse_args()

    from bench.reward_scoring import jailed_cpu_seconds
    from tests.support.openai_stub import ScriptedOpenAIServer
    from envgym.synth.cli_ops import synth

    roles = build_roles(args.candidates)
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer(roles) as server:
        out = os.path.join(tmp, "tasks.jsonl")
        cpu_start = jailed_cpu_seconds()
        start = time.perf_counter()
        report = synth("envgym/Household-v0", args.candidates, server.base_url, "stub-model", out, critics=0,
                       max_rounds=args.max_rounds, concurrency=args.concurrency, progress=False, print_report=False)
        wall = time.perf_counter() - start
        cpu = jailed_cpu_seconds() - cpu_start
        records = [json.loads(line) for line in open(report["journal"])]
    timing = report["timing"]
    print(json.dumps({
        "bench": "synth",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "env_id": "envgym/Household-v0",
        "candidates": args.candidates,
        "concurrency": args.concurrency,
        "funnel": report["funnel"],
        "rejections": report["rejections"]["checks"],
        "check_rounds": sum(len(r.get("rounds", [])) for r in records if r.get("stage") == "candidate"),
        "check_seconds": timing["check_seconds"],
        "candidates_checked_per_min_excl_llm": timing["candidates_checked_per_min_excl_llm"],
        "end_to_end_candidates_per_min": round(args.candidates / wall * 60, 1),
        "llm_requests": report["usage"]["requests"],
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "candidates_per_cpu_min": round(args.candidates / cpu * 60, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
