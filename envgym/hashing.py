"""Canonical JSON and state hashes (SHA-256 of sorted-key JSON)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def state_hash(value: Any) -> str:
    """``sha256(canonical_json(value))`` as hex."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot hash a {type(value).__name__}")
