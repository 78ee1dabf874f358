"""PCManFM's synthesis planner: an oracle plan from one desktop state to another — renames, new
folders and files moved to the trash in the open folder, and settings by their shortcuts."""

from __future__ import annotations

import posixpath
from typing import Any

from envgym.envs.desktop.oracle import Unplannable
from envgym.envs.desktop.planning import setting_steps, state_change, toggle

SETTINGS = {
    **toggle("show_hidden", [{"key": "ctrl+h"}]),
    **toggle("show_statusbar", [{"key": "ctrl+b"}]),
    ("side_pane_mode", "hidden;places"): [{"key": "F9"}],
    ("side_pane_mode", "dirtree"): [{"key": "ctrl+7"}],
    **{("sort", f"{key};ascending;"): [{"key": f"ctrl+alt+{n}"}] for n, key in enumerate(["name", "mtime", "size", "type"], 1)},
}


def plan(initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
    change = state_change(initial, golden)
    steps = setting_steps(change, SETTINGS)
    folder = (initial.get("open") or ["."])[0].strip("/")
    folder = "" if folder == "." else folder
    renames = _renames(change, folder)
    for old, new in renames.items():
        steps += [{"click": {"file": posixpath.basename(old), "in": folder}}, {"key": "F2"}, {"await": "Rename"},
                  {"key": "ctrl+a"}, {"type": posixpath.basename(new) + "\n"}, {"wait": 0.3}]
    for path in change.removed:
        if path in renames:
            continue
        _require_in(path, folder)
        steps += [{"click": {"file": posixpath.basename(path), "in": folder}}, {"key": "Delete"}]
        if initial.get("settings", {}).get("confirm_trash", True):
            steps += [{"await": "Confirm"}, {"key": "Return"}]
        steps.append({"wait": 0.3})
    for path in change.new_folders:
        _require_in(path, folder)
        steps += [{"key": "ctrl+shift+n"}, {"await": "Creating"}, {"key": "ctrl+a"},
                  {"type": posixpath.basename(path) + "\n"}, {"wait": 0.3}]
    if change.modified or change.gone_folders or set(change.added) - set(renames.values()):
        raise Unplannable("the planner renames, trashes and makes folders in the open folder; it does not edit, "
                          "create or copy files")
    return steps + [{"answer": "done"}]


def _renames(change: Any, folder: str) -> dict[str, str]:
    """Removed file → added file with the same content in the same folder (one each)."""
    out: dict[str, str] = {}
    for new, value in change.added.items():
        old = next((p for p, v in change.removed.items() if v == value and p not in out
                    and posixpath.dirname(p) == posixpath.dirname(new)), None)
        if old is not None:
            _require_in(old, folder)
            out[old] = new
    return out


def _require_in(path: str, folder: str) -> None:
    if posixpath.dirname(path) != folder:
        raise Unplannable(f"{path} is not in the open folder {folder or '~'}")
