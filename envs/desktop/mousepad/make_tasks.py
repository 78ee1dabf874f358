"""Generate ``tasks.jsonl`` for Mousepad: ``python -m envgym.envs.desktop.mousepad.make_tasks``.

Every task opens one text file (or none) in Mousepad; the checker reads the files Mousepad saved and
its settings (GSettings keyfile).  Plans click text by its line and column, use the menus, the
Find-and-Replace and Save-As dialogs and keyboard shortcuts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.taskgen import desktop_task
from envgym.tasks import Task, write_task_file_main

ENV_ID = "envgym/DesktopMousepad-v0"
SAVE, DONE = {"key": "ctrl+s"}, {"answer": "done"}

NOTES = "Shopping list\n- bread\n- milk\n- apples\n- cheese\n- pears\n"
LETTER = ("Dear Ms. Novak,\n\nThank you for your letter. I am happy to\nrecieve the samples next week and will\n"
          "let you know wich ones we keep. Our team\nbelieves the new design is definately\n"
          "better, and we look foward to working\ntogether untill the end of the year.\n\nBest regards,\nTom\n")
LETTER_FIXED = LETTER.replace("recieve", "receive").replace("wich", "which").replace("definately", "definitely") \
    .replace("foward", "forward").replace("untill", "until")
CONFIG = "[server]\nhost = 0.0.0.0\nport = 8000\ndebug = true\n\n[database]\nname = inventory\nuser = admin\n"
TODO = "# Todo\n- [ ] write report\n- [x] book flights\n- [x] renew passport\n- [x] pay rent\n- [ ] call Anna\n"
STYLE = ("The colour of the header is blue.\nPick a colour that matches the logo.\n"
         "Body text keeps its default colour.\n")
POEM = ("the road not taken\ntwo roads diverged in a yellow wood,\nand sorry I could not travel both\n")
TRAILING = "alpha   \nbeta\ngamma  \ndelta \n"


def state(files: dict[str, str], open_path: str | None = None, **settings: Any) -> dict[str, Any]:
    return {"files": {path: {"text": text} for path, text in files.items()},
            "open": [open_path] if open_path else [], "settings": settings}


def doc(name: str, text: str, **settings: Any) -> dict[str, Any]:
    """A home with one document, open in Mousepad."""
    return state({f"Documents/{name}": text}, f"Documents/{name}", **settings)


def edit(name: str, text: str) -> dict[str, Any]:
    return {"files": {f"Documents/{name}": {"text": text}}}


def word_at(text: str, word: str) -> tuple[int, int]:
    """(1-based line, 0-based column) of the middle of ``word``'s first occurrence."""
    for number, line in enumerate(text.split("\n"), 1):
        if word in line:
            return number, line.index(word) + len(word) // 2
    raise ValueError(word)


