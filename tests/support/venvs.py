"""Throw-away virtual environments for install tests.

A venv made here sees the system's site-packages (torch, gymnasium, … stay shared, so it builds in
seconds) but no pip of its own: ``python -m pip`` inside it runs the system pip, which installs into
the venv and builds with the system's setuptools (``--no-build-isolation``: no download of build
tools).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "runs", ".venv", ".cache",
                                     ".pytest_cache", ".ruff_cache", "*.tmp")


def make_venv(path: Path) -> Path:
    """A venv at ``path`` layered over the system site-packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def pip(python: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m pip install ARGS`` (quiet); raises with pip's output when it fails."""
    done = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def build_wheel(source: Path, out_dir: Path) -> Path:
    """A wheel of the project at ``source`` built from a clean copy (no stale ``build/`` leaks in, and
    nothing is written into ``source``)."""
    copy = out_dir / "src"
    shutil.copytree(source, copy, ignore=_NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out_dir),
                    str(copy)], check=True, capture_output=True, text=True)
    return next(out_dir.glob("*.whl"))


def run_python(python: Path, code: str, cwd: Path, timeout: float = 300) -> str:
    """Run ``code`` in the venv's python from ``cwd`` (not the checkout: nothing is imported from it
    by accident); its stdout, or an assertion error with both streams."""
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, f"python failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout
