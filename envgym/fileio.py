"""Crash-safe file writes.

``atomic_write`` writes to a temporary file in the same directory, fsyncs it and renames it over the
target: readers see the old file or the new one, never half of one, even if the process is killed.
:class:`JsonlAppender` appends whole lines under a file lock, so several writers never lose a line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator
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


@contextlib.contextmanager
def _append_lock(fd: int) -> Iterator[None]:
    """An exclusive ``flock`` on ``fd``'s file: excludes every other appender, in this process (each
    appender has its own open file description) and in others; the kernel drops it if the holder dies."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _cut_torn_tail(fd: int, block: int = 1 << 16) -> int:
    """Truncate ``fd``'s file after its last newline (call with the append lock held); return bytes cut."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end, cut = size, 0
    while end > 0:
        start = max(0, end - block)
        index = os.pread(fd, end - start, start).rfind(b"\n")
        if index >= 0:
            cut = start + index + 1
            break
        end = start
    os.ftruncate(fd, cut)
    os.fsync(fd)
    return size - cut


class JsonlAppender:
    """Append lines to a JSONL file durably, with any number of writers (threads or processes).

    Each append holds the file's lock (:func:`locked`), cuts a torn last line a killed writer may
    have left (only then, when no live writer can be mid-line), and writes the whole line on an
    ``O_APPEND`` descriptor (then ``fsync`` if asked).  So the file only ever holds complete lines,
    and no writer's line is lost or cut by another's.  If the path was replaced (``atomic_write``,
    see :func:`envgym.trajectory.write_episodes`) or deleted since it was opened, the appender
    reopens it, so its lines never go to an orphaned file.
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._fd = self._open()
        self._lock = threading.Lock()
        self.count = 0

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)

    def _current(self) -> bool:
        """Whether our descriptor is still the file at ``self.path`` (call with the lock held)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return False

    def append_line(self, text: str) -> None:
        """Append ``text`` (one JSON document, no newline) as a line."""
        line = (text + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"the appender of {self.path} is closed")
            while True:
                with _append_lock(self._fd):
                    if self._current():
                        _cut_torn_tail(self._fd)
                        _write_all(self._fd, line)
                        if self.fsync:
                            os.fsync(self._fd)
                        break
                os.close(self._fd)
                self._fd = self._open()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # os.write may be partial for very large records
        written += os.write(fd, data[written:])


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold the append lock of ``path`` (if it exists): no :class:`JsonlAppender` writes to it meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield
        return
    try:
        with _append_lock(fd):
            yield
    finally:
        os.close(fd)
