"""Gnumeric workbooks as JSON, and back.

A workbook's state (the value of ``files[path]["workbook"]``)::

    {"sheets": [{"name": "Budget",
                 "cells": {"A1": "Item", "B2": 1200, "B4": "=SUM(B2:B3)"},   # what each cell holds
                 "values": {"B4": 1550.5},                                  # formula results (read only)
                 "bold": ["A1", "B1"],                                       # bold cells that hold something
                 "formats": {"C2": "0%"}}]}                                  # number formats other than General

``read_workbook`` parses the file gnumeric saved (gzip'd XML) for contents and styles and asks
gnumeric's own ``ssconvert`` for the formula results (one CSV per sheet); ``workbook_bytes`` writes a
file gnumeric opens (the minimal XML it accepts, gzip'd).  Cells are A1 references; numbers are
JSON numbers, text is a string, a formula is a string starting with ``=``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

NS = "http://www.gnumeric.org/v10.dtd"
_Q = f"{{{NS}}}"
#: gnumeric's value types in the XML (``ValueType``)
V_BOOL, V_FLOAT, V_STRING = "20", "40", "60"
MAX_ROWS, MAX_COLS = 65536, 256
_REF = re.compile(r"^([A-Z]{1,2})([1-9][0-9]{0,4})$")


class WorkbookError(ValueError):
    """A workbook state that cannot be written, or a file that is not a gnumeric workbook."""


def column_name(index: int) -> str:
    """0 → ``A``, 25 → ``Z``, 26 → ``AA``."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def parse_ref(ref: str) -> tuple[int, int]:
    """``"B4"`` → (row 3, column 1), zero-based."""
    match = _REF.match(ref.strip().upper()) if isinstance(ref, str) else None
    if not match:
        raise WorkbookError(f"{ref!r} is not a cell reference like B4")
    col = 0
    for char in match.group(1):
        col = col * 26 + ord(char) - 64
    row = int(match.group(2)) - 1
    if row >= MAX_ROWS or col > MAX_COLS:
        raise WorkbookError(f"{ref!r} is outside the sheet")
    return row, col - 1


def ref(row: int, col: int) -> str:
    return f"{column_name(col)}{row + 1}"


# ---------------------------------------------------------------------- writing
def workbook_bytes(workbook: Any) -> bytes:
    """The gzip'd gnumeric XML of a workbook state."""
    sheets = _checked_sheets(workbook)
    ET.register_namespace("gnm", NS)
    root = ET.Element(f"{_Q}Workbook")
    index = ET.SubElement(root, f"{_Q}SheetNameIndex")
    container = ET.SubElement(root, f"{_Q}Sheets")
    for sheet in sheets:
        ET.SubElement(index, f"{_Q}SheetName").text = sheet["name"]
        container.append(_sheet_element(sheet))
    return gzip.compress(ET.tostring(root, encoding="utf-8", xml_declaration=True), mtime=0)


def _checked_sheets(workbook: Any) -> list[dict[str, Any]]:
    sheets = workbook.get("sheets") if isinstance(workbook, dict) else None
    if not isinstance(sheets, list) or not sheets:
        raise WorkbookError("a workbook needs a non-empty list 'sheets'")
    names = [s.get("name") if isinstance(s, dict) else None for s in sheets]
    if not all(isinstance(n, str) and n.strip() for n in names) or len(set(names)) != len(names):
        raise WorkbookError(f"sheet names must be distinct non-empty strings, got {names}")
    for sheet in sheets:
        cells = sheet.get("cells", {})
        if not isinstance(cells, dict) or len(cells) > 5000:
            raise WorkbookError(f"sheet {sheet['name']!r}: 'cells' must map A1 references to values (at most 5000)")
        for key, value in cells.items():
            parse_ref(key)
            if not isinstance(value, (str, int, float, bool)):
                raise WorkbookError(f"cell {key} must hold a number, text or a formula, got {value!r}")
    return sheets


