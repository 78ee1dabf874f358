"""Generate ``tasks.jsonl`` for Gnumeric: ``python -m envgym.envs.desktop.gnumeric.make_tasks``.

Every task opens one workbook in Gnumeric; the checker reads the workbook Gnumeric saved (its XML
for contents and styles, ``ssconvert`` for formula results).  Plans click cells, row and column
headers and toolbar buttons by the grid's known layout, use the menus, context menus and dialogs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from envgym.envs.desktop.gnumeric.workbook import column_name, parse_ref
from envgym.envs.desktop.taskgen import desktop_task
from envgym.tasks import Task, write_task_file_main

ENV_ID = "envgym/DesktopGnumeric-v0"
SAVE, DONE = {"key": "ctrl+s"}, {"answer": "done"}

EXPENSES = [("Rent", 1200), ("Food", 350.5), ("Transport", 80), ("Internet", 45), ("Utilities", 130)]
SHARES = [0.55, 0.16, 0.04, 0.02, 0.23]
STUDENTS = [("Ana Lopez", 82, 91, 77), ("Bob Stone", 67, 74, 88), ("Chen Wei", 95, 89, 92), ("Dara Okafor", 74, 68, 81),
            ("Eli Novak", 88, 93, 70), ("Fay Morgan", 59, 77, 85)]
STOCK = [("Pens", 120, 0.5), ("Notebooks", 45, 2.25), ("Staplers", 12, 7.8), ("Folders", 80, 1.1), ("Tape", 30, 1.95)]
SALES = {"2023": [("North", 1840), ("South", 2210), ("East", 1675), ("West", 1990)],
         "2024": [("North", 2015), ("South", 2140), ("East", 1890), ("West", 2305)]}


def rows_sheet(name: str, header: list[str], rows: list[tuple], **extra: Any) -> dict[str, Any]:
    cells: dict[str, Any] = {f"{column_name(c)}1": h for c, h in enumerate(header)}
    for r, row in enumerate(rows, 2):
        for c, value in enumerate(row):
            cells[f"{column_name(c)}{r}"] = value
    return {"name": name, "cells": cells, **extra}


def book(name: str, *sheets: dict[str, Any]) -> dict[str, Any]:
    return {"files": {f"Documents/{name}": {"workbook": {"sheets": list(sheets)}}}, "open": [f"Documents/{name}"]}


def expect(initial: dict[str, Any], change: Any) -> dict[str, Any]:
    """The checker params for a workbook that ``change(sheets)`` edits in place."""
    path = next(iter(initial["files"]))
    sheets = copy.deepcopy(initial["files"][path]["workbook"]["sheets"])
    change(sheets)
    return {"files": {path: {"workbook": {"sheets": sheets}}}}


def move_rows(sheet: dict[str, Any], row: int, by: int) -> None:
    """Rows from ``row`` (1-based) down move by ``by``: an insertion above ``row`` (``by > 0``) or the
    deletion of the ``-by`` rows from ``row`` on (``by < 0``)."""
    moved = {}
    for key, value in sheet["cells"].items():
        r, col = parse_ref(key)
        r += 1
        if r < row:
            moved[key] = value
        elif by > 0 or r >= row - by:
            moved[f"{column_name(col)}{r + by}"] = value
    sheet["cells"] = moved


def cell(ref: str) -> dict[str, str]:
    return {"cell": ref}


def build() -> list[Task]:
    tasks: list[Task] = []

    def add(task_id: str, instruction: str, initial: dict, params: dict, plan: list, kind: str, answer: Any = None) -> None:
        tasks.append(desktop_task(ENV_ID, f"gnumeric-{task_id}", instruction, initial, params, plan, kind=kind, answer=answer))

    expenses = book("expenses.gnumeric", rows_sheet("Expenses", ["Item", "Cost"], EXPENSES))
    shares = book("expenses.gnumeric", rows_sheet("Expenses", ["Item", "Cost", "Share"],
                                                  [(*e, s) for e, s in zip(EXPENSES, SHARES)]))
    grades = book("grades.gnumeric", rows_sheet("Scores", ["Student", "Math", "Science", "History"], STUDENTS))
    stock = book("stock.gnumeric", rows_sheet("Stock", ["Item", "Qty", "Price", "Value"], STOCK))
    sales = book("sales.gnumeric", *[rows_sheet(year, ["Region", "Sales"], rows) for year, rows in SALES.items()],
                 {"name": "Summary", "cells": {}})
    total = sum(cost for _, cost in EXPENSES)
    with_total = book("expenses.gnumeric", rows_sheet("Expenses", ["Item", "Cost"], [*EXPENSES, ("Total", "=SUM(B2:B5)")]))

    def set_cells(**cells: Any) -> Any:
        return lambda sheets: sheets[0]["cells"].update(cells)

    # --- entering values and formulas
    add("update-cost", "Internet now costs 55. Update its cost in expenses.gnumeric and save.", expenses,
        expect(expenses, set_cells(B5=55)), [{"click": cell("B5")}, {"type": "55\n"}, SAVE, DONE], "edit")
    add("fix-cost", "Food cost 420 this month, not 350.5. Correct it in expenses.gnumeric and save.", expenses,
        expect(expenses, set_cells(B3=420)), [{"click": cell("B3")}, {"type": "420\n"}, SAVE, DONE], "edit")
    add("total-formula", "Below the last expense of expenses.gnumeric, write 'Total' in A7 and, in B7, a formula that "
        "adds up the costs B2:B6. Save.", expenses,
        expect(expenses, set_cells(A7="Total", B7={"formula_value": total})),
        [{"click": cell("A7")}, {"type": "Total\t=SUM(B2:B6)\n"}, SAVE, DONE], "formula")
    averages = {f"{c}8": {"formula_value": sum(s[i] for s in STUDENTS) / len(STUDENTS)} for i, c in enumerate("BCD", 1)}
    add("averages", "In grades.gnumeric, write 'Average' in A8 and put formulas for each subject's average score in "
        "B8, C8 and D8. Save.", grades, expect(grades, set_cells(A8="Average", **averages)),
        [{"click": cell("A8")}, {"type": "Average\t=AVERAGE(B2:B7)\t=AVERAGE(C2:C7)\t=AVERAGE(D2:D7)\n"}, SAVE, DONE],
        "formula")
    add("fix-formula", "The total in B7 of expenses.gnumeric leaves out Utilities. Fix the formula so that it adds up "
        "all five costs, and save.", with_total, expect(with_total, set_cells(B7={"formula_value": total})),
        [{"click": cell("B7")}, {"type": "=SUM(B2:B6)\n"}, SAVE, DONE], "formula")
    values = {f"D{r}": f"=B{r}*C{r}" for r in range(2, 7)}
    add("value-column", "In stock.gnumeric, fill the Value column (D2:D6) with formulas that multiply each item's Qty by "
        "its Price (D2 is =B2*C2, and so on). Save.", stock, expect(stock, set_cells(**values)),
        [{"click": cell("D2")}, {"type": "=B2*C2\n"}, {"click": cell("D2")}, {"key": "ctrl+c"},
         {"drag": [cell("D3"), cell("D6")]}, {"key": "ctrl+v"}, SAVE, DONE], "formula")
    add("far-cell", "Write 'reviewed' in cell F20 of grades.gnumeric (use the name box to get there) and save.", grades,
        expect(grades, set_cells(F20="reviewed")),
        [{"click": {"namebox": True}}, {"key": "ctrl+a"}, {"type": "F20\n"}, {"type": "reviewed\n"}, SAVE, DONE], "edit")
    add("rename-student", "Bob Stone goes by Robert now: change his name in grades.gnumeric to 'Robert Stone' and save.",
        grades, expect(grades, set_cells(A3="Robert Stone")),
        [{"click": cell("A3")}, {"type": "Robert Stone\n"}, SAVE, DONE], "edit")
    new = [("Gym", 45), ("Books", 60), ("Cinema", 25)]
    plan: list[dict] = []
    for r, (item, cost) in enumerate(new, 7):
        plan += [{"click": cell(f"A{r}")}, {"type": item}, {"click": cell(f"B{r}")}, {"type": f"{cost}\n"}]
    plan += [{"click": cell("A10")}, {"type": "Total"}, {"click": cell("B10")}, {"type": "=SUM(B2:B9)\n"}]
    long_cells = {f"A{r}": item for r, (item, _) in enumerate(new, 7)} | {f"B{r}": c for r, (_, c) in enumerate(new, 7)}
    add("add-expenses", "Add three new expenses under the existing ones in expenses.gnumeric, one per row: Gym 45, "
        "Books 60 and Cinema 25 (name in column A, cost in column B). Then write 'Total' in A10 and, in B10, a formula "
        "adding up all eight costs. Save.", expenses,
        expect(expenses, set_cells(**long_cells, A10="Total", B10={"formula_value": total + 130})), plan + [SAVE, DONE],
        "edit")
    add("summary-sheet", "In sales.gnumeric, go to the sheet 'Summary', write 'Total 2024' in A1 and, in B1, a formula "
        "that adds up all 2024 sales (sheet 2024, B2:B5). Save.", sales,
        expect(sales, lambda sheets: sheets[2]["cells"].update(
            {"A1": "Total 2024", "B1": {"formula_value": sum(v for _, v in SALES["2024"])}})),
        [{"key": "ctrl+Next"}, {"key": "ctrl+Next"}, {"click": cell("A1")}, {"type": "Total 2024\t=SUM('2024'!B2:B5)\n"},
         SAVE, DONE], "formula")
    # --- formatting and structure
    add("bold-header", "Make the header row (row 1) of grades.gnumeric bold and save.", grades,
        expect(grades, lambda sheets: sheets[0].update(bold=["A1", "B1", "C1", "D1"])),
        [{"click": {"row": 1}}, {"key": "ctrl+b"}, SAVE, DONE], "format")
    add("bold-total", "Make the Total label and the total value (A7 and B7) of expenses.gnumeric bold, and save.",
        with_total, expect(with_total, lambda sheets: sheets[0].update(bold=["A7", "B7"])),
        [{"drag": [cell("A7"), cell("B7")]}, {"key": "ctrl+b"}, SAVE, DONE], "format")
    add("percent", "Format the Share values (C2:C6) of expenses.gnumeric as percentages and save.", shares,
        expect(shares, lambda sheets: sheets[0].update(formats={f"C{r}": "0%" for r in range(2, 7)})),
        [{"drag": [cell("C2"), cell("C6")]}, {"click": {"tool": "percent"}}, SAVE, DONE], "format")
    add("delete-row", "Delete the Transport row (row 4) of expenses.gnumeric, so the rows below move up. Save.", expenses,
        expect(expenses, lambda sheets: move_rows(sheets[0], 4, -1)),
        [{"right_click": {"row": 4}}, {"popup": ["row_header", "Delete 1 Row"]}, SAVE, DONE], "structure")
    add("insert-row", "Insert an empty row above Food (row 3) in expenses.gnumeric and save.", expenses,
        expect(expenses, lambda sheets: move_rows(sheets[0], 3, 1)),
        [{"right_click": {"row": 3}}, {"popup": ["row_header", "Insert 1 Row"]}, SAVE, DONE], "structure")
    add("clear-history", "Clear the History scores (D2:D7) in grades.gnumeric but keep the header, then save.", grades,
        expect(grades, lambda sheets: [sheets[0]["cells"].pop(f"D{r}") for r in range(2, 8)]),
        [{"drag": [cell("D2"), cell("D7")]}, {"key": "Delete"}, SAVE, DONE], "edit")
    ordered = sorted(EXPENSES)
    add("sort-items", "Sort the expense rows (2 to 6) of expenses.gnumeric alphabetically by item, keeping each cost "
        "next to its item. Save.", expenses,
        expect(expenses, set_cells(**{f"A{r}": i for r, (i, _) in enumerate(ordered, 2)},
                                   **{f"B{r}": c for r, (_, c) in enumerate(ordered, 2)})),
        [{"drag": [cell("A2"), cell("B6")]}, {"click": {"tool": "sort_ascending"}}, SAVE, DONE], "structure")
    add("rename-sheet", "Rename the sheet 'Expenses' of expenses.gnumeric to 'March' and save.", expenses,
        expect(expenses, lambda sheets: sheets[0].update(name="March")),
        [{"menu": ["Edit", "Sheet", "Rename..."]}, {"await": "Rename"}, {"key": "ctrl+a"}, {"type": "March\n"}, {"await": "expenses.gnumeric"}, SAVE, DONE],
        "structure")
    add("append-sheet", "Add a new sheet named 'April' after the sheet 'Expenses' in expenses.gnumeric and save.",
        expenses, expect(expenses, lambda sheets: sheets.append({"name": "April", "cells": {}})),
        [{"menu": ["Edit", "Sheet", "Append"]}, {"key": "ctrl+Next"}, {"menu": ["Edit", "Sheet", "Rename..."]},
         {"await": "Rename"},
         {"key": "ctrl+a"}, {"type": "April\n"}, {"await": "expenses.gnumeric"}, SAVE, DONE], "structure")
    # --- reading
    add("best-science", "What is the highest Science score in grades.gnumeric? Answer with the number.", grades,
        {"answer": {"number": max(s[2] for s in STUDENTS)}}, [{"answer": str(max(s[2] for s in STUDENTS))}], "answer",
        answer=max(s[2] for s in STUDENTS))
    lowest = min(STUDENTS, key=lambda s: s[1])[0]
    add("lowest-math", "Which student has the lowest Math score in grades.gnumeric? Answer with their full name.", grades,
        {"answer": {"text": lowest}}, [{"answer": lowest}], "answer", answer=lowest)
    total_2023 = sum(v for _, v in SALES["2023"])
    add("total-2023", "What were the total 2023 sales over all regions in sales.gnumeric? Answer with the number.", sales,
        {"answer": {"number": total_2023}}, [{"answer": str(total_2023)}], "answer", answer=total_2023)
    return tasks


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build, Path(__file__).with_name("tasks.jsonl"), argv)


if __name__ == "__main__":
    main()
