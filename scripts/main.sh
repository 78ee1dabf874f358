#!/usr/bin/env bash
# Set up (idempotent), then train a from-scratch tiny policy on Maze and print the learning curve.
# Extra arguments are config overrides, e.g.  bash scripts/main.sh algo.estimator=grpo mode=async
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec envgym train configs/maze_tiny.yaml "$@"