def _sheet_element(sheet: dict[str, Any]) -> ET.Element:
    element = ET.Element(f"{_Q}Sheet")
    ET.SubElement(element, f"{_Q}Name").text = sheet["name"]
    cells = {parse_ref(k): v for k, v in sheet.get("cells", {}).items()}
    styles = ET.SubElement(element, f"{_Q}Styles")
    bold = {parse_ref(k) for k in sheet.get("bold", [])}
    formats = {parse_ref(k): str(v) for k, v in sheet.get("formats", {}).items()}
    for row, col in sorted(bold | set(formats)):
        region = ET.SubElement(styles, f"{_Q}StyleRegion", startCol=str(col), startRow=str(row), endCol=str(col), endRow=str(row))
        style = ET.SubElement(region, f"{_Q}Style", Format=formats.get((row, col), "General"))
        ET.SubElement(style, f"{_Q}Font", Unit="10", Bold="1" if (row, col) in bold else "0", Italic="0", Underline="0",
                      StrikeThrough="0", Script="0").text = "Sans"
    container = ET.SubElement(element, f"{_Q}Cells")
    for (row, col), value in sorted(cells.items()):
        cell = ET.SubElement(container, f"{_Q}Cell", Row=str(row), Col=str(col))
        if isinstance(value, bool):
            cell.set("ValueType", V_BOOL)
            cell.text = "TRUE" if value else "FALSE"
        elif isinstance(value, (int, float)):
            cell.set("ValueType", V_FLOAT)
            cell.text = repr(value) if isinstance(value, float) else str(value)
        elif value.startswith("="):
            cell.text = value
        else:
            cell.set("ValueType", V_STRING)
            cell.text = value
    return element


# ---------------------------------------------------------------------- reading
def read_workbook(data: bytes, scratch: Path) -> dict[str, Any]:
    """The state of a saved workbook: contents and styles from its XML, formula results from
    ``ssconvert``.  Raises :class:`WorkbookError` for a file that is not a gnumeric workbook."""
    try:
        xml = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        root = ET.fromstring(xml)
    except (OSError, EOFError, ET.ParseError) as exc:
        raise WorkbookError(f"not a gnumeric workbook: {exc}") from None
    sheets = [_read_sheet(element) for element in root.iter(f"{_Q}Sheet")]
    if any(_has_formula(sheet) for sheet in sheets):
        for sheet, rows in zip(sheets, _computed_values(data, scratch, len(sheets))):
            if _has_formula(sheet):
                sheet["values"] = {k: _cell_value(rows, k) for k, v in sheet["cells"].items() if _is_formula(v)}
    return {"sheets": sheets}


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _has_formula(sheet: dict[str, Any]) -> bool:
    return any(_is_formula(v) for v in sheet["cells"].values())


