"""Crash-safe file writes.

``atomic_write`` writes to a temporary file in the same directory, fsyncs it and renames it over the
target: readers see the old file or the new one, never half of one, even if the process is killed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (POSIX rename semantics)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def repair_jsonl_tail(path: str | os.PathLike) -> int:
    """Cut a torn last line (one without its newline) off a JSONL file; return bytes removed.

    Appenders write whole lines with one ``write``; a kill mid-write can only leave a partial *last*
    line, which this removes before appending again.
    """
    path = Path(path)
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # scan back for the last newline
        block = 1 << 16
        end = size
        cut = 0
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                cut = start + index + 1
                break
            end = start
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
        return size - cut


class JsonlAppender:
    """Append lines to a JSONL file durably: one ``os.write`` of a whole line on an ``O_APPEND``
    descriptor (then ``fsync`` if asked), thread-safe.  On open, a torn last line left by a killed
    writer is cut off (:func:`repair_jsonl_tail`), so the file only ever holds complete lines."""

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        import threading

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl_tail(self.path)
        self.fsync = fsync
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self.count = 0

    def append_line(self, text: str) -> None:
        """Append ``text`` (one JSON document, no newline) as a line."""
        line = (text + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):  # os.write may be partial for very large records
                written += os.write(self._fd, line[written:])
            if self.fsync:
                os.fsync(self._fd)
            self.count += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
