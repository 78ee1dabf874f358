"""JSON path diffs between two states.

A *path* names one leaf of a JSON value.  Dict keys are joined with ``.``; a list element is named
by its identity field when every element of the list is an object carrying one of ``id``, ``name``
or ``key`` (``world.items[apple 1].location``), else by its index (``tags[2]``).  Keying list
elements by identity makes paths stable when elements are reordered, added or removed.

``json_diff(a, b)`` returns the minimal set of :class:`Change` records such that applying every
``after`` to ``a`` gives ``b``: values differing at the same path are a change of that leaf (or of
the whole sub-tree when the types differ); keys (or identified elements) present on one side only
are changes from/to :data:`MISSING`.  Path patterns select paths in checks: ``*`` matches any run
of characters, everything else (brackets included) is literal: ``world.items[apple *].location``.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from typing import Any

ID_FIELDS = ("id", "name", "key")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# A path segment: ("key", "items") for a dict key, ("id", "name", "apple 1") for a keyed list
# element, ("index", 3) for a positional list element.
Segment = tuple


@dataclass(frozen=True)
class Change:
    segments: tuple[Segment, ...]
    before: Any
    after: Any

    @property
    def path(self) -> str:
        return render_path(self.segments)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        out["before"] = "<missing>" if self.before is MISSING else self.before
        out["after"] = "<missing>" if self.after is MISSING else self.after
        return out


def render_path(segments: tuple[Segment, ...]) -> str:
    out = ""
    for segment in segments:
        if segment[0] == "key":
            out += ("." if out else "") + str(segment[1])
        elif segment[0] == "id":
            out += f"[{segment[2]}]"
        else:
            out += f"[{segment[1]}]"
    return out


def list_identity(values: list[Any]) -> str | None:
    """The identity field shared by every element of ``values`` (unique values), or ``None``."""
    if not values or not all(isinstance(v, dict) for v in values):
        return None
    for field_name in ID_FIELDS:
        ids = [v.get(field_name) for v in values]
        if all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids) and len(set(ids)) == len(ids):
            return field_name
    return None


def json_diff(a: Any, b: Any, _prefix: tuple[Segment, ...] = ()) -> list[Change]:
    """Leaf-level changes from ``a`` to ``b`` (see the module docstring)."""
    if isinstance(a, dict) and isinstance(b, dict):
        changes: list[Change] = []
        for key in sorted(set(a) | set(b), key=str):
            path = _prefix + (("key", key),)
            if key not in a:
                changes.append(Change(path, MISSING, b[key]))
            elif key not in b:
                changes.append(Change(path, a[key], MISSING))
            else:
                changes.extend(json_diff(a[key], b[key], path))
        return changes
    if isinstance(a, list) and isinstance(b, list):
        left_id, right_id = list_identity(a), list_identity(b)
        field_name = left_id or right_id
        if field_name is not None and (not a or left_id == field_name) and (not b or right_id == field_name):
            left = {v[field_name]: v for v in a}
            right = {v[field_name]: v for v in b}
            changes = []
            for ident in list(left) + [i for i in right if i not in left]:
                path = _prefix + (("id", field_name, ident),)
                if ident not in right:
                    changes.append(Change(path, left[ident], MISSING))
                elif ident not in left:
                    changes.append(Change(path, MISSING, right[ident]))
                else:
                    changes.extend(json_diff(left[ident], right[ident], path))
            return changes
        if len(a) == len(b):
            changes = []
            for index, (x, y) in enumerate(zip(a, b)):
                changes.extend(json_diff(x, y, _prefix + (("index", index),)))
            return changes
        return [Change(_prefix, a, b)]
    if type(a) is type(b) and a == b:
        return []
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool) and a == b:
        return []
    return [Change(_prefix, a, b)]


def apply_value(state: Any, segments: tuple[Segment, ...], value: Any) -> Any:
    """A deep copy of ``state`` with the leaf at ``segments`` set to ``value`` (removed if
    :data:`MISSING`)."""
    state = copy.deepcopy(state)
    if not segments:
        return copy.deepcopy(value)
    parent = state
    for segment in segments[:-1]:
        parent = _child(parent, segment)
    last = segments[-1]
    if last[0] == "key":
        if value is MISSING:
            parent.pop(last[1], None)
        else:
            parent[last[1]] = copy.deepcopy(value)
    elif last[0] == "id":
        _, field_name, ident = last
        index = next((i for i, v in enumerate(parent) if isinstance(v, dict) and v.get(field_name) == ident), None)
        if value is MISSING:
            if index is not None:
                parent.pop(index)
        elif index is None:
            parent.append(copy.deepcopy(value))
        else:
            parent[index] = copy.deepcopy(value)
    else:
        parent[last[1]] = copy.deepcopy(value)
    return state


def get_value(state: Any, segments: tuple[Segment, ...]) -> Any:
    """The value at ``segments`` (``MISSING`` if absent)."""
    try:
        for segment in segments:
            state = _child(state, segment)
        return state
    except (KeyError, IndexError, TypeError, StopIteration):
        return MISSING


def leaves(value: Any, _prefix: tuple[Segment, ...] = ()) -> list[tuple[tuple[Segment, ...], Any]]:
    """Every scalar leaf of ``value`` as ``(segments, value)``, in document order."""
    if isinstance(value, dict):
        out = []
        for key in value:
            out.extend(leaves(value[key], _prefix + (("key", key),)))
        return out
    if isinstance(value, list):
        field_name = list_identity(value)
        out = []
        for index, item in enumerate(value):
            segment = ("id", field_name, item[field_name]) if field_name else ("index", index)
            out.extend(leaves(item, _prefix + (segment,)))
        return out
    return [(_prefix, value)]


def matches(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``path`` matches one of the patterns (``*`` = any characters), or lies under a match
    (``world.lamp`` covers ``world.lamp.on`` and ``world.items[apple 1]`` its fields)."""
    return any(_pattern(p).match(path) for p in patterns)


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile(f"(?:{body})(?:[.\\[].*)?\\Z", re.DOTALL)


def _child(value: Any, segment: Segment) -> Any:
    if segment[0] == "key":
        return value[segment[1]]
    if segment[0] == "id":
        _, field_name, ident = segment
        return next(v for v in value if isinstance(v, dict) and v.get(field_name) == ident)
    return value[segment[1]]
