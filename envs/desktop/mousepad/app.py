"""Mousepad (Xfce's text editor) as a desktop-env app: launching, settings, layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.app import DesktopApp
from envgym.envs.desktop.settings import keyfile_settings, read_keyfile_settings

KEYFILE = ".config/glib-2.0/settings/keyfile"
#: setting → (GSettings group path, key)
KEYS = {
    "show-line-numbers": ("org/xfce/mousepad/preferences/view", "show-line-numbers"),
    "word-wrap": ("org/xfce/mousepad/preferences/view", "word-wrap"),
    "highlight-current-line": ("org/xfce/mousepad/preferences/view", "highlight-current-line"),
    "show-right-margin": ("org/xfce/mousepad/preferences/view", "show-right-margin"),
    "tab-width": ("org/xfce/mousepad/preferences/view", "tab-width"),
    "insert-spaces": ("org/xfce/mousepad/preferences/view", "insert-spaces"),
    "auto-indent": ("org/xfce/mousepad/preferences/view", "auto-indent"),
    "color-scheme": ("org/xfce/mousepad/preferences/view", "color-scheme"),
    "statusbar-visible": ("org/xfce/mousepad/preferences/window", "statusbar-visible"),
    "toolbar-visible": ("org/xfce/mousepad/preferences/window", "toolbar-visible"),
}


#: The text view (Monospace 10 = DejaVu Sans Mono, 8 x 17 px cells) relative to the main window, with
#: the toolbar hidden and no line numbers: the centre of line 1's first character cell.
TEXT_X, TEXT_Y, CHAR_W, LINE_H = 3, 36, 8, 17
#: The menu bar: label → (x of its centre from the window's left edge, items; "---" is a separator).
MENUBAR = {
    "File": (19, ["New", "New Window", "New From Template", "---", "Open...", "Open Recent", "---", "Save", "Save As...",
                  "Save All", "Reload", "---", "Print...", "---", "Detach Tab", "---", "Close Tab", "Close Window", "Quit"]),
    "Edit": (59, ["Undo", "Redo", "---", "Cut", "Copy", "Paste", "Paste Special", "Delete Selection", "Delete Line", "---",
                  "Select All", "---", "Convert", "Move", "Duplicate Line / Selection", "Increase Indent",
                  "Decrease Indent", "---", "Preferences..."]),
    "Search": (110, ["Find", "Find Next", "Find Previous", "Find and Replace...", "---", "Incremental Search",
                     "Highlight All", "---", "Go to..."]),
    "View": (163, ["Select Font...", "---", "Color Scheme", "Line Numbers", "---", "Menubar", "Toolbar", "Statusbar", "---",
                   "Fullscreen"]),
    "Document": (229, ["Word Wrap", "Auto Indent", "Tab Size", "---", "Filetype", "Line Ending", "---",
                       "Write Unicode BOM", "Viewer Mode", "---", "Previous Tab", "Next Tab", "---", "(tab)"]),
}
SUBMENUS = {
    "Convert": ["To Lowercase", "To Uppercase", "To Title Case", "To Opposite Case", "---", "Tabs to Spaces",
                "Leading Spaces to Tabs", "---", "Strip Trailing Spaces", "---", "Transpose"],
    "Move": ["Line Up", "Line Down", "Word Left", "Word Right"],
    "Color Scheme": ["None", "---", "Classic", "Cobalt", "Kate", "Oblivion", "Solarized Dark", "Solarized Light", "Tango"],
    "Tab Size": ["2", "3", "4", "8", "Other...", "---", "Insert Spaces"],
}


class MousepadApp(DesktopApp):
    title = "Mousepad, a text editor"
    binary = "mousepad"
    window_class = "Mousepad"
    config_paths = (KEYFILE,)
    default_settings = {
        "show-line-numbers": False, "word-wrap": False, "highlight-current-line": False, "show-right-margin": False,
        "tab-width": 8, "insert-spaces": False, "auto-indent": False, "color-scheme": "none",
        "statusbar-visible": False, "toolbar-visible": False,
    }

    MENUBAR, SUBMENUS = MENUBAR, SUBMENUS  # GTK 3 metrics: the defaults

    def locate(self, target: dict[str, Any], screen: Any) -> tuple[int, int] | None:
        """``{"text": [line, column]}`` (1-based line, 0-based column): the point just inside the left
        edge of that character cell, where a click puts the caret before the character."""
        if "text" not in target:
            return super().locate(target, screen)
        window = screen.main_window()
        if window is None:
            return None
        line, column = target["text"]
        return window.x + TEXT_X + CHAR_W * column, window.y + TEXT_Y + LINE_H * (line - 1)

    def config_files(self, settings: dict[str, Any], home: Path) -> dict[str, str]:
        return {KEYFILE: keyfile_settings(settings, KEYS)}

    def read_settings(self, config: dict[str, bytes], home: Path) -> dict[str, Any]:
        return read_keyfile_settings(config.get(KEYFILE, b""), KEYS, self.default_settings)

    def plan_change(self, initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
        from envgym.envs.desktop.mousepad.planner import plan

        return plan(initial, golden)
