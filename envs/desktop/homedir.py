"""The user's home folder as JSON state, and back.

A desktop env's state is what its checkers read — files the apps saved and the apps' settings::

    {"files":    {"Documents/notes.txt": {"text": "..."},          # UTF-8 text
                  "Pictures/cat.png": {"base64": "..."},            # any other bytes
                  "Documents/budget.gnumeric": {"workbook": {...}}}, # parsed by the app (see its module)
     "folders":  ["Documents", "Pictures", ...],                    # every folder, empty ones too
     "settings": {...},                                             # the app's settings (its own keys)
     "open":     ["Documents/notes.txt"]}                           # what the app opens at launch

Paths are relative to the home folder.  Top-level hidden entries (``.config``, ``.local``,
``.cache``) are the apps' housekeeping, not the user's files: they are left out of ``files`` and
``folders``; the app reads its settings from the config files it names.  :func:`snapshot` reads the
raw bytes (fast, done at reset); :func:`parse_files` turns a snapshot into the ``files`` state.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Size limits of a state's files (a task file is not a disk image).
MAX_FILE_BYTES = 2_000_000
MAX_FILES = 500
#: The modification time of every file and folder a state writes (2024-03-15 10:00 UTC): file
#: managers and file dialogs show it, and the screen must not depend on when the env was reset.
FIXED_MTIME = 1710496800
#: The folders every home starts with.
STANDARD_FOLDERS = ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos")


class StateFormatError(ValueError):
    """A state (from a task or a generator) that cannot be written to a home folder."""


@dataclass
class Snapshot:
    """The raw contents of a home folder: user files, folders and the named config files."""

    files: dict[str, bytes] = field(default_factory=dict)
    folders: list[str] = field(default_factory=list)
    config: dict[str, bytes] = field(default_factory=dict)


def safe_relative(path: Any) -> str:
    """``path`` as a clean relative POSIX path inside the home folder, or :class:`StateFormatError`."""
    if not isinstance(path, str) or not path.strip():
        raise StateFormatError(f"a path must be a non-empty string, got {path!r}")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or any(p == ".." for p in parts) or any("\x00" in p for p in parts):
        raise StateFormatError(f"{path!r} is not a relative path inside the home folder")
    return "/".join(parts)


def snapshot(home: Path, config_paths: tuple[str, ...] = ()) -> Snapshot:
    """Read the user's files and folders under ``home`` (hidden top-level entries excepted) and the
    config files ``config_paths``."""
    snap = Snapshot()
    for dirpath, dirnames, filenames in os.walk(home):
        rel_dir = Path(dirpath).relative_to(home).as_posix()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            filenames = [f for f in filenames if not f.startswith(".")]
            rel_dir = ""
        dirnames.sort()
        for name in dirnames:
            snap.folders.append(f"{rel_dir}/{name}" if rel_dir else name)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            snap.files[f"{rel_dir}/{name}" if rel_dir else name] = path.read_bytes()[:MAX_FILE_BYTES]
    for rel in config_paths:
        path = home / rel
        if path.is_file():
            snap.config[rel] = path.read_bytes()
    return snap


def encode_bytes(data: bytes) -> dict[str, str]:
    """A plain file's state: ``{"text": ...}`` when it is UTF-8, else ``{"base64": ...}``."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def decode_bytes(path: str, value: Any) -> bytes:
    """The bytes of a plain file's state (``text`` or ``base64``)."""
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"].encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except ValueError as exc:
            raise StateFormatError(f"files[{path!r}].base64 is not valid base64: {exc}") from None
    raise StateFormatError(f"files[{path!r}] must be {{'text': str}} or {{'base64': str}}, got {str(value)[:80]}")


def parse_files(files: dict[str, bytes], reader: Callable[[str, bytes], dict | None]) -> dict[str, dict]:
    """The ``files`` state of raw file contents; ``reader(path, data)`` parses the app's own formats
    (``None``: a plain file)."""
    return {path: reader(path, data) or encode_bytes(data) for path, data in sorted(files.items())}


def stage_home(home: Path, state: dict[str, Any], writer: Callable[[Path, str, dict], bool],
               config: dict[str, str]) -> Path:
    """Build the home folder of ``state`` beside ``home`` (``home`` is untouched, so a state that
    cannot be written loses nothing) and return it: the standard folders, ``folders``, ``files``
    (each written by ``writer(target, path, value)`` when the app owns the format, else as plain
    bytes), the app's ``config`` files (relative path → text), every time set to
    :data:`FIXED_MTIME`.  :func:`swap_in` puts it in place."""
    files, folders = _validated(state)
    staging = home.with_name(home.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for folder in (*STANDARD_FOLDERS, *folders):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        for rel, value in files.items():
            target = staging / rel
            if target.is_dir():
                raise StateFormatError(f"{rel!r} is both a folder and a file")
            target.parent.mkdir(parents=True, exist_ok=True)
            if not writer(target, rel, value):
                target.write_bytes(decode_bytes(rel, value))
        for rel, text in config.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for dirpath, dirnames, filenames in os.walk(staging):
        for name in dirnames + filenames:
            os.utime(Path(dirpath) / name, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    return staging


def swap_in(home: Path, staging: Path) -> Path | None:
    """Replace ``home`` by the folder :func:`stage_home` built; return where the old home went (a
    hidden sibling for the caller to delete when it has time), or ``None`` when there was none."""
    old = None
    if home.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{home.name}.old-", dir=home.parent))
        home.rename(old / "home")
    staging.rename(home)
    return old


def _validated(state: Any) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(state, dict):
        raise StateFormatError(f"a desktop state must be a JSON object, got {type(state).__name__}")
    files = state.get("files", {})
    folders = state.get("folders", [])
    if not isinstance(files, dict) or not isinstance(folders, list):
        raise StateFormatError("state.files must be an object (path → content) and state.folders a list of paths")
    if len(files) > MAX_FILES or len(folders) > MAX_FILES:
        raise StateFormatError(f"a state holds at most {MAX_FILES} files and {MAX_FILES} folders")
    clean_files = {safe_relative(path): value for path, value in files.items()}
    clean_folders = [safe_relative(folder) for folder in folders]
    if any(path.split("/")[0].startswith(".") for path in [*clean_files, *clean_folders]):
        raise StateFormatError("files and folders may not be hidden top-level entries (those are the apps' settings)")
    return clean_files, clean_folders


def state_schema(app: Any) -> dict[str, Any]:
    """JSON Schema of a desktop env's state for ``app`` (a :class:`~envgym.envs.desktop.app.DesktopApp`)."""
    paths = {"type": "array", "items": {"type": "string"}}
    return {"type": "object", "additionalProperties": False, "properties": {
        "files": {"type": "object", "description": "path relative to the home folder -> content",
                  "additionalProperties": app.file_schema()},
        "folders": {**paths, "description": "every folder under the home folder (relative paths)"},
        "settings": app.settings_schema(),
        "open": {**paths, "description": "what the app opens when it starts (relative paths)"},
    }, "required": ["files"]}
