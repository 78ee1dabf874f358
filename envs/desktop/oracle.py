"""The desktop envs' oracle: a task's *plan* (``task.spec["plan"]``) played as pixel and keyboard
actions, each located on the live screen just before it is taken.

A plan is a list of steps, one key each::

    {"key": "ctrl+s"}  {"type": "text"}  {"wait": 0.5}  {"answer": "done"}
    {"click": TARGET}  {"double_click": TARGET}  {"right_click": TARGET}  {"drag": [TARGET, TARGET]}
    {"menu": ["Edit", "Convert", "To Uppercase"]}    # the menu bar, then items (submenus open on the way)
    {"popup": ["row_header", "Delete 1 Row"]}          # an item of the context menu just opened
    {"await": "Find and Replace"}                      # until the focused window's title contains this

A TARGET is where to point: ``{"window": [dx, dy]}`` (from the main window's top-left corner),
``{"dialog": [dx, dy]}`` (from the focused dialog's), ``{"screen": [x, y]}``, or anything the app's
:meth:`~envgym.envs.desktop.app.DesktopApp.locate` knows (a text position, a spreadsheet cell, a file
in the list…).  Menus are found from the app's menu model (item order and the toolkit's item
heights) and the geometry of the menu windows the X server reports — known layout, measured once
for the fonts and theme of the image.  Steps that need something on screen first (a dialog, a menu)
wait for it, a few tenths of a second at a time, and give up after :data:`MAX_WAITS` tries (the
oracle then returns ``None``; the episode is not solved).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

#: How many ``wait(0.2)`` actions a step may take while what it needs appears.
MAX_WAITS = 15
WAIT = "wait(0.2)"


class OracleStuck(RuntimeError):
    """What a plan step needs never appeared on screen."""


class Unplannable(ValueError):
    """No plan of the app's actions leads from one state to the other (task synthesis's solver)."""


def call(name: str, *args: Any) -> str:
    """An action string: ``call("click", 3, 4)`` → ``'click(3, 4)'``."""
    return f"{name}({', '.join(json.dumps(a, ensure_ascii=False) for a in args)})"


class PlanRunner:
    """Turns a plan into actions, one per turn (the same action until the env has taken it)."""

    def __init__(self, plan: list[dict[str, Any]], app: Any, env: Any):
        self.plan, self.app, self.env = plan, app, env
        self._actions = self._run()
        self._turn: int | None = None
        self._pending: str | None = None

    def action_for(self, turn: int) -> str | None:
        if turn != self._turn:
            self._turn = turn
            try:
                self._pending = next(self._actions)
            except (StopIteration, OracleStuck):
                self._pending = None
        return self._pending

    # ------------------------------------------------------------------ steps
    def _run(self) -> Iterator[str]:
        for step in self.plan:
            (kind, value), = step.items()
            if kind in ("key", "type", "answer", "wait"):
                yield call(kind, value)
            elif kind in ("click", "double_click", "right_click"):
                x, y = yield from self._locate(value)
                yield call(kind, x, y)
            elif kind == "drag":
                x1, y1 = yield from self._locate(value[0])
                x2, y2 = yield from self._locate(value[1])
                yield call("drag", x1, y1, x2, y2)
            elif kind == "menu":
                yield from self._menu(value)
            elif kind == "popup":
                yield from self._items(value[0], self.app.POPUP_MENUS[value[0]], value[1:], self._popup_count_before_step(),
                                       self.app.POPUP_MENU_PADDING)
            elif kind == "await":
                yield from self._await(lambda: value in self._focused_title(), f"a window titled {value!r}")
            else:
                raise ValueError(f"unknown plan step {step!r}")

    def _locate(self, target: dict[str, Any]) -> Iterator[Any]:
        """Yield waits until the target is on screen; return its point."""
        for _ in range(MAX_WAITS):
            point = self._point(target)
            if point is not None:
                return point
            yield WAIT
        raise OracleStuck(f"{target!r} never appeared")

    def _point(self, target: dict[str, Any]) -> tuple[int, int] | None:
        if "screen" in target:
            return tuple(target["screen"])  # type: ignore[return-value]
        if "window" in target or "dialog" in target:
            window = self._main_window() if "window" in target else self._dialog()
            if window is None:
                return None
            dx, dy = target.get("window") or target.get("dialog")
            return window.x + dx, window.y + dy
        return self.app.locate(target, self)

    def _await(self, ready: Any, what: str) -> Iterator[str]:
        for _ in range(MAX_WAITS):
            if ready():
                return
            yield WAIT
        raise OracleStuck(f"{what} never appeared")

    # ------------------------------------------------------------------ menus
    def _menu(self, path: list[str]) -> Iterator[str]:
        offsets = self.app.MENUBAR
        if path[0] not in offsets:
            raise ValueError(f"{path[0]!r} is not in the menu bar of {type(self.app).__name__}")
        window = yield from self._wait_for(self._main_window, "the main window")
        before = len(self.popups())
        yield call("click", window.x + offsets[path[0]][0], window.y + self.app.MENUBAR_Y)
        yield from self._items(path[0], offsets[path[0]][1], path[1:], before, self.app.MENU_PADDING)

    def _items(self, menu: str, items: list[str], path: list[str], before: int, padding: int) -> Iterator[str]:
        """Click ``path`` through ``menu`` (its ``items``), whose popup is the ``before``-th one; submenus
        open on the way.  The menu's height (``padding`` above and below its rows) must match its
        model, else the oracle stops."""
        for depth, label in enumerate(path):
            yield from self._await(lambda n=before + depth: len(self.popups()) > n, "a menu")
            x, y, width, height = self.popups()[before + depth]
            heights = [self.app.menu_row_height(menu, entry) for entry in items]
            if sum(heights) + 2 * padding != height:  # the model does not fit this menu: stop
                raise OracleStuck(f"the menu holding {label!r} is {height} px high; its model says "
                                  f"{sum(heights) + 2 * padding}")
            index = items.index(label)
            top = y + padding + sum(heights[:index])
            yield call("click", x + min(40, width // 2), top + heights[index] // 2)
            menu, items = f"{menu} > {label}", self.app.SUBMENUS.get(label, [])

    def _popup_count_before_step(self) -> int:
        return max(0, len(self.popups()) - 1)

    # ------------------------------------------------------------------ what is on screen
    def popups(self) -> list[tuple[int, int, int, int]]:
        return self.env.session.popups()

    def windows(self) -> list[Any]:
        return self.env.session.windows()

    def _main_window(self) -> Any:
        pid = self.env.app_process.pid if self.env.app_process is not None else None
        return next((w for w in reversed(self.windows()) if w.pid == pid and w.kind == "normal"), None)

    def _dialog(self) -> Any:
        return next((w for w in reversed(self.windows()) if w.focused and w.kind != "normal"), None)

    def _focused_title(self) -> str:
        return next((w.title for w in self.windows() if w.focused), "")

    def main_window(self) -> Any:
        """The app's main window (for :meth:`DesktopApp.locate`)."""
        return self._main_window()

    def _wait_for(self, find: Any, what: str) -> Iterator[Any]:
        for _ in range(MAX_WAITS):
            found = find()
            if found is not None:
                return found
            yield WAIT
        raise OracleStuck(f"{what} never appeared")
