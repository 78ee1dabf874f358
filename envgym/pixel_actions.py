"""The pixel action set of screen-driven envs: parsing and validation, shared by every env that is
played through a screenshot, a mouse and a keyboard (the browser's pixel mode, the desktop envs).

:func:`parse_pixel_action` turns a parsed :class:`~envgym.actions.Call` into a :class:`PixelAction`
— the action's name, its points in screen coordinates, the scroll delta, the text, the key
combination — or raises :class:`~envgym.actions.InvalidAction` with a message the agent can act on
(an unknown action, a missing or non-numeric coordinate, a point outside the screen, a malformed key
combination).  Carrying the action out is the env's job (Playwright's mouse and keyboard, xdotool).

>>> from envgym.actions import parse_action
>>> parse_pixel_action(parse_action("click(10, 20)"), (1280, 800)).points
((10.0, 20.0),)
>>> key_combo("ctrl+shift+s")
('Control', 'Shift', 's')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envgym.actions import Call, InvalidAction

#: The pixel actions every screen-driven env accepts, with the line an agent is shown for each.
PIXEL_ACTIONS: dict[str, str] = {
    "click": "click(x, y) — left-click at viewport coordinates (button='right' for a right click)",
    "double_click": "double_click(x, y) — double-click at viewport coordinates",
    "move": "move(x, y) — move the mouse",
    "type": "type(text) — type text at the keyboard focus",
    "key": "key(combo) — press a key or combination such as 'Enter' or 'ctrl+a'",
    "scroll": "scroll(dx, dy) — scroll by (dx, dy) pixels at the mouse position",
    "drag": "drag(x1, y1, x2, y2) — press at (x1, y1), move to (x2, y2), release",
    "answer": "answer(text) — finish the task, with your answer if the task asks a question",
}

#: Alternative spellings of keys, mapped to one canonical name each (Playwright's key names).
KEY_ALIASES: dict[str, str] = {
    "ctrl": "Control", "control": "Control", "cmd": "Meta", "meta": "Meta", "super": "Meta", "win": "Meta",
    "alt": "Alt", "option": "Alt", "shift": "Shift", "enter": "Enter", "return": "Enter", "esc": "Escape",
    "escape": "Escape", "tab": "Tab", "space": "Space", "backspace": "Backspace", "delete": "Delete",
    "del": "Delete", "up": "ArrowUp", "down": "ArrowDown", "left": "ArrowLeft", "right": "ArrowRight",
    "home": "Home", "end": "End", "pageup": "PageUp", "pagedown": "PageDown", "pgup": "PageUp", "pgdn": "PageDown",
    "insert": "Insert", "ins": "Insert", "menu": "ContextMenu", "contextmenu": "ContextMenu",
}
#: The longest wait(seconds) an agent may ask for.
MAX_WAIT_S = 10.0


@dataclass(frozen=True)
class PixelAction:
    """One validated pixel action.  ``points``: the pointer positions it uses (one for clicks and
    moves, start and end for a drag); ``delta``: the scroll amount; ``keys``: the canonical names of a
    key combination (modifiers first, as written); ``clicks``: 2 for a double click."""

    name: str
    points: tuple[tuple[float, float], ...] = ()
    delta: tuple[float, float] = (0.0, 0.0)
    text: str = ""
    keys: tuple[str, ...] = ()
    button: str = "left"
    clicks: int = 1
    seconds: float = 0.0


def key_combo(combo: Any) -> tuple[str, ...]:
    """``'ctrl+shift+a'`` → ``('Control', 'Shift', 'a')``: the parts of a key combination with aliases
    resolved (case-insensitive); other names pass through.  ``'+'`` alone is the plus key."""
    if not isinstance(combo, str) or not combo.strip():
        raise InvalidAction("key must be a non-empty string such as 'Enter' or 'Control+a'")
    text = combo.strip()
    parts = [p.strip() for p in text.split("+")] if text != "+" else ["+"]
    if text.endswith("++"):  # 'ctrl++': the plus key with a modifier
        parts = [p.strip() for p in text[:-2].split("+")] + ["+"]
    keys = []
    for part in parts:
        if not part:
            raise InvalidAction(f"malformed key combination {combo!r}")
        keys.append(KEY_ALIASES.get(part.lower(), part))
    return tuple(keys)


def normalize_key(combo: Any) -> str:
    """``'ctrl+shift+a'`` → ``'Control+Shift+a'`` (Playwright's key names); single keys pass through."""
    return "+".join(key_combo(combo))


def parse_pixel_action(call: Call, screen: tuple[int, int], actions: Mapping[str, str] = PIXEL_ACTIONS,
                       area: str = "viewport") -> PixelAction:
    """Validate ``call`` against the action set ``actions`` on a screen of ``screen`` = (width, height)
    pixels; ``area`` names the screen in messages ("viewport", "screen")."""
    name = call.name
    if not call.is_call or name not in actions:
        listing = "; ".join(actions.values())
        raise InvalidAction(f"unknown action {call.text[:60] if call.text else name!r}. Actions: {listing}")

    def coord(position: int, key: str) -> float:
        value = call.argument(position, key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise InvalidAction(f"{name}() coordinate {key} must be a number, got {value!r}")
        if key in ("dx", "dy"):
            return float(value)
        limit = screen[0] if key.startswith("x") else screen[1]
        if not 0 <= value < limit:
            raise InvalidAction(f"{key}={value} is outside the {screen[0]}x{screen[1]} {area}")
        return float(value)

    if name in ("click", "double_click", "right_click", "move"):
        button = "right" if name == "right_click" else call.kwargs.get("button", "left")
        if button not in ("left", "right", "middle"):
            raise InvalidAction(f"button must be 'left', 'right' or 'middle', got {button!r}")
        return PixelAction(name, points=((coord(0, "x"), coord(1, "y")),), button=button,
                           clicks=2 if name == "double_click" else 1)
    if name == "drag":
        return PixelAction(name, points=((coord(0, "x1"), coord(1, "y1")), (coord(2, "x2"), coord(3, "y2"))))
    if name == "scroll":
        return PixelAction(name, delta=(coord(0, "dx"), coord(1, "dy")))
    return _keyboard_action(call)


def _keyboard_action(call: Call) -> PixelAction:
    """``type``, ``key``, ``wait`` and ``answer``: the actions without a point."""
    name = call.name
    if name == "answer":
        text = call.argument(0, "text", "")
        return PixelAction(name, text="" if text is None else str(text))
    if name == "type":
        text = call.argument(0, "text")
        if not isinstance(text, str):
            raise InvalidAction(f"type() text must be a string, got {type(text).__name__}")
        return PixelAction(name, text=text)
    if name == "key":
        return PixelAction(name, keys=key_combo(call.argument(0, "combo", None) or call.argument(0, "key")))
    if name == "wait":
        seconds = call.argument(0, "seconds", 1.0)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= MAX_WAIT_S:
            raise InvalidAction(f"wait() takes a number of seconds between 0 and {MAX_WAIT_S:g}, got {seconds!r}")
        return PixelAction(name, seconds=float(seconds))
    raise InvalidAction(f"{name}() is not a pixel action")
