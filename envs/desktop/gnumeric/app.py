"""Gnumeric (GNOME's spreadsheet) as a desktop-env app: launching, workbooks, layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.app import DesktopApp
from envgym.envs.desktop.gnumeric.workbook import WorkbookError, parse_ref, read_workbook, same_workbook, workbook_bytes
from envgym.envs.desktop.homedir import StateFormatError


#: Layout of the maximized main window at 100 % zoom (offsets from the window's top-left corner): the
#: cell grid starts at (56, 191), default columns are 81 px wide and rows 18 px high.
GRID_X, GRID_Y, COL_W, ROW_H = 56, 191, 81, 18
ROW_HEADER_X, COLUMN_HEADER_Y, NAME_BOX, TABS_Y, FIRST_TAB_X = 27, 180, (75, 152), 755, 30
#: Toolbar buttons: name → centre.
TOOLS = {"bold": (123, 78), "italic": (161, 78), "percent": (563, 78), "autosum": (521, 42), "sort_ascending": (597, 42),
         "sort_descending": (633, 42), "align_center": (285, 78)}
MENUBAR = {
    "File": (19, []),
    "Edit": (59, ["Undo", "Redo", "---", "Cut", "Copy", "Paste", "Paste Special...", "---", "Clear", "Delete", "Modify", "---",
                  "Search...", "Search & Replace...", "---", "Sheet", "Select", "Recalculate", "---", "Preferences..."]),
    "Insert": (154, ["Cells...", "Columns", "Rows", "Sheet", "---", "Chart...", "Object", "Image...", "Function...",
                     "Function Wrapper", "Name...", "Comment...", "Hyperlink...", "Special"]),
    "Data": (391, ["Sort...", "Shuffle...", "Fill", "Filter", "Validate...", "Consolidate...", "Table...", "Group and Outline",
                   "---", "Text to Columns...", "Import Data", "Export Data"]),
}
SUBMENUS = {"Sheet": ["Manage Sheets...", "---", "Insert", "Append", "Duplicate", "Remove", "Rename...", "Resize..."]}
POPUP_MENUS = {
    "row_header": ["Cut", "Copy", "Paste", "Paste Special", "---", "Insert 1 Row", "Delete 1 Row", "Clear Contents", "---",
                   "Format 1 Row", "Conditional Formatting...", "Cell", "Column", "Row"],
    "sheet_tab": ["Manage Sheets...", "---", "Insert", "Append", "Duplicate", "Remove", "Rename", "Resize...", "Select",
                  "Select (sorted)"],
}


class GnumericApp(DesktopApp):
    title = "Gnumeric, a spreadsheet"
    binary = "gnumeric"
    window_class = "Gnumeric"

    MENUBAR, SUBMENUS, POPUP_MENUS = MENUBAR, SUBMENUS, POPUP_MENUS
    POPUP_MENU_PADDING = 4  # GTK 3 context menus; menu-bar menus have none

    def locate(self, target: dict[str, Any], screen: Any) -> tuple[int, int] | None:
        """``{"cell": "B4"}``, ``{"row": 4}`` (its header), ``{"column": "C"}`` (its header), ``{"namebox": true}``,
        ``{"tool": "bold"}`` (a toolbar button), ``{"tab": 0}`` (the left part of the first sheet tab)."""
        window = screen.main_window()
        if window is None:
            return None
        if "cell" in target:
            row, col = parse_ref(target["cell"])
            point = (GRID_X + COL_W * col + COL_W // 2, GRID_Y + ROW_H * row + ROW_H // 2)
        elif "row" in target:
            point = (ROW_HEADER_X, GRID_Y + ROW_H * (int(target["row"]) - 1) + ROW_H // 2)
        elif "column" in target:
            point = (GRID_X + COL_W * parse_ref(f"{target['column']}1")[1] + COL_W // 2, COLUMN_HEADER_Y)
        elif "namebox" in target:
            point = NAME_BOX
        elif "tool" in target:
            point = TOOLS[target["tool"]]
        elif "tab" in target:
            point = (FIRST_TAB_X, TABS_Y)
        else:
            return super().locate(target, screen)
        return window.x + point[0], window.y + point[1]

    def command(self, home: Path, state: dict[str, Any]) -> list[str]:
        return [self.binary, "--no-splash", *[str(home / p) for p in state.get("open", [])]]

    def read_file(self, path: str, data: bytes, scratch: Path) -> dict[str, Any] | None:
        if not path.endswith(".gnumeric"):
            return None
        try:
            return {"workbook": read_workbook(data, scratch)}
        except WorkbookError as exc:
            return {"unreadable": str(exc)}

    def write_file(self, target: Path, path: str, value: dict[str, Any]) -> bool:
        if "workbook" not in value:
            return False
        try:
            target.write_bytes(workbook_bytes(value["workbook"]))
        except WorkbookError as exc:
            raise StateFormatError(f"files[{path!r}]: {exc}") from None
        return True

    def same_file(self, path: str, expected: dict[str, Any], actual: dict[str, Any] | None) -> bool:
        if "workbook" in expected:
            return actual is not None and "workbook" in actual and same_workbook(expected["workbook"], actual["workbook"])
        return super().same_file(path, expected, actual)

    def file_schema(self) -> dict[str, Any]:
        cell = {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]}
        sheet = {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "cells": {"type": "object", "description": "A1 reference -> number, text, or a formula starting with =",
                      "additionalProperties": cell},
            "bold": {"type": "array", "items": {"type": "string"}},
            "formats": {"type": "object", "additionalProperties": {"type": "string"}},
            "values": {"type": "object", "description": "formula results (read only)"}}}
        workbook = {"type": "object", "required": ["workbook"], "additionalProperties": False, "properties": {
            "workbook": {"type": "object", "required": ["sheets"],
                         "properties": {"sheets": {"type": "array", "items": sheet, "minItems": 1}}}}}
        return {"oneOf": [*super().file_schema()["oneOf"], workbook]}

    def plan_change(self, initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
        from envgym.envs.desktop.gnumeric.planner import plan

        return plan(initial, golden)
