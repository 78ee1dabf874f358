"""Content-addressed image store: the exact images a vision-language policy saw, each kept once.

A recorded turn refers to its prompt's images by id — the first 32 hex digits of the sha256 of the
file's bytes — and the store keeps one file per id, ``<root>/<id[:2]>/<id>.png``.  A screenshot that
recurs (a page an action did not change, the same image in every turn of a context window, the same
start page in every episode of a group) costs its bytes once.  Files are written atomically and never
rewritten: a content address cannot go stale.

Processor settings (what turned an image into model inputs) are kept the same way, as canonical JSON
under ``<root>/settings/<key>.json``, so a turn names them by a 16-digit key.

By convention the store of a trajectory file ``DIR/NAME.jsonl`` is ``DIR/images`` (what the trainer
and ``envgym run`` write, and where ``envgym show --html`` looks).

>>> store = ImageStore(tmp_path / "images")                    # doctest: +SKIP
>>> image_id = store.put(png_bytes); store.get(image_id) == png_bytes
True
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envgym.fileio import atomic_write

IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
SETTINGS_KEY = re.compile(r"^[0-9a-f]{16}$")


def content_id(data: bytes) -> str:
    """The id of ``data``: the first 32 hex digits (128 bits) of its sha256."""
    return hashlib.sha256(data).hexdigest()[:32]


def settings_key(settings: dict[str, Any]) -> str:
    """The key of a settings dict: 16 hex digits of the sha256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def store_for(trajectory_file: str | os.PathLike) -> Path:
    """The image store beside a trajectory file: ``DIR/images`` for ``DIR/NAME.jsonl``."""
    return Path(trajectory_file).parent / "images"


@dataclass
class StoreStats:
    """What this process wrote: new files and their bytes, and puts answered by an existing file."""

    files: int = 0
    bytes: int = 0
    deduplicated: int = 0


class ImageStore:
    """See the module docstring.  Thread-safe; several processes may share one root (writes are
    atomic renames of identical content).  ``fsync=False`` skips the flush to disk: a killed process
    still leaves only whole files (the rename happens after the write), a power loss may not."""

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True):
        self.root = Path(root)
        self.fsync = fsync
        self.stats = StoreStats()
        self._known: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ images
    def path(self, image_id: str, suffix: str = "png") -> Path:
        if not isinstance(image_id, str) or not IMAGE_ID.match(image_id):
            raise ValueError(f"not an image id: {str(image_id)[:80]!r}")
        return self.root / image_id[:2] / f"{image_id}.{suffix}"

    def put(self, data: bytes, suffix: str = "png") -> str:
        """Store ``data`` (once) and return its id."""
        image_id = content_id(data)
        self._write(image_id, self.path(image_id, suffix), data)
        return image_id

    def get(self, image_id: str, suffix: str = "png") -> bytes:
        """The bytes stored under ``image_id``; ``FileNotFoundError`` if the store lacks it, and
        ``ValueError`` if the file no longer matches its id (a corrupted store is never read as data)."""
        data = self.path(image_id, suffix).read_bytes()
        if content_id(data) != image_id:
            raise ValueError(f"image {image_id} in {self.root} is corrupted (its content no longer matches its id)")
        return data

    def __contains__(self, image_id: str) -> bool:
        try:
            return self.path(image_id).exists()
        except ValueError:
            return False

    # ------------------------------------------------------------------ settings
    def put_settings(self, settings: dict[str, Any]) -> str:
        """Store a settings dict (once) and return its key."""
        key = settings_key(settings)
        self._write(f"settings/{key}", self.root / "settings" / f"{key}.json", canonical_json(settings).encode())
        return key

    def get_settings(self, key: str) -> dict[str, Any]:
        if not isinstance(key, str) or not SETTINGS_KEY.match(key):
            raise ValueError(f"not a settings key: {str(key)[:80]!r}")
        settings = json.loads((self.root / "settings" / f"{key}.json").read_text())
        if settings_key(settings) != key:
            raise ValueError(f"settings {key} in {self.root} are corrupted (their content no longer matches the key)")
        return settings

    # ------------------------------------------------------------------ sizes
    def disk_bytes(self) -> int:
        """Bytes of every file under the root (images and settings)."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def _write(self, name: str, path: Path, data: bytes) -> None:
        with self._lock:
            if name in self._known or path.exists():
                self._known.add(name)
                self.stats.deduplicated += 1
                return
        _replace(path, data, self.fsync)  # two writers of one id write the same bytes: either rename wins
        with self._lock:
            self._known.add(name)
            self.stats.files += 1
            self.stats.bytes += len(data)


def _replace(path: Path, data: bytes, fsync: bool) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (flushed to disk if ``fsync``)."""
    if fsync:
        atomic_write(path, data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
