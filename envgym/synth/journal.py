"""The synthesis journal: one JSON record per line, appended durably (``EpisodeWriter``-style).

Each record is written with a single ``os.write`` of a whole line on an ``O_APPEND`` descriptor and
fsynced, so a crash can only tear the *last* line, which :func:`envgym.fileio.repair_jsonl_tail`
cuts off before the next run appends.  Re-running a synthesis reads the journal and skips finished
work.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from envgym.fileio import repair_jsonl_tail


class Journal:
    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl_tail(self.path)
        self.fsync = fsync
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):
                written += os.write(self._fd, line[written:])
            if self.fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_journal(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The complete records of a journal (a torn last line is ignored; unreadable lines skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records
