"""The desktop envs' task checker: pure functions of the initial state, the final state (both read
from the home folder, see :mod:`envgym.envs.desktop.homedir`) and the answer text.

A task's ``reward.params``::

    {"files":    {"Documents/notes.txt": {"text": "..."},       # the file's expected content
                  "Documents/old.txt": {"absent": true},         # the file must be gone
                  "Backup/report.txt": {"same_as": "Documents/report.txt"},   # a copy of an initial file
                  "Documents/budget.gnumeric": {"workbook": {...}}},          # the app's own comparison
     "folders":  {"present": ["Documents/Archive"], "absent": ["Old"]},
     "settings": {"show-line-numbers": true},
     "answer":   {"number": 12} or {"text": "Blue Mug"},
     "may_change": ["Documents/*.bak"]}                           # paths allowed to change freely

Everything the params do not name must be exactly as it was: any other file created, deleted or
changed, any other folder, any other setting is an unrequested side effect and scores 0.  Text is
compared exactly except for trailing newlines (editors add one on save).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from envgym.envs.web.checking import answer_matches, result


def same_plain_file(expected: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    """``expected`` (``{"text"}`` or ``{"base64"}``) against a file's state."""
    if actual is None:
        return False
    if "text" in expected:
        return "text" in actual and actual["text"].rstrip("\n") == str(expected["text"]).rstrip("\n")
    return actual == expected


def check_state(params: dict[str, Any], initial: dict[str, Any], final: dict[str, Any], answer: str,
                compare_file: Callable[[str, dict, dict | None], bool] = lambda p, e, a: same_plain_file(e, a)
                ) -> tuple[float, dict[str, Any]]:
    """Score 1 when every expectation of ``params`` holds and nothing else changed, else 0."""
    components: dict[str, bool] = {}
    before, after = initial.get("files", {}), final.get("files", {})
    expected_files = params.get("files", {})
    for path, expected in expected_files.items():
        actual = after.get(path)
        if expected.get("absent"):
            components[f"file {path}"] = actual is None
        elif "same_as" in expected:
            components[f"file {path}"] = actual is not None and actual == before.get(expected["same_as"])
        else:
            components[f"file {path}"] = compare_file(path, expected, actual)
    free = list(params.get("may_change", []))
    others = (set(before) | set(after)) - set(expected_files)
    changed = sorted(p for p in others if before.get(p) != after.get(p) and not _matches(p, free))
    components["no other file changed"] = not changed
    folders = params.get("folders", {})
    wanted = (set(initial.get("folders", [])) | set(folders.get("present", []))) - set(folders.get("absent", []))
    actual_folders = {f for f in final.get("folders", []) if not _matches(f, free)}
    components["folders"] = actual_folders == {f for f in wanted if not _matches(f, free)}
    settings = {**initial.get("settings", {}), **params.get("settings", {})}
    components["settings"] = final.get("settings", {}) == settings
    if "answer" in params:
        components["answer"] = answer_matches(answer, params["answer"])
    extra = {"changed": changed[:10]} if changed else {}
    return result(components, **extra)


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)
