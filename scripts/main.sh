#!/usr/bin/env bash
# Set up (idempotent), then train a from-scratch tiny policy on the Maze train split and report
# success on held-out layouts (test split) before and after, with the learning curve.
# Extra arguments are config overrides, e.g.  bash scripts/main.sh algo.estimator=grpo mode=async
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A fresh run directory each time (an existing one would be resumed: run.resume=auto).
exec envgym train configs/maze_heldout.yaml "run.out_dir=runs/maze_heldout-$(date +%Y%m%d-%H%M%S)" "$@"
