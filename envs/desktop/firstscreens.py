"""What each loaded state's first screen looked like, remembered for the whole process.

A reset starts the app on the task's files and waits for it to draw.  The app being idle and the
screen still for a moment usually means it has finished, but not always: a loaded machine can hold
an app back while its window is mapped and still blank, or half drawn.  So the first time a state
is loaded in a process the env also waits for a long still screen (:data:`LONG_QUIET` s) and
remembers the frame's digest here; a later reset of the same state is done as soon as the screen
shows that frame (usually sooner than the short settle), and waits the long way again when it shows
something else — the memory then follows what the app shows now.

Entries are shared by every env of the process (a warm container's server opens a new env for each
episode) and keyed by the env's home folder, screen size and state; the encoded screenshot of the
remembered frame is kept with it, so a reset does not encode the same PNG again.
"""

from __future__ import annotations

import collections
import hashlib
import json
import threading
from typing import Any

#: Seconds of still screen the first reset of a state waits for, on top of the usual settle.
LONG_QUIET = 0.5
#: States remembered per process (least recently used first out).
CAPACITY = 64


def state_key(*parts: Any) -> str:
    """A digest of what decides a first screen (home folder, screen size, state…)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class FirstScreens:
    """A bounded, thread-safe map: state key → (settled frame digest, encoded images by format)."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._entries: collections.OrderedDict[str, tuple[bytes, dict[str, bytes]]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def digest(self, key: str) -> bytes | None:
        """The settled first frame's digest of state ``key``, or ``None`` when not seen (or forgotten)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def remember(self, key: str, digest: bytes) -> None:
        """``digest`` is what state ``key`` settles on (images of another frame are dropped)."""
        with self._lock:
            old = self._entries.get(key)
            self._entries[key] = (digest, old[1] if old is not None and old[0] == digest else {})
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def image(self, key: str, digest: bytes, image_format: str, encode: Any) -> bytes:
        """The frame ``digest`` of state ``key`` encoded as ``image_format`` (``encode()`` when not kept:
        kept only when it is the remembered frame)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == digest and image_format in entry[1]:
                return entry[1][image_format]
        data = encode()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == digest:
                entry[1][image_format] = data
        return data


#: The process's memory (every DesktopEnv uses it).
FIRST_SCREENS = FirstScreens()