def same_workbook(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    """Whether a saved workbook is the expected one: the same sheets in the same order, the same cells
    (numbers to 1e-9, formulas as gnumeric means them; an expected ``{"formula_value": v}`` takes any
    formula that computes ``v``), the same bold cells and number formats."""
    sheets, got = expected.get("sheets", []), actual.get("sheets", [])
    if [s["name"] for s in sheets] != [s["name"] for s in got]:
        return False
    for want, have in zip(sheets, got):
        cells, values = have.get("cells", {}), have.get("values", {})
        if set(want.get("cells", {})) != set(cells):
            return False
        if not all(_same_cell(v, cells[k], values.get(k)) for k, v in want.get("cells", {}).items()):
            return False
        if sorted(want.get("bold", [])) != sorted(have.get("bold", [])) or want.get("formats", {}) != have.get("formats", {}):
            return False
    return True


def _same_cell(want: Any, have: Any, value: Any) -> bool:
    if isinstance(want, dict):  # {"formula_value": v}: any formula computing v
        return _is_formula(have) and _same_number(want["formula_value"], value)
    if _is_formula(want):
        return _is_formula(have) and canonical_formula(want) == have
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return _same_number(want, have)
    return want == have


def _same_number(want: Any, have: Any) -> bool:
    return isinstance(have, (int, float)) and not isinstance(have, bool) and abs(float(want) - float(have)) <= 1e-9 * max(1.0, abs(float(want)))


def _read_sheet(element: ET.Element) -> dict[str, Any]:
    name = element.findtext(f"{_Q}Name") or ""
    cells: dict[str, Any] = {}
    shared: dict[str, tuple[str, int, int]] = {}  # ExprID -> (formula, row, col) where it is written out
    for cell in element.iter(f"{_Q}Cell"):
        row, col = int(cell.get("Row", 0)), int(cell.get("Col", 0))
        key = ref(row, col)
        text, kind, expr_id = cell.text or "", cell.get("ValueType"), cell.get("ExprID")
        if expr_id is not None:  # a formula shared by copies: written out once, relative to its first cell
            if text.startswith("="):
                shared[expr_id] = (text, row, col)
            elif expr_id in shared:
                formula, row0, col0 = shared[expr_id]
                text = shift_references(formula, row - row0, col - col0)
        if kind == V_FLOAT:
            number = float(text)
            cells[key] = int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        elif kind == V_BOOL:
            cells[key] = text.upper() == "TRUE"
        elif kind is None and text.startswith("="):
            cells[key] = canonical_formula(text)
        elif text:
            cells[key] = text
    bold, formats = _styles(element, set(cells))
    sheet: dict[str, Any] = {"name": name, "cells": cells}
    if bold:
        sheet["bold"] = bold
    if formats:
        sheet["formats"] = formats
    return sheet


_A1 = re.compile(r"(?<![A-Za-z0-9_.$'])(\$?)([A-Z]{1,3})(\$?)([0-9]+)(?![0-9A-Za-z_(!])")


def shift_references(formula: str, rows: int, cols: int) -> str:
    """``formula`` as it reads ``rows`` rows down and ``cols`` columns right of where it was written:
    relative A1 references move, ``$``-anchored parts stay (gnumeric writes function names in lower
    case, so upper-case letters followed by digits are references)."""
    def move(match: re.Match) -> str:
        col_anchor, letters, row_anchor, digits = match.groups()
        col = parse_ref(f"{letters}1")[1] if col_anchor else parse_ref(f"{letters}1")[1] + cols
        row = int(digits) if row_anchor else int(digits) + rows
        return f"{col_anchor}{column_name(col)}{row_anchor}{row}"

    parts = formula.split('"')
    return '"'.join(part if i % 2 else _A1.sub(move, part) for i, part in enumerate(parts))


def canonical_formula(text: str) -> str:
    """A formula as gnumeric means it: upper case and without spaces outside string literals
    (gnumeric saves ``=sum(b2:b3)`` for what was typed as ``=SUM(B2:B3)``)."""
    parts = text.split('"')
    return '"'.join(part if i % 2 else part.upper().replace(" ", "") for i, part in enumerate(parts))


def _styles(element: ET.Element, filled: set[str]) -> tuple[list[str], dict[str, str]]:
    """Bold cells and non-General number formats, among the cells that hold something."""
    positions = {parse_ref(k): k for k in filled}
    bold: set[str] = set()
    formats: dict[str, str] = {}
    for region in element.iter(f"{_Q}StyleRegion"):
        box = [int(region.get(a, 0)) for a in ("startRow", "startCol", "endRow", "endCol")]
        style = region.find(f"{_Q}Style")
        if style is None:
            continue
        font = style.find(f"{_Q}Font")
        is_bold = font is not None and font.get("Bold") == "1"
        fmt = style.get("Format", "General")
        for (row, col), key in positions.items():
            if box[0] <= row <= box[2] and box[1] <= col <= box[3]:
                (bold.add if is_bold else bold.discard)(key)
                if fmt != "General":
                    formats[key] = fmt
                else:
                    formats.pop(key, None)
    return sorted(bold, key=parse_ref), dict(sorted(formats.items(), key=lambda kv: parse_ref(kv[0])))


def _computed_values(data: bytes, scratch: Path, count: int) -> list[list[list[str]]]:
    """Each sheet's cells as gnumeric displays them, from ``ssconvert -S`` (one CSV per sheet)."""
    source = scratch / "book.gnumeric"
    source.write_bytes(data)
    for old in scratch.glob("sheet.*.csv"):
        old.unlink()
    proc = subprocess.run(["ssconvert", "-S", str(source), str(scratch / "sheet.%n.csv")], capture_output=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8"})
    if proc.returncode != 0:
        raise WorkbookError(f"ssconvert could not read the workbook: {proc.stderr.decode(errors='replace')[-300:]}")
    out = []
    for index in range(count):
        path = scratch / f"sheet.{index}.csv"
        out.append(list(csv.reader(io.StringIO(path.read_text(errors="replace")))) if path.exists() else [])
    return out


def _cell_value(rows: list[list[str]], key: str) -> Any:
    row, col = parse_ref(key)
    text = rows[row][col] if row < len(rows) and col < len(rows[row]) else ""
    return number_or_text(text)


def number_or_text(text: str) -> Any:
    """``"1550.5"`` → 1550.5, ``"25%"`` → 0.25, ``"$1,200"`` → 1200; other text stays text."""
    cleaned = text.strip().replace(",", "").lstrip("$")
    try:
        return float(cleaned[:-1]) / 100 if cleaned.endswith("%") else float(cleaned)
    except ValueError:
        return text
