"""What the apps' synthesis planners share: the difference between two desktop states, in the terms a
plan is made of (settings that change, files that appear, disappear or change)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envgym.envs.desktop.oracle import Unplannable


@dataclass
class StateChange:
    """``initial`` → ``golden``: settings with new values; files added, removed and modified (path →
    golden content); folders added and removed."""

    settings: dict[str, Any] = field(default_factory=dict)
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    modified: dict[str, Any] = field(default_factory=dict)
    new_folders: list[str] = field(default_factory=list)
    gone_folders: list[str] = field(default_factory=list)


def state_change(initial: dict[str, Any], golden: dict[str, Any]) -> StateChange:
    if initial.get("open", []) != golden.get("open", []):
        raise Unplannable("the golden state opens other files than the initial state ('open' cannot change)")
    before, after = initial.get("files", {}), golden.get("files", {})
    settings_before = initial.get("settings", {})
    folders_before, folders_after = set(initial.get("folders", [])), set(golden.get("folders", []))
    return StateChange(
        settings={k: v for k, v in golden.get("settings", {}).items() if settings_before.get(k) != v},
        added={p: v for p, v in after.items() if p not in before},
        removed={p: v for p, v in before.items() if p not in after},
        modified={p: v for p, v in after.items() if p in before and before[p] != v},
        new_folders=sorted(folders_after - folders_before),
        gone_folders=sorted(folders_before - folders_after),
    )


def setting_steps(change: StateChange, table: dict[tuple[str, Any], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The steps that give every changed setting its golden value; ``table``: (setting, value) → the
    steps that set it (a toggle's steps serve both values).  A value the table lacks is
    :class:`Unplannable`."""
    out: list[dict[str, Any]] = []
    for key, value in change.settings.items():
        steps = table.get((key, value))
        if steps is None:
            raise Unplannable(f"the planner cannot set {key} to {value!r}")
        out += steps
    return out


def toggle(key: str, steps: list[dict[str, Any]]) -> dict[tuple[str, Any], list[dict[str, Any]]]:
    """Table entries of a boolean setting flipped by ``steps``."""
    return {(key, True): steps, (key, False): steps}
