"""Answer normalisation and scoring for the SQL env.

Three answer types, chosen per task by ``reward.params["answer_type"]``:

``number``  the answer parses to a number ``a`` (``"42"``, ``" 42.0 "``, ``"$1,234.50"``, ``"12%"``,
            ``"42."``, or a sentence containing exactly one number) and it matches the expected ``e``
            when ``|a - e| <= max(abs_tol, rel_tol * |e|)``; defaults ``abs_tol = 1e-6``,
            ``rel_tol = 1e-9`` (float noise only; tasks that ask for rounding set ``abs_tol`` to
            about one unit in the last asked decimal, e.g. 0.0101).
``text``    ``normalize_text(a) == normalize_text(e)``: Unicode NFKC, case-folded, surrounding
            quotes/backticks/asterisks and a final period removed, runs of whitespace collapsed.
``list``    the answer is split into items (a JSON list, else one item per line, else ``;``-separated,
            else ``,``-separated; bullets and ``1.`` numbering are dropped).  Items compare as numbers
            when the expected item is a number, else as text.  With ``ordered=True`` the lists must
            match position by position; otherwise as multisets (same items, same multiplicities).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

ANSWER_TYPES = ("number", "text", "list")

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_WRAPPERS = "\"'`*“”‘’"
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def parse_number(value: Any) -> float | None:
    """The number in ``value``, or ``None`` if there is none or more than one.

    >>> [parse_number(s) for s in ["42", "42.0", " 42 ", "$1,234.50", "12%", "42.", "about 7 rows", "1 or 2"]]
    [42.0, 42.0, 42.0, 1234.5, 12.0, 42.0, 7.0, None]
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    text = unicodedata.normalize("NFKC", str(value)).strip().strip(_WRAPPERS).strip()
    text = text.lstrip("$€£").rstrip("%").rstrip(".").strip()
    if _NUMBER.fullmatch(text):
        candidates = [text]
    else:
        candidates = _NUMBER.findall(text)
        if len(candidates) != 1:
            return None
    try:
        number = float(candidates[0].replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def numbers_match(answer: float, expected: float, *, abs_tol: float = 1e-6, rel_tol: float = 1e-9) -> bool:
    """``|answer - expected| <= max(abs_tol, rel_tol * |expected|)``."""
    return abs(answer - expected) <= max(abs_tol, rel_tol * abs(expected))


def normalize_text(value: Any) -> str:
    """NFKC, case-folded, wrappers and a final period stripped, whitespace collapsed.

    >>> normalize_text('  "Home  &  Kitchen." ')
    'home & kitchen'
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip(_WRAPPERS).strip()
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return " ".join(text.split()).casefold()


def split_list(answer: Any) -> list[str]:
    """Items of a list answer: a JSON list, else lines, else ``;``- or ``,``-separated parts."""
    if isinstance(answer, (list, tuple)):
        items = [str(item) for item in answer]
    else:
        text = str(answer).strip()
        items = None
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                items = [str(item) for item in parsed]
        if items is None:
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) > 1:
                items = lines
            elif ";" in text:
                items = text.split(";")
            else:
                items = text.split(",")
    cleaned = [_BULLET.sub("", item).strip() for item in items]
    return [item for item in cleaned if item]


def _item_matches(answer: str, expected: Any, abs_tol: float, rel_tol: float) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = parse_number(answer)
        return number is not None and numbers_match(number, float(expected), abs_tol=abs_tol, rel_tol=rel_tol)
    return normalize_text(answer) == normalize_text(expected)


def score_answer(answer: Any, expected: Any, answer_type: str, params: dict[str, Any] | None = None) -> bool:
    """True when ``answer`` (the agent's text) matches ``expected`` under ``answer_type``'s rule."""
    params = params or {}
    abs_tol = float(params.get("abs_tol", 1e-6))
    rel_tol = float(params.get("rel_tol", 1e-9))
    if answer_type == "number":
        number = parse_number(answer)
        target = parse_number(expected)
        return number is not None and target is not None and numbers_match(number, target, abs_tol=abs_tol, rel_tol=rel_tol)
    if answer_type == "text":
        return normalize_text(answer) == normalize_text(expected)
    if answer_type == "list":
        items = split_list(answer)
        targets = list(expected) if isinstance(expected, Sequence) and not isinstance(expected, str) else split_list(expected)
        if len(items) != len(targets):
            return False
        if params.get("ordered"):
            return all(_item_matches(a, e, abs_tol, rel_tol) for a, e in zip(items, targets))
        unused = list(items)
        for target in targets:
            for index, item in enumerate(unused):
                if _item_matches(item, target, abs_tol, rel_tol):
                    del unused[index]
                    break
            else:
                return False
        return True
    raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}")


def format_expected(value: Any, answer_type: str) -> str:
    """The canonical answer text for an expected value: integers without ``.0``, floats rounded to
    6 decimals without trailing zeros, lists joined with ``", "``."""
    if answer_type == "list":
        return ", ".join(format_expected(v, "number" if isinstance(v, (int, float)) else "text") for v in value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def expected_from_rows(rows: Sequence[Sequence[Any]], answer_type: str) -> Any:
    """The expected answer from a reference query's rows: the first column of every row for
    ``list``, else the single value in the first row."""
    if answer_type == "list":
        return [row[0] for row in rows]
    if not rows or not rows[0]:
        raise ValueError("the reference query returned no rows")
    value = rows[0][0]
    if answer_type == "number" and parse_number(value) is None:
        raise ValueError(f"the reference query returned {value!r}, not a number")
    return value
