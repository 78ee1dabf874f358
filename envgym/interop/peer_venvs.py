"""Cached virtual environments for the peer packages envgym is tested against (tests, bench, setup).

Some peers pin dependencies that cannot share envgym's environment (``openenv-core`` pulls gradio,
fastmcp and its own pydantic range; ``gem-llm`` pins nltk, msgspec and reasoning-gym), so each runs
in a venv of its own, built once and reused::

    python = peer_python("openenv")      # ~/.cache/envgym/venvs/openenv-<hash>/bin/python

The venv's folder name carries a hash of its requirement list, so changing a pin builds a new one;
a ``.ready`` file written last marks a finished build, and a lock file serialises concurrent builders
(pytest-xdist workers).  ``python -m envgym.interop.peer_venvs [NAME ...]`` builds them and prints
one ``NAME PYTHON`` line each (``scripts/setup.sh --dev`` runs it, so CI has them warm).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PeerVenv:
    """A venv recipe: pinned requirements; ``system_site_packages`` lets it see envgym's own
    environment (for peers whose adapters import envgym), the pins installed on top taking precedence."""

    requirements: tuple[str, ...]
    system_site_packages: bool = False


PEERS: dict[str, PeerVenv] = {
    # OpenEnv's own server and clients (GenericEnvClient, MCPToolClient), its CLI, and uv (which
    # `openenv validate` expects to have locked an exported package).
    "openenv": PeerVenv(("openenv-core==0.3.0", "uv==0.13.9")),
    # GEM's registry and loop, with envgym visible for the adapter.
    "gem": PeerVenv(("gem-llm==0.1.0",), system_site_packages=True),
}


def venv_root() -> Path:
    """Where peer venvs live: ``$ENVGYM_PEER_VENVS`` or ``~/.cache/envgym/venvs``."""
    explicit = os.environ.get("ENVGYM_PEER_VENVS")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "envgym" / "venvs"


def venv_dir(name: str) -> Path:
    """The folder of peer venv ``name`` for its current recipe (and this interpreter's version)."""
    recipe = PEERS[name]
    key = "\n".join([*recipe.requirements, str(recipe.system_site_packages), sys.version.split()[0]])
    return venv_root() / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def peer_python(name: str) -> str:
    """The interpreter of peer venv ``name``, building the venv first when it is missing."""
    if name not in PEERS:
        raise KeyError(f"unknown peer venv {name!r}; known: {', '.join(sorted(PEERS))}")
    folder = venv_dir(name)
    python = folder / "bin" / "python"
    if (folder / ".ready").exists():
        return str(python)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it
        if not (folder / ".ready").exists():
            _build(folder, PEERS[name])
    return str(python)


def _build(folder: Path, recipe: PeerVenv) -> None:
    command = [sys.executable, "-m", "venv", "--clear", str(folder)]
    if recipe.system_site_packages:
        command.insert(3, "--system-site-packages")
    subprocess.run(command, check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *recipe.requirements], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building the peer venv {folder.name} failed:\n{result.stderr[-4000:]}")
    (folder / ".ready").write_text("\n".join(recipe.requirements) + "\n")


def main(argv: list[str] | None = None) -> None:
    for name in (argv if argv is not None else sys.argv[1:]) or sorted(PEERS):
        print(name, peer_python(name), flush=True)


if __name__ == "__main__":
    main()
