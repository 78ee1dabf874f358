"""What a desktop env knows about the application it runs: :class:`DesktopApp`.

A subclass names the program and how to launch it, where its settings live and how to read and
write them, how to parse the files it saves (``read_file``/``write_file``, e.g. spreadsheets), the
task checker, and the *layout* its oracle uses to turn targets into screen points (``locate``).
Every app gets the same desktop look: GTK 2 and 3 on the Adwaita theme, DejaVu fonts, no blinking
caret and no animations (so the screen settles as soon as the app has drawn).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from envgym.envs.desktop.homedir import StateFormatError

#: Desktop-wide config files written into every home (relative path → text).
DESKTOP_CONFIG: dict[str, str] = {
    ".config/gtk-3.0/settings.ini": (
        "[Settings]\ngtk-theme-name=Adwaita\ngtk-icon-theme-name=Adwaita\ngtk-font-name=DejaVu Sans 10\n"
        "gtk-cursor-blink=false\ngtk-enable-animations=false\ngtk-dialogs-use-header=false\n"
        "gtk-xft-antialias=1\ngtk-xft-hinting=1\ngtk-xft-hintstyle=hintslight\ngtk-xft-rgba=none\n"
        "gtk-recent-files-enabled=false\n"
    ),
    ".gtkrc-2.0": (
        'gtk-theme-name="Adwaita"\ngtk-icon-theme-name="Adwaita"\ngtk-font-name="DejaVu Sans 10"\n'
        "gtk-cursor-blink=0\ngtk-enable-animations=0\n"
    ),
}


class DesktopApp:
    """One application on the desktop; subclasses fill in the class attributes and hooks."""

    #: what the agent is told the app is
    title: ClassVar[str] = "an application"
    #: the program (checked with ``shutil.which``)
    binary: ClassVar[str] = ""
    #: WM_CLASS (class part) of its main window
    window_class: ClassVar[str] = ""
    #: config files holding its settings, relative to the home folder
    config_paths: ClassVar[tuple[str, ...]] = ()
    #: settings the env exposes, with their defaults (what ``read_settings`` returns for a fresh home)
    default_settings: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------------ launching
    def command(self, home: Path, state: dict[str, Any]) -> list[str]:
        """The command line that starts the app on ``state`` (``state["open"]``: paths to open)."""
        return [self.binary, *[str(home / p) for p in state.get("open", [])]]

    @classmethod
    def available(cls) -> bool:
        return bool(cls.binary) and shutil.which(cls.binary) is not None and shutil.which("Xvfb") is not None

    # ------------------------------------------------------------------ settings
    def validate_settings(self, settings: Any) -> dict[str, Any]:
        """``settings`` merged over the defaults; unknown keys and wrong types are a StateFormatError."""
        if settings is None:
            return dict(self.default_settings)
        if not isinstance(settings, dict):
            raise StateFormatError(f"state.settings must be an object, got {type(settings).__name__}")
        unknown = sorted(set(settings) - set(self.default_settings))
        if unknown:
            raise StateFormatError(f"unknown settings {unknown}; {self.title} has {sorted(self.default_settings)}")
        for key, value in settings.items():
            default = self.default_settings[key]
            if type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
                raise StateFormatError(f"settings.{key} must be a {type(default).__name__}, got {value!r}")
            if isinstance(value, list) and not all(isinstance(item, str) for item in value):
                raise StateFormatError(f"settings.{key} must be a list of strings, got {value!r}")
        return {**self.default_settings, **settings}

    def config_files(self, settings: dict[str, Any], home: Path) -> dict[str, str]:
        """Config files (relative path → text) that make the app start with ``settings`` in ``home``."""
        return {}

    def read_settings(self, config: dict[str, bytes], home: Path) -> dict[str, Any]:
        """The settings found in the config files of ``home`` (``config_paths`` → bytes; absent files:
        defaults)."""
        return dict(self.default_settings)

    def settings_schema(self) -> dict[str, Any]:
        kinds = {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
                 list: {"type": "array", "items": {"type": "string"}}}
        return {"type": "object", "additionalProperties": False,
                "properties": {k: {**kinds[type(v)], "default": v} for k, v in self.default_settings.items()}}

    #: The oracle's menu model (see :mod:`envgym.envs.desktop.oracle`): menu bar labels → (x from the
    #: window's left edge, entries), submenus by label, context menus by name; the menu bar's centre
    #: line from the window's top; entry and separator heights; padding above and below the entries of
    #: menu-bar menus and of context menus.
    MENUBAR: ClassVar[dict[str, tuple[int, list[str]]]] = {}
    SUBMENUS: ClassVar[dict[str, list[str]]] = {}
    POPUP_MENUS: ClassVar[dict[str, list[str]]] = {}
    MENUBAR_Y, MENU_ITEM, MENU_SEPARATOR, MENU_PADDING, POPUP_MENU_PADDING = 12, 25, 1, 0, 0

    def menu_row_height(self, menu: str, entry: str) -> int:
        """Height in pixels of one entry of a menu (``"---"``: a separator); GTK 3 menus: all alike."""
        return self.MENU_SEPARATOR if entry == "---" else self.MENU_ITEM

    # ------------------------------------------------------------------ the app's file formats
    def read_file(self, path: str, data: bytes, scratch: Path) -> dict[str, Any] | None:
        """The state of a file in the app's own format (``None``: a plain file)."""
        return None

    def write_file(self, target: Path, path: str, value: dict[str, Any]) -> bool:
        """Write a file of the app's own format; ``False``: not one of them (written as plain bytes)."""
        return False

    def file_schema(self) -> dict[str, Any]:
        """JSON Schema of one entry of ``state.files``."""
        return {"oneOf": [
            {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": False},
            {"type": "object", "properties": {"base64": {"type": "string"}}, "required": ["base64"], "additionalProperties": False},
        ]}

    # ------------------------------------------------------------------ tasks
    def check(self, params: dict[str, Any], initial: dict[str, Any], final: dict[str, Any],
              answer: str) -> tuple[float, dict[str, Any]]:
        """The task's reward in [0, 1] and named components (see :mod:`envgym.envs.desktop.checking`)."""
        from envgym.envs.desktop.checking import check_state

        return check_state(params, initial, final, answer, compare_file=self.same_file)

    def same_file(self, path: str, expected: dict[str, Any], actual: dict[str, Any] | None) -> bool:
        """Whether a file's final state is the expected one (the app may compare its formats its own way)."""
        from envgym.envs.desktop.checking import same_plain_file

        return same_plain_file(expected, actual)

    def locate(self, target: dict[str, Any], screen: Any) -> tuple[int, int] | None:
        """The screen point of an oracle ``target`` (``None``: not on screen yet)."""
        raise ValueError(f"{type(self).__name__} cannot locate {target!r}")

    def plan_change(self, initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
        """An oracle plan (see :mod:`envgym.envs.desktop.oracle`) that turns ``initial`` into ``golden``,
        ending with ``answer("done")``; raises :class:`~envgym.envs.desktop.oracle.Unplannable` for a
        change the app's planner cannot make (task synthesis's solver)."""
        from envgym.envs.desktop.oracle import Unplannable

        raise Unplannable(f"{self.title} has no planner")