def build() -> list[Task]:
    tasks: list[Task] = []

    def add(task_id: str, instruction: str, initial: dict, params: dict, plan: list, kind: str, answer: Any = None) -> None:
        tasks.append(desktop_task(ENV_ID, f"mousepad-{task_id}", instruction, initial, params, plan, kind=kind, answer=answer))

    lines = NOTES.split("\n")
    # --- typing and keyboard navigation
    add("append-item", "Add '- plums' as the last item of the shopping list in notes.txt and save the file.",
        doc("notes.txt", NOTES), edit("notes.txt", NOTES + "- plums\n"),
        [{"key": "ctrl+End"}, {"type": "- plums"}, SAVE, DONE], "edit")
    add("insert-title", "Insert a first line 'GROCERIES' at the very top of notes.txt (above 'Shopping list') and save.",
        doc("notes.txt", NOTES), edit("notes.txt", "GROCERIES\n" + NOTES),
        [{"key": "ctrl+Home"}, {"type": "GROCERIES\n"}, SAVE, DONE], "edit")
    # --- clicking into the text
    line, col = word_at(LETTER, "recieve")
    add("fix-typo", "In letter.txt, correct the misspelled word 'recieve' to 'receive' and save.",
        doc("letter.txt", LETTER), edit("letter.txt", LETTER.replace("recieve", "receive")),
        [{"double_click": {"text": [line, col]}}, {"type": "receive"}, SAVE, DONE], "edit")
    number = lines.index("- cheese") + 1
    add("delete-line", "Remove the item '- cheese' (the whole line) from notes.txt and save.",
        doc("notes.txt", NOTES), edit("notes.txt", NOTES.replace("- cheese\n", "")),
        [{"click": {"text": [number, 0]}}, {"key": "shift+Down"}, {"key": "Delete"}, SAVE, DONE], "edit")
    number = lines.index("- milk") + 1
    add("insert-after", "Add a new item '- butter' directly below '- milk' in notes.txt and save.",
        doc("notes.txt", NOTES), edit("notes.txt", NOTES.replace("- milk\n", "- milk\n- butter\n")),
        [{"click": {"text": [number, len("- milk")]}}, {"key": "End"}, {"type": "\n- butter"}, SAVE, DONE], "edit")
    add("config-values", "In config.ini, change the server port to 8080 and set debug to false. Save the file.",
        doc("config.ini", CONFIG), edit("config.ini", CONFIG.replace("8000", "8080").replace("= true", "= false")),
        [{"double_click": {"text": list(word_at(CONFIG, "8000"))}}, {"type": "8080"},
         {"double_click": {"text": list(word_at(CONFIG, "true"))}}, {"type": "false"}, SAVE, DONE], "edit")
    add("delete-done-drag", "In todo.md, delete the three items that are marked done ([x]) by selecting them with the "
        "mouse, then save.", doc("todo.md", TODO),
        edit("todo.md", "\n".join(line for line in TODO.split("\n") if "[x]" not in line)),
        [{"drag": [{"text": [3, 0]}, {"text": [6, 0]}]}, {"key": "Delete"}, SAVE, DONE], "edit")
    typos = ["recieve", "wich", "definately", "foward", "untill"]
    fixes = ["receive", "which", "definitely", "forward", "until"]
    plan: list[dict] = []
    for wrong, right in zip(typos, fixes):
        plan += [{"double_click": {"text": list(word_at(LETTER, wrong))}}, {"type": right}]
    add("fix-all-typos", "letter.txt has five misspelled words (recieve, wich, definately, foward, untill). Correct all "
        "of them and save.", doc("letter.txt", LETTER), edit("letter.txt", LETTER_FIXED), plan + [SAVE, DONE], "edit")
    items = lines[1:6]
    plan = []
    for number, item in enumerate(items, 1):
        plan += [{"click": {"text": [number + 1, 0]}}, {"key": "Delete"}, {"key": "Delete"}, {"type": f"{number}. "}]
    numbered = "Shopping list\n" + "".join(f"{n}. {item[2:]}\n" for n, item in enumerate(items, 1))
    add("numbered-list", "Turn the shopping list in notes.txt into a numbered list: replace the '- ' in front of each "
        "item by '1. ', '2. ' and so on, in order. Save the file.", doc("notes.txt", NOTES),
        edit("notes.txt", numbered), plan + [SAVE, DONE], "edit")
    # --- menus
    add("uppercase-title", "Make the first line of poem.txt all upper case (use Edit > Convert) and save.",
        doc("poem.txt", POEM), edit("poem.txt", POEM.replace("the road not taken", "THE ROAD NOT TAKEN")),
        [{"click": {"text": [1, 0]}}, {"key": "shift+End"}, {"menu": ["Edit", "Convert", "To Uppercase"]}, SAVE, DONE],
        "edit")
    add("title-case", "Convert the whole of poem.txt to title case (Edit > Convert > To Title Case) and save.",
        doc("poem.txt", POEM), edit("poem.txt", "\n".join(" ".join(w[:1].upper() + w[1:] for w in line.split(" "))
                                                          for line in POEM.split("\n"))),
        [{"key": "ctrl+a"}, {"menu": ["Edit", "Convert", "To Title Case"]}, SAVE, DONE], "edit")
    add("strip-trailing", "Remove the trailing spaces at the ends of the lines of words.txt and save.",
        doc("words.txt", TRAILING), edit("words.txt", "alpha\nbeta\ngamma\ndelta\n"),
        [{"key": "ctrl+a"}, {"menu": ["Edit", "Convert", "Strip Trailing Spaces"]}, SAVE, DONE], "edit")
    number = lines.index("- apples") + 1
    moved = lines[:]
    moved[number - 2], moved[number - 1] = moved[number - 1], moved[number - 2]
    add("move-line-up", "In notes.txt, move '- apples' one line up (above '- milk') with Edit > Move, and save.",
        doc("notes.txt", NOTES), edit("notes.txt", "\n".join(moved)),
        [{"click": {"text": [number, 2]}}, {"menu": ["Edit", "Move", "Line Up"]}, SAVE, DONE], "edit")
    number = lines.index("- bread") + 1
    add("duplicate-line", "Duplicate the line '- bread' in notes.txt (so it appears twice, one below the other) and save.",
        doc("notes.txt", NOTES), edit("notes.txt", NOTES.replace("- bread\n", "- bread\n- bread\n")),
        [{"click": {"text": [number, 3]}}, {"menu": ["Edit", "Duplicate Line / Selection"]}, SAVE, DONE], "edit")
    # --- dialogs
    add("replace-all", "In style.txt, replace every 'colour' with 'color' using Search > Find and Replace, and save.",
        doc("style.txt", STYLE), edit("style.txt", STYLE.replace("colour", "color")),
        [{"key": "ctrl+r"}, {"await": "Find and Replace"}, {"type": "colour"}, {"click": {"dialog": [256, 62]}},
         {"type": "color"}, {"click": {"dialog": [20, 216]}}, {"click": {"dialog": [298, 256]}},
         {"click": {"dialog": [387, 256]}}, SAVE, DONE], "dialog")
    add("save-copy", "Save a copy of notes.txt named notes-backup.txt in the same folder (Documents).",
        doc("notes.txt", NOTES), {"files": {"Documents/notes-backup.txt": {"same_as": "Documents/notes.txt"}}},
        [{"key": "ctrl+shift+s"}, {"await": "Save As"}, {"key": "ctrl+a"}, {"type": "notes-backup.txt"}, {"key": "Enter"},
         {"await": "notes-backup.txt"}, DONE], "dialog")
    add("new-file", "Create a new text file ~/Documents/reminder.txt whose only line is 'Call the plumber at 9'.",
        state({}, None), {"files": {"Documents/reminder.txt": {"text": "Call the plumber at 9\n"}}},
        [{"type": "Call the plumber at 9"}, SAVE, {"await": "Save As"}, {"key": "ctrl+a"},
         {"type": "~/Documents/reminder.txt"}, {"key": "Enter"}, {"await": "reminder.txt"}, DONE], "dialog")
    # --- settings
    for task_id, instruction, path, setting, value in [
        ("line-numbers", "Turn on line numbers in Mousepad.", ["View", "Line Numbers"], "show-line-numbers", True),
        ("statusbar", "Show Mousepad's status bar.", ["View", "Statusbar"], "statusbar-visible", True),
        ("toolbar", "Show Mousepad's toolbar.", ["View", "Toolbar"], "toolbar-visible", True),
        ("word-wrap", "Turn on word wrap for documents in Mousepad.", ["Document", "Word Wrap"], "word-wrap", True),
        ("auto-indent", "Turn on automatic indentation in Mousepad.", ["Document", "Auto Indent"], "auto-indent", True),
        ("tab-width", "Set Mousepad's tab size to 4.", ["Document", "Tab Size", "4"], "tab-width", 4),
        ("insert-spaces", "Make Mousepad insert spaces instead of tab characters.", ["Document", "Tab Size", "Insert Spaces"],
         "insert-spaces", True),
        ("color-scheme", "Switch Mousepad to the 'Oblivion' color scheme.", ["View", "Color Scheme", "Oblivion"],
         "color-scheme", "oblivion"),
    ]:
        add(task_id, instruction, doc("notes.txt", NOTES), {"settings": {setting: value}}, [{"menu": path}, DONE],
            "settings")
    add("line-numbers-off", "Turn line numbers off in Mousepad.", doc("notes.txt", NOTES, **{"show-line-numbers": True}),
        {"settings": {"show-line-numbers": False}}, [{"menu": ["View", "Line Numbers"]}, DONE], "settings")
    # --- reading the screen
    add("count-items", "How many items are on the shopping list in notes.txt? Answer with a number.",
        doc("notes.txt", NOTES), {"answer": {"number": 5}}, [{"answer": "5"}], "answer", answer=5)
    add("read-port", "Which port does config.ini configure for the server? Answer with the number.",
        doc("config.ini", CONFIG), {"answer": {"number": 8000}}, [{"answer": "8000"}], "answer", answer=8000)
    return tasks


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build, Path(__file__).with_name("tasks.jsonl"), argv)


if __name__ == "__main__":
    main()
