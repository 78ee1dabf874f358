"""Generate ``tasks.jsonl`` for PCManFM: ``python -m envgym.envs.desktop.pcmanfm.make_tasks``.

Every task opens a folder in PCManFM's detailed list view; the checker reads the home folder (which
files and folders exist, with what content) and PCManFM's and libfm's config files and bookmarks.
Plans click files in the list by their known order and row height, drag files onto folders, use
keyboard shortcuts, menus, context menus and dialogs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.taskgen import desktop_task
from envgym.tasks import Task, write_task_file_main

ENV_ID = "envgym/DesktopPCManFM-v0"
DONE = {"answer": "done"}
PNG = {"base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}
LOG = "".join(f"2024-03-{d:02d} 10:00:00 setup step {d} finished\n" for d in range(1, 13))  # 420 bytes
DOCUMENTS = {"Documents/report.txt": {"text": "Quarterly report: sales grew 4%.\n"},
             "Documents/budget.csv": {"text": "item,cost\nrent,1200\nfood,350\n"},
             "Documents/old-draft.txt": {"text": "draft, do not use\n"},
             "Documents/photo.png": PNG,
             "Documents/Archive/old.txt": {"text": "archived notes\n"}}
DOWNLOADS = {"Downloads/invoice-april.pdf": {"text": "%PDF-1.4 invoice april\n"},
             "Downloads/invoice-march.pdf": {"text": "%PDF-1.4 invoice march\n"},
             "Downloads/screenshot1.png": PNG, "Downloads/screenshot2.png": PNG,
             "Downloads/setup.log": {"text": LOG},
             "Downloads/temp1.tmp": {"text": "tmp\n"}, "Downloads/temp2.tmp": {"text": "tmp\n"}}


def home(files: dict[str, Any], folders: list[str], open_folder: str, **settings: Any) -> dict[str, Any]:
    return {"files": dict(files), "folders": folders, "open": [open_folder], "settings": settings}


def in_docs(name: str) -> dict[str, str]:
    return {"file": name, "in": "Documents"}


def in_downloads(name: str) -> dict[str, str]:
    return {"file": name, "in": "Downloads"}


def moved(src: str, dst: str) -> dict[str, Any]:
    return {dst: {"same_as": src}, src: {"absent": True}}


def new_name(shortcut: list[dict], title: str, name: str) -> list[dict]:
    """A plan that opens a name dialog (``shortcut``) and enters ``name``."""
    return [*shortcut, {"await": title}, {"key": "ctrl+a"}, {"type": f"{name}\n"}]


def build() -> list[Task]:
    tasks: list[Task] = []

    def add(task_id: str, instruction: str, initial: dict, params: dict, plan: list, kind: str, answer: Any = None) -> None:
        tasks.append(desktop_task(ENV_ID, f"pcmanfm-{task_id}", instruction, initial, params, plan, kind=kind, answer=answer))

    docs = home(DOCUMENTS, ["Documents/Archive", "Documents/Projects"], "Documents")
    downloads = home(DOWNLOADS, [], "Downloads")
    # --- files and folders
    add("rename-file", "Rename report.txt in Documents to report-2024.txt.", docs,
        {"files": moved("Documents/report.txt", "Documents/report-2024.txt")},
        [{"click": in_docs("report.txt")}, *new_name([{"key": "F2"}], "Rename", "report-2024.txt"), DONE], "files")
    add("rename-folder", "Rename the folder Archive in Documents to Archive-2023.", docs,
        {"files": moved("Documents/Archive/old.txt", "Documents/Archive-2023/old.txt"),
         "folders": {"present": ["Documents/Archive-2023"], "absent": ["Documents/Archive"]}},
        [{"click": in_docs("Archive")}, *new_name([{"key": "F2"}], "Rename", "Archive-2023"), DONE], "files")
    add("new-folder", "Create a new folder named Invoices inside Documents.", docs,
        {"folders": {"present": ["Documents/Invoices"]}},
        [*new_name([{"key": "ctrl+shift+n"}], "Creating", "Invoices"), DONE], "files")
    add("new-empty-file", "Create an empty file named todo.md in Documents, using the right-click menu of the folder.",
        docs, {"files": {"Documents/todo.md": {"text": ""}}},
        [{"right_click": {"window": [700, 600]}}, {"popup": ["folder", "Create New...", "Empty File"]},
         *new_name([], "Creating", "todo.md"), DONE], "files")
    add("trash-file", "Move old-draft.txt from Documents to the trash.", docs,
        {"files": {"Documents/old-draft.txt": {"absent": True}}},
        [{"click": in_docs("old-draft.txt")}, {"key": "Delete"}, {"await": "Confirm"}, {"key": "Return"}, DONE], "files")
    add("copy-into-folder", "Copy budget.csv into the Archive folder (keep the original in Documents).", docs,
        {"files": {"Documents/Archive/budget.csv": {"same_as": "Documents/budget.csv"}}},
        [{"click": in_docs("budget.csv")}, {"key": "ctrl+c"}, {"double_click": in_docs("Archive")}, {"await": "Archive"},
         {"key": "ctrl+v"}, {"wait": 0.5}, DONE], "files")
    add("drag-into-folder", "Move photo.png into the Projects folder by dragging it onto the folder.", docs,
        {"files": moved("Documents/photo.png", "Documents/Projects/photo.png")},
        [{"drag": [in_docs("photo.png"), in_docs("Projects")]}, {"wait": 0.5}, DONE], "files")
    add("move-to-documents", "Move invoice-march.pdf from Downloads into Documents.", downloads,
        {"files": moved("Downloads/invoice-march.pdf", "Documents/invoice-march.pdf")},
        [{"click": in_downloads("invoice-march.pdf")}, {"key": "ctrl+x"}, {"click": {"place": "Home Folder"}},
         {"await": "user"}, {"double_click": {"file": "Documents", "in": ""}}, {"await": "Documents"}, {"key": "ctrl+v"},
         {"wait": 0.5}, DONE], "files")
    add("copy-screenshots", "Copy both screenshots (screenshot1.png and screenshot2.png) from Downloads into Pictures.",
        downloads, {"files": {"Pictures/screenshot1.png": {"same_as": "Downloads/screenshot1.png"},
                              "Pictures/screenshot2.png": {"same_as": "Downloads/screenshot2.png"}}},
        [{"click": in_downloads("screenshot1.png")}, {"key": "shift+Down"}, {"key": "ctrl+c"},
         {"click": {"place": "Home Folder"}}, {"await": "user"}, {"double_click": {"file": "Pictures", "in": ""}},
         {"await": "Pictures"}, {"key": "ctrl+v"}, {"wait": 0.5}, DONE], "files")
    plan = [*new_name([{"key": "ctrl+shift+n"}], "Creating", "PDFs"), *new_name([{"key": "ctrl+shift+n"}], "Creating", "Images")]
    for name, folder in [("invoice-april.pdf", "PDFs"), ("invoice-march.pdf", "PDFs"), ("screenshot1.png", "Images"),
                         ("screenshot2.png", "Images")]:
        plan.append({"drag": [in_downloads(name), in_downloads(folder)]})
    for name in ("temp1.tmp", "temp2.tmp"):
        plan += [{"click": in_downloads(name)}, {"key": "Delete"}, {"await": "Confirm"}, {"key": "Return"}]
    add("organize-downloads", "Tidy up Downloads: create the folders PDFs and Images in it, move the two PDF files into "
        "PDFs and the two PNG screenshots into Images, and move the two .tmp files to the trash.", downloads,
        {"files": {**moved("Downloads/invoice-april.pdf", "Downloads/PDFs/invoice-april.pdf"),
                   **moved("Downloads/invoice-march.pdf", "Downloads/PDFs/invoice-march.pdf"),
                   **moved("Downloads/screenshot1.png", "Downloads/Images/screenshot1.png"),
                   **moved("Downloads/screenshot2.png", "Downloads/Images/screenshot2.png"),
                   "Downloads/temp1.tmp": {"absent": True}, "Downloads/temp2.tmp": {"absent": True}},
         "folders": {"present": ["Downloads/PDFs", "Downloads/Images"]}}, [*plan, {"wait": 0.5}, DONE], "files")
    # --- settings
    for task_id, instruction, plan, setting, value in [
        ("show-hidden", "Make PCManFM show hidden files.", [{"key": "ctrl+h"}], "show_hidden", True),
        ("sort-by-size", "Sort the file list by size.", [{"key": "ctrl+alt+3"}], "sort", "size;ascending;"),
        ("sort-descending", "Sort the file list in descending order (keep sorting by name), using the View menu.",
         [{"menu": ["View", "Sort Files", "Descending"]}], "sort", "name;descending;"),
        ("hide-side-pane", "Hide PCManFM's side pane.", [{"key": "F9"}], "side_pane_mode", "hidden;places"),
        ("directory-tree", "Make the side pane show the directory tree instead of places (View menu).",
         [{"menu": ["View", "Side Pane", "Directory Tree"]}], "side_pane_mode", "dirtree"),
        ("statusbar", "Show PCManFM's status bar.", [{"key": "ctrl+b"}], "show_statusbar", True),
        ("single-click", "Set PCManFM to open files with a single click (Edit > Preferences).",
         [{"menu": ["Edit", "Preferences"]}, {"await": "Preferences"}, {"click": {"dialog": [189, 52]}},
          {"click": {"dialog": [620, 498]}}, {"await": "Documents"}], "single_click", True),
        ("no-trash-confirm", "Stop PCManFM from asking for confirmation before moving files to the trash "
         "(Edit > Preferences).", [{"menu": ["Edit", "Preferences"]}, {"await": "Preferences"},
                                   {"click": {"dialog": [213, 201]}}, {"click": {"dialog": [620, 498]}},
                                   {"await": "Documents"}], "confirm_trash", False),
    ]:
        add(task_id, instruction, docs, {"settings": {setting: value}}, [*plan, DONE], "settings")
    add("bookmark", "Add the Projects folder (in Documents) to PCManFM's bookmarks.", docs,
        {"settings": {"bookmarks": ["Documents/Projects"]}},
        [{"double_click": in_docs("Projects")}, {"await": "Projects"}, {"menu": ["Bookmarks", "Add to Bookmarks"]},
         {"await": "Add to Bookmarks"}, {"key": "Return"}, {"wait": 0.3}, DONE], "settings")
    # --- reading the screen
    add("count-files", "How many files are in the Downloads folder? Answer with a number.", downloads,
        {"answer": {"number": 7}}, [{"answer": "7"}], "answer", answer=7)
    add("log-size", "What is the size of setup.log in Downloads, in bytes? Answer with the number.", downloads,
        {"answer": {"number": len(LOG)}}, [{"answer": str(len(LOG))}], "answer", answer=len(LOG))
    add("empty-folder", "Which folder inside Documents is empty? Answer with its name.", docs,
        {"answer": {"text": "Projects"}}, [{"answer": "Projects"}], "answer", answer="Projects")
    return tasks


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build, Path(__file__).with_name("tasks.jsonl"), argv)


if __name__ == "__main__":
    main()
