#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
stamp_dir=${XDG_CACHE_HOME:-$HOME/.cache}/envgym
if [ -f "$stamp_dir/docker_host.env" ]; then
  set -a; . "$stamp_dir/docker_host.env"; set +a
fi
python3 -m ruff check .   # lint rules: [tool.ruff] in pyproject.toml
exec python3 -m pytest -n 2 --dist loadfile "$@"
