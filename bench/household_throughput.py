"""Household training throughput on this CPU: env-steps/s and tokens/s of the training loop, before
and after the compact observation (JSON on stdout).

    python bench/household_throughput.py [--steps 6] [--variants text household hierarchical]

Each variant trains ``configs/household_heldout.yaml`` from scratch for ``--steps`` learner steps (no
evaluation) and reports the trainer's own ``training_loop`` figures:

* ``text`` — the observation as the env writes it (what the earlier household config used);
* ``household`` — the compact formatter (task, location, what is seen, what is carried);
* ``hierarchical`` — the hierarchical choice agent on the compact formatter (switch + subgoal + action
  per completion).

The machine's load average is reported beside each figure: on a shared machine it moves them more
than any change does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

VARIANTS = {
    "text": ["agent.observation=text"],
    "household": ["agent.observation=household"],
    "hierarchical": ["agent.observation=household", "agent.kind=hierarchical_choice", "algo.estimator=hae"],
}


def measure(name: str, steps: int) -> dict:
    from envgym.trainers.train import run

    with tempfile.TemporaryDirectory() as out:
        overrides = [*VARIANTS[name], f"run.steps={steps}", f"run.out_dir={out}", "run.resume=never", "run.progress=false",
                     "run.plot=false", "run.tensorboard=false", "eval.episodes_per_task=0", "data.seed_with_oracle=false"]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        summary = run("configs/household_heldout.yaml", overrides)
        loop = summary["training_loop"]
    return {"variant": name, "steps": summary["steps"], "wall_s": round(time.perf_counter() - start, 1),
            "env_steps_per_s": loop["env_steps_per_s"], "tokens_per_s": loop["tokens_per_s"],
            "policy_utilisation": loop["policy_utilisation"], "load_before": round(load, 1),
            "load_after": round(os.getloadavg()[0], 1)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    results = [measure(name, args.steps) for name in args.variants]
    print(json.dumps({"bench": "household_throughput", "cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
