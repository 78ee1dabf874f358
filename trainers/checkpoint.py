"""Atomic checkpoints: ``<run>/checkpoints/step_000010.pt`` + a ``latest`` pointer.

A checkpoint file is written to a temporary name, fsynced and renamed; then ``latest`` is replaced
atomically.  A process killed at any point leaves either the previous checkpoint or the new one —
never a torn file that resume would pick up.  The payload holds the model, optimizer, RNG states
(python, numpy, torch), step, policy version, data-manager state (store offset = cursor) and the
metrics-log offset.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envgym.fileio import atomic_write

LATEST = "latest"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: str | os.PathLike, step: int, payload: dict[str, Any], keep: int = 2) -> Path:
    directory = Path(run_dir) / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"step_{step:06d}.pt"
    fd, tmp = tempfile.mkstemp(prefix=".ckpt.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    atomic_write(directory / LATEST, target.name + "\n")
    for old in sorted(directory.glob("step_*.pt"))[:-keep] if keep > 0 else []:
        if old != target:
            old.unlink(missing_ok=True)
    return target


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    pointer = Path(run_dir) / "checkpoints" / LATEST
    if not pointer.exists():
        return None
    target = pointer.parent / pointer.read_text().strip()
    return target if target.exists() else None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)
