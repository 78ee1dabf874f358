"""Helpers shared by the apps' task checkers (pure functions of states and the answer text)."""

from __future__ import annotations

import re
from typing import Any


def norm(text: Any) -> str:
    """Lower-case, collapse whitespace, drop surrounding punctuation: ``" Foo,  Bar. "`` → ``"foo, bar"``."""
    return re.sub(r"\s+", " ", str(text or "")).strip().strip(".!?;:'\"").strip().lower()


def numbers_in(text: str) -> list[float]:
    """All numbers in ``text`` (``"$1,234.50 and 3"`` → ``[1234.5, 3.0]``)."""
    return [float(m.replace(",", "")) for m in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text or "")]


def answer_matches(answer: str, expected: dict[str, Any]) -> bool:
    """``expected``: ``{"number": 12.99}`` (the answer states that number, ±0.005) or
    ``{"text": "Blue Mug"}`` (the normalised answer contains it) or ``{"any_text": [...]}``."""
    if not answer or not answer.strip():
        return False
    if "number" in expected:
        target = float(expected["number"])
        found = numbers_in(answer)
        return any(abs(n - target) < 0.005 for n in found) and len({round(n, 2) for n in found}) <= 2
    if "text" in expected:
        return norm(expected["text"]) in norm(answer)
    if "any_text" in expected:
        return any(norm(t) in norm(answer) for t in expected["any_text"])
    return False


def result(components: dict[str, bool], **extra: Any) -> tuple[float, dict[str, Any]]:
    """Score 1.0 iff every component holds; the components are reported by name."""
    score = 1.0 if components and all(components.values()) else 0.0
    return score, {**{k: bool(v) for k, v in components.items()}, **extra}

