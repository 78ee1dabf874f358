"""Reading one action out of a model completion.

Formats (``action_format``):

* ``"tagged"`` — ``<action>…</action>``; the inner text is the action (free text, a function call
  string, or a JSON tool call).  The last complete block wins; an unclosed ``<action>`` at the end
  (the completion was cut) takes the rest of the text.
* ``"json"`` — a JSON tool call ``{"name": ..., "arguments": {...}}`` (``arguments`` may be a JSON
  string; ``{"function": {...}}`` wrappers too) anywhere in the text, code fences allowed.
* ``"function"`` — a function-call string ``click("12")`` / ``sql(query="SELECT 1")`` on a line of its
  own (backticks and fences allowed), checked with :func:`envgym.parse_action` (literals only).
* ``"auto"`` — tagged, then JSON, then a function call, then a line equal to an admissible action,
  then a single short line of text.

A completion that yields nothing gives ``ParsedAction(action=<raw text>, error=...)``: the agent
sends the raw text (the env answers with ``action_error``) and flags ``parse_error``.  Never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from envgym.actions import InvalidAction, parse_action

ACTION_FORMATS = ("auto", "function", "json", "tagged")
MAX_TEXT_ACTION_CHARS = 300

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_ACTION_BLOCK = re.compile(r"<action>(.*?)</action>", re.DOTALL)
_CALL_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(.*\)$", re.DOTALL)


@dataclass(frozen=True)
class ParsedAction:
    """``action`` is what goes to ``env.step``; ``error`` is set when parsing failed."""

    action: Any
    format: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_completion(
    text: str,
    action_format: str = "auto",
    *,
    admissible: list[str] | None = None,
) -> ParsedAction:
    """Extract one action from ``text`` in ``action_format`` (see the module docstring)."""
    if action_format not in ACTION_FORMATS:
        raise ValueError(f"action_format must be one of {ACTION_FORMATS}, got {action_format!r}")
    try:
        body = _THINK.sub("", text or "").strip()
        parsed = _parse(body, action_format, admissible or [])
    except (RecursionError, ValueError, TypeError) as exc:  # belt and braces: never crash the agent
        parsed = ParsedAction(action=None, format="raw", error=f"unparseable completion: {exc}")
    if parsed.error is not None:
        return ParsedAction(action=(text or "").strip(), format="raw", error=parsed.error)
    return parsed


def _parse(body: str, action_format: str, admissible: list[str]) -> ParsedAction:
    if action_format == "tagged":
        inner = extract_tagged(body, "action")
        if inner is None:
            return ParsedAction(None, "raw", "no <action>...</action> block in the reply")
        return action_from_text(inner, "tagged")
    if action_format == "json":
        call = find_json_tool_call(body)
        if call is None:
            return ParsedAction(None, "raw", 'no JSON tool call {"name": ..., "arguments": {...}} in the reply')
        return ParsedAction(call, "json")
    if action_format == "function":
        call = find_function_call(body)
        if call is None:
            return ParsedAction(None, "raw", "no function call like name(arg=...) in the reply")
        return ParsedAction(call, "function")
    # auto
    inner = extract_tagged(body, "action")
    if inner is not None:
        return action_from_text(inner, "tagged")
    call = find_json_tool_call(body)
    if call is not None:
        return ParsedAction(call, "json")
    function_call = find_function_call(body)
    if function_call is not None:
        return ParsedAction(function_call, "function")
    lines = [line.strip().strip("`").strip() for line in body.splitlines() if line.strip()]
    lowered = {a.strip().lower(): a for a in admissible}
    for line in lines:
        if line.lower() in lowered:
            return ParsedAction(lowered[line.lower()], "admissible")
    if len(lines) == 1 and 0 < len(lines[0]) <= MAX_TEXT_ACTION_CHARS:
        return ParsedAction(lines[0], "text")
    return ParsedAction(None, "raw", "could not find an action in the reply")


def action_from_text(inner: str, fmt: str = "tagged") -> ParsedAction:
    """The action written inside a tag: a JSON tool call, a (checked) function call, or free text."""
    inner = inner.strip().strip("`").strip()
    if not inner:
        return ParsedAction(None, "raw", "empty <action></action> block")
    if inner.startswith("{"):
        call = find_json_tool_call(inner)
        if call is not None:
            return ParsedAction(call, fmt)
    if _CALL_LINE.match(inner):
        try:
            parse_action(inner)
        except InvalidAction as exc:
            return ParsedAction(None, "raw", str(exc))
    return ParsedAction(inner, fmt)


def extract_tagged(text: str, tag: str) -> str | None:
    """Content of the last ``<tag>…</tag>`` block; an unclosed final ``<tag>`` yields the rest."""
    if tag == "action":
        blocks = _ACTION_BLOCK.findall(text)
    else:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    if blocks:
        return blocks[-1]
    opening = text.rfind(f"<{tag}>")
    if opening >= 0:
        return text[opening + len(tag) + 2 :]
    return None


def find_json_tool_call(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` shaped like a tool call, normalised to
    ``{"name": str, "arguments": dict}``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        call = _as_tool_call(value)
        if call is not None:
            return call
    return None


def _as_tool_call(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    function = value.get("function") if isinstance(value.get("function"), dict) else value
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return None
    arguments = function.get("arguments", function.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return {"name": name, "arguments": arguments}


def find_function_call(text: str) -> str | None:
    """The first line that is a valid literal-argument function call, e.g. ``click("12")``."""
    for raw in text.splitlines():
        line = raw.strip().strip("`").strip()
        if line.startswith("Action:") or line.startswith("action:"):
            line = line.split(":", 1)[1].strip().strip("`").strip()
        if not _CALL_LINE.match(line):
            continue
        try:
            call = parse_action(line)
        except InvalidAction:
            continue
        if call.is_call:
            return line
    return None
