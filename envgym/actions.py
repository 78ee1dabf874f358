"""Parsing actions into a call: a name with positional and keyword arguments.

Agents send one of

* a structured tool call ``{"name": "sql", "arguments": {"query": "SELECT 1"}}`` (``arguments`` may
  also be a JSON string, as OpenAI's API returns it);
* a function-call string ``click("12")`` or ``fill(bid="3", text="hi")`` — parsed with :mod:`ast`,
  literals only, never evaluated;
* a bare word or sentence ``north`` / ``go to fridge 1`` — ``name`` is the text itself and there are
  no arguments.  Envs with free-text commands read :attr:`Call.text`.

Anything else raises :class:`InvalidAction` with a message the agent can act on.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class InvalidAction(ValueError):
    """The agent's action cannot be carried out.  Envs raise it; :class:`envgym.Env` turns it into
    ``info["action_error"]`` and an error observation — never an exception for the caller."""


@dataclass(frozen=True)
class Call:
    """One parsed action."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the raw text of a text action, "" for a structured tool call
    is_call: bool = False  # True when written as name(...) or given as a tool call

    def argument(self, position: int, name: str, default: Any = ...) -> Any:
        """The argument given by ``position`` or by keyword ``name``; raise InvalidAction if missing."""
        if name in self.kwargs:
            return self.kwargs[name]
        if position < len(self.args):
            return self.args[position]
        if default is not ...:
            return default
        raise InvalidAction(f"{self.name}() is missing the argument {name!r}")

    def to_action(self) -> Any:
        """The canonical wire form: text for text actions, a tool-call dict otherwise."""
        if not self.is_call:
            return self.text
        arguments = dict(self.kwargs)
        for i, value in enumerate(self.args):
            arguments.setdefault(f"arg{i}", value)
        return {"name": self.name, "arguments": arguments}


MAX_ACTION_CHARS = 100_000


def parse_action(action: Any) -> Call:
    """Parse any accepted action form into a :class:`Call`, or raise :class:`InvalidAction`."""
    if isinstance(action, Call):
        return action
    if isinstance(action, Mapping):
        return _parse_tool_call(action)
    if isinstance(action, bytes):
        try:
            action = action.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidAction(f"action bytes are not UTF-8: {exc}") from None
    if not isinstance(action, str):
        raise InvalidAction(
            f"action must be text or a tool call {{'name', 'arguments'}}, got {type(action).__name__}"
        )
    if len(action) > MAX_ACTION_CHARS:
        raise InvalidAction(f"action is {len(action)} characters long; the limit is {MAX_ACTION_CHARS}")
    text = action.strip()
    if not text:
        raise InvalidAction("empty action")
    if "\x00" in text:
        raise InvalidAction("action contains a NUL character")
    call = _parse_call_string(text)
    return call if call is not None else Call(name=text, text=text)


def _parse_tool_call(action: Mapping) -> Call:
    function = action.get("function") if isinstance(action.get("function"), Mapping) else action
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidAction(f"tool call needs a non-empty string 'name', got {name!r}")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidAction(f"tool call arguments are not valid JSON: {exc}") from None
    if not isinstance(arguments, Mapping):
        raise InvalidAction(f"tool call 'arguments' must be an object, got {type(arguments).__name__}")
    return Call(name=name, kwargs=dict(arguments), is_call=True)


def _parse_call_string(text: str) -> Call | None:
    """``name(arg, key=value)`` with literal arguments -> Call; ``None`` if ``text`` is not a call."""
    head, paren, _ = text.partition("(")
    if not paren or not text.endswith(")") or not head.strip().isidentifier():
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        # LLMs often break a long string argument over lines: sql("SELECT a\n FROM t").  Raw newlines
        # are only legal inside triple quotes, so retry with them escaped; if the newlines were
        # between arguments the retry fails too and the original error is reported.
        try:
            node = ast.parse(text.replace("\r\n", "\n").replace("\n", "\\n"), mode="eval").body
        except SyntaxError:
            raise InvalidAction(f"cannot parse {text[:80]!r} as a function call: {exc.msg}") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    try:
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        raise InvalidAction(
            f"arguments of {node.func.id}() must be literals (strings, numbers, lists), got {text[:80]!r}"
        ) from None
    if any(kw.arg is None for kw in node.keywords):
        raise InvalidAction(f"**kwargs are not allowed in {text[:80]!r}")
    return Call(name=node.func.id, args=args, kwargs=kwargs, text=text, is_call=True)
