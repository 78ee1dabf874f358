"""Mousepad's synthesis planner: an oracle plan from one desktop state to another — new text for the
open document, a new document saved under a new name, and settings from the menus."""

from __future__ import annotations

import posixpath
from typing import Any

from envgym.envs.desktop.oracle import Unplannable
from envgym.envs.desktop.planning import setting_steps, state_change, toggle

SETTINGS = {
    **toggle("show-line-numbers", [{"menu": ["View", "Line Numbers"]}]),
    **toggle("toolbar-visible", [{"menu": ["View", "Toolbar"]}]),
    **toggle("statusbar-visible", [{"menu": ["View", "Statusbar"]}]),
    **toggle("word-wrap", [{"menu": ["Document", "Word Wrap"]}]),
    **toggle("auto-indent", [{"menu": ["Document", "Auto Indent"]}]),
    **toggle("insert-spaces", [{"menu": ["Document", "Tab Size", "Insert Spaces"]}]),
    **{("tab-width", n): [{"menu": ["Document", "Tab Size", str(n)]}] for n in (2, 3, 4, 8)},
}

#: The colour schemes of the View menu, by their settings value.
COLOR_SCHEMES = {"None": "none", "Classic": "classic", "Cobalt": "cobalt", "Kate": "kate", "Oblivion": "oblivion",
                 "Solarized Dark": "solarized-dark", "Solarized Light": "solarized-light", "Tango": "tango"}



def plan(initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
    change = state_change(initial, golden)
    table = {**SETTINGS, **{("color-scheme", value): [{"menu": ["View", "Color Scheme", label]}]
                            for label, value in COLOR_SCHEMES.items()}}
    steps = setting_steps(change, table)
    if change.removed or change.new_folders or change.gone_folders:
        raise Unplannable("Mousepad only edits and saves documents: it cannot delete files or make folders")
    opened = initial.get("open", [])
    for path, value in change.modified.items():
        if path not in opened or "text" not in value:
            raise Unplannable(f"{path} is not the open text document; only that one can be edited")
        steps += [{"key": "ctrl+a"}, {"type": value["text"]} if value["text"] else {"key": "Delete"}, {"key": "ctrl+s"}]
    if len(change.added) > 1 or (change.added and opened):
        raise Unplannable("the planner saves at most one new document, and only when none is open")
    for path, value in change.added.items():
        if "text" not in value or not value["text"]:
            raise Unplannable(f"{path}: a new document needs some text")
        if posixpath.dirname(path) not in ("", *initial.get("folders", [])):
            raise Unplannable(f"{path}: its folder does not exist (Mousepad saves into existing folders)")
        steps += [{"type": value["text"]}, {"key": "ctrl+s"}, {"await": "Save As"}, {"key": "ctrl+a"},
                  {"type": f"~/{path}\n"}, {"await": posixpath.basename(path)}]
    return steps + [{"answer": "done"}]
