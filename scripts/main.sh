#!/usr/bin/env bash
# Set up (idempotent), measure the untrained policy on the held-out Maze layouts (test split), then
# train it from scratch on the train split (behaviour cloning on the training layouts' oracle
# episodes, then RL) and report held-out success after cloning and after RL, with the learning curve.
# Extra arguments are config overrides of the training, e.g.  bash scripts/main.sh algo.estimator=grpo
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A fresh run directory each time (an existing one would be resumed: run.resume=auto).
run_dir="runs/maze_heldout-$(date +%Y%m%d-%H%M%S)"
# The baseline: the same tiny policy before any training, 24 held-out layouts x 8 episodes.
envgym eval configs/maze_heldout.yaml --split test --episodes 192 --concurrency 16 --temperature 1.0 --out "$run_dir-untrained"
exec envgym train configs/maze_heldout.yaml "run.out_dir=$run_dir" "$@"
