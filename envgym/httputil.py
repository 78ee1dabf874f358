"""Small helpers shared by the HTTP clients of OpenAI-compatible servers (model backends, synthesis)."""

from __future__ import annotations

from typing import Any


def error_message(response: Any) -> str:
    """The human-readable error of an HTTP reply: OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``, else the start of the body."""
    try:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("message", error))
        if isinstance(data, dict) and "detail" in data:
            return str(data["detail"])
        return str(data)[:300]
    except Exception:  # noqa: BLE001 - any unreadable body: show its start
        return response.text[:300]


def as_float(value: Any) -> float | None:
    """``float(value)``, or ``None`` for ``None`` and unparsable values."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
