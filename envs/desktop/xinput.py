"""Carrying out pixel actions on an X display with ``xdotool`` (XTEST input, as a person's mouse
and keyboard would produce it).

Key names: the canonical names of :func:`envgym.pixel_actions.key_combo` (``Control``, ``Enter``,
``ArrowUp``…), any X keysym name (``F5``, ``BackSpace``, ``Page_Up``, case-insensitive) or a single
character.  Anything else is an :class:`~envgym.actions.InvalidAction` before any input is sent.
"""

from __future__ import annotations

import functools
import re
import subprocess
from typing import Any

from envgym.actions import InvalidAction
from envgym.errors import InfraError
from envgym.pixel_actions import PIXEL_ACTIONS, PixelAction

#: The desktop action set: the browser's pixel actions (on screen coordinates), a right click and a wait.
DESKTOP_ACTIONS: dict[str, str] = {
    **{name: text.replace("viewport", "screen") for name, text in PIXEL_ACTIONS.items() if name != "answer"},
    "right_click": "right_click(x, y) — right-click at screen coordinates (context menus)",
    "wait": "wait(seconds) — let the screen update (at most 10 s)",
    "answer": PIXEL_ACTIONS["answer"],
}
#: Canonical key names → X keysym names.
X_KEYS = {
    "Control": "ctrl", "Shift": "shift", "Alt": "alt", "Meta": "super", "Enter": "Return", "Escape": "Escape",
    "Tab": "Tab", "Space": "space", "Backspace": "BackSpace", "Delete": "Delete", "ArrowUp": "Up", "ArrowDown": "Down",
    "ArrowLeft": "Left", "ArrowRight": "Right", "Home": "Home", "End": "End", "PageUp": "Prior", "PageDown": "Next",
    "Insert": "Insert", "ContextMenu": "Menu",
}
_MODIFIERS = {"ctrl", "shift", "alt", "super"}
#: Pixels of scrolling per mouse-wheel notch (what browsers scroll per notch).
PIXELS_PER_NOTCH = 100
#: Milliseconds between typed characters (GTK keeps up; faster risks dropped remapped keys).
TYPE_DELAY_MS = 3
MAX_TYPE_CHARS = 5000


@functools.lru_cache(maxsize=1)
def _keysym_names() -> dict[str, str]:
    """Every keysym name python-xlib knows, by its lower-case spelling."""
    from Xlib import XK

    names: dict[str, str] = {}
    for group in ("miscellany", "latin1", "xkb", "xf86"):
        try:
            XK.load_keysym_group(group)
        except (ImportError, AttributeError):
            continue
    for attribute in dir(XK):
        if attribute.startswith("XK_"):
            names.setdefault(attribute[3:].lower(), attribute[3:])
    return names


def keysym(name: str) -> str:
    """The xdotool spelling of one key: ``'Enter'`` → ``'Return'``, ``'+'`` → ``'0x2b'``, ``'f5'`` → ``'F5'``."""
    if name in X_KEYS:
        return X_KEYS[name]
    if len(name) == 1:
        code = ord(name)
        return f"0x{code:x}" if code < 0x100 else f"0x{0x01000000 + code:x}"
    known = _keysym_names().get(name.lower())
    if known is None:
        raise InvalidAction(f"unknown key {name!r}; use names such as Enter, Tab, Escape, BackSpace, Delete, Up, "
                            "Down, Left, Right, Home, End, Page_Up, F1..F12, or a single character")
    return known


def key_arguments(keys: tuple[str, ...]) -> str:
    """xdotool's ``key`` argument for a combination: modifiers joined with ``+``; a letter pressed with
    modifiers is the lower-case key (``ctrl+S`` is Ctrl+S, not Ctrl+Shift+S)."""
    names = [keysym(k) for k in keys]
    if len(names) > 1 and all(n in _MODIFIERS for n in names[:-1]) and len(keys[-1]) == 1 and keys[-1].isalpha():
        names[-1] = keysym(keys[-1].lower())
    for modifier in names[:-1]:
        if modifier not in _MODIFIERS:
            raise InvalidAction(f"{'+'.join(keys)!r}: only Control, Shift, Alt and Meta can be held with another key")
    return "+".join(names)


def commands(action: PixelAction) -> list[list[str]]:
    """The xdotool command lines (each may chain commands) for ``action``; ``[]`` for actions without
    input."""
    argv = _command(action)
    return argv if argv and isinstance(argv[0], list) else [argv] if argv else []


def _command(action: PixelAction) -> list[Any]:
    if action.name in ("click", "double_click", "right_click"):
        (x, y), button = action.points[0], {"left": "1", "middle": "2", "right": "3"}[action.button]
        return ["mousemove", str(round(x)), str(round(y)), "click", "--repeat", str(action.clicks), "--delay", "80", button]
    if action.name == "move":
        x, y = action.points[0]
        return ["mousemove", str(round(x)), str(round(y))]
    if action.name == "drag":
        return _drag(action.points[0], action.points[1])
    if action.name == "scroll":
        return _scroll(action.delta)
    if action.name == "type":
        if len(action.text) > MAX_TYPE_CHARS:
            raise InvalidAction(f"type() text is {len(action.text)} characters; the limit is {MAX_TYPE_CHARS}")
        return _type(action.text)
    if action.name == "key":
        return ["key", "--clearmodifiers", key_arguments(action.keys)]
    return []


def _type(text: str) -> list[list[str]]:
    """Typing ``text``: runs of characters with ``xdotool type``, each newline a Return key and each tab
    a Tab key (``type`` drops them, and takes every later argument as text: one command line each)."""
    if "\x00" in text:
        raise InvalidAction("type() text contains a NUL character")
    argv: list[list[str]] = []
    for part in re.split(r"(\n|\t)", text.replace("\r\n", "\n")):
        if part in ("\n", "\t"):
            argv.append(["key", "Return" if part == "\n" else "Tab"])
        elif part:
            argv.append(["type", "--delay", str(TYPE_DELAY_MS), "--", part])
    return argv


def _drag(start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> list[str]:
    """Press at ``start``, move in ``steps`` steps (past drag thresholds), release at ``end``."""
    argv = ["mousemove", str(round(start[0])), str(round(start[1])), "mousedown", "1", "sleep", "0.05"]
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        argv += ["mousemove", str(round(x)), str(round(y)), "sleep", "0.03"]
    return argv + ["mouseup", "1"]


def _scroll(delta: tuple[float, float]) -> list[str]:
    """Wheel notches at the pointer: one per :data:`PIXELS_PER_NOTCH` pixels (at least one)."""
    argv: list[str] = []
    for amount, negative, positive in ((delta[1], "4", "5"), (delta[0], "6", "7")):
        if amount:
            notches = max(1, round(abs(amount) / PIXELS_PER_NOTCH))
            argv += ["click", "--repeat", str(notches), "--delay", "30", positive if amount > 0 else negative]
    return argv


def run_xdotool(argv: list[str], env: dict[str, str], timeout: float = 60.0) -> None:
    """Run one (chained) xdotool command line on the display of ``env``; a failure is the display's fault."""
    try:
        proc = subprocess.run(["xdotool", *argv], env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InfraError(f"xdotool {argv[0]} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise InfraError(f"xdotool {argv[0]} failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
