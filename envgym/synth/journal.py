"""The synthesis journal: one JSON record per line, appended durably (``EpisodeWriter``-style).

Each record is appended by :class:`envgym.fileio.JsonlAppender`: one write of a whole line under a
file lock, fsynced, so a crash can only tear the *last* line, which the next appender cuts off (under
the same lock) before it writes.  Re-running a synthesis reads the journal and skips finished
work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envgym.fileio import JsonlAppender


class Journal(JsonlAppender):
    """Durable append-only journal of synthesis records (see :class:`envgym.fileio.JsonlAppender`)."""

    def write(self, record: dict[str, Any]) -> None:
        self.append_line(json.dumps(record, sort_keys=True, default=str))


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
