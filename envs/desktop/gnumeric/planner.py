"""Gnumeric's synthesis planner: an oracle plan that enters the cell contents of the golden workbook
into the open one (through the name box, sheet by sheet), then saves."""

from __future__ import annotations

from typing import Any

from envgym.envs.desktop.oracle import Unplannable
from envgym.envs.desktop.planning import state_change
from envgym.envs.desktop.gnumeric.workbook import parse_ref


def plan(initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
    change = state_change(initial, golden)
    if change.settings or change.added or change.removed or change.new_folders or change.gone_folders:
        raise Unplannable("the planner only edits cells of the open workbook")
    steps: list[dict[str, Any]] = []
    for path, value in change.modified.items():
        if path not in initial.get("open", []) or "workbook" not in value:
            raise Unplannable(f"{path} is not the open workbook")
        steps += _workbook_steps(initial["files"][path]["workbook"], value["workbook"])
    return steps + [{"key": "ctrl+s"}, {"answer": "done"}]


def _workbook_steps(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    old_sheets, new_sheets = before.get("sheets", []), after.get("sheets", [])
    if [s.get("name") for s in old_sheets] != [s.get("name") for s in new_sheets]:
        raise Unplannable("the planner does not add, remove or rename sheets")
    steps: list[dict[str, Any]] = []
    for index, (old, new) in enumerate(zip(old_sheets, new_sheets)):
        if old.get("bold", []) != new.get("bold", []) or old.get("formats", {}) != new.get("formats", {}):
            raise Unplannable("the planner does not change formatting")
        cells, wanted = old.get("cells", {}), new.get("cells", {})
        edits = sorted((k for k in set(cells) | set(wanted) if cells.get(k) != wanted.get(k)), key=parse_ref)
        if not edits:
            continue
        steps += [{"key": "ctrl+Next"}] * (index - _current(steps))
        for ref in edits:
            steps += [{"click": {"namebox": True}}, {"key": "ctrl+a"}, {"type": f"{ref}\n"}]
            steps.append({"key": "Delete"} if ref not in wanted else {"type": f"{_typed(wanted[ref])}\n"})
    return steps


def _current(steps: list[dict[str, Any]]) -> int:
    return sum(1 for s in steps if s == {"key": "ctrl+Next"})


def _typed(value: Any) -> str:
    """What to type for a cell's content."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str) or not value or "\n" in value:
        raise Unplannable(f"the planner cannot type the cell content {value!r}")
    return value
