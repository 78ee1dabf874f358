"""Gnumeric (GNOME's spreadsheet) as a desktop-env app: launching, workbooks, layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.app import DesktopApp
from envgym.envs.desktop.gnumeric.workbook import WorkbookError, read_workbook, workbook_bytes
from envgym.envs.desktop.homedir import StateFormatError


class GnumericApp(DesktopApp):
    title = "Gnumeric, a spreadsheet"
    binary = "gnumeric"
    window_class = "Gnumeric"

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
