"""PCManFM (LXDE's file manager, GTK 2) as a desktop-env app: launching, settings, layout."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from envgym.envs.desktop.app import DesktopApp
from envgym.envs.desktop.settings import ini_settings, read_ini_settings

PCMANFM_CONF = ".config/pcmanfm/default/pcmanfm.conf"
LIBFM_CONF = ".config/libfm/libfm.conf"
BOOKMARKS = ".gtk-bookmarks"
PCMANFM_KEYS = {
    "view_mode": ("ui", "view_mode", {}),
    "show_hidden": ("ui", "show_hidden", {}),
    "sort": ("ui", "sort", {}),
    "side_pane_mode": ("ui", "side_pane_mode", {}),
    "show_statusbar": ("ui", "show_statusbar", {}),
}
LIBFM_KEYS = {
    "single_click": ("config", "single_click", {}),
    "confirm_trash": ("config", "confirm_trash", {}),
}
#: The detailed list view, relative to the maximized main window: rows are 28 px high, the first row's
#: centre is 105 px below the window's top; a click at x = 220 lands on the name.  The side pane's
#: places start at the same height.
LIST_X, LIST_Y, ROW_H, PLACES_X = 220, 105, 28, 70
PLACES = ["Home Folder", "Desktop"]
MENUBAR = {
    "File": (21, ["New Window", "New Tab", "---", "Create New...", "---", "Folder Properties", "---", "Close Tab",
                  "Close Window"]),
    "Edit": (59, ["Open", "---", "Cut", "Copy", "Paste", "Move to Trash", "Remove", "Copy Path(s)", "---", "Properties", "---",
                  "Rename...", "Create Link...", "Move to...", "Copy to...", "---", "Select All", "Invert Selection", "---",
                  "Preferences"]),
    "View": (101, ["Reload Folder", "---", "Show Hidden", "Sort Files", "Folder View Mode",
                   "Preserve This Folder's Settings", "---", "Toolbar", "Path Bar", "Side Pane", "Show Status Bar", "---",
                   "Dual Pane Mode", "Fullscreen Mode", "---", "Zoom In", "Zoom Out", "Normal Size", "---", "Filter..."]),
    "Bookmarks": (168, ["Add to Bookmarks"]),
}
SUBMENUS = {
    "Sort Files": ["Ascending", "Descending", "---", "By Name", "By Modification Time", "By Size", "By File Type",
                   "By Extension", "---", "Mingle Files and Folders", "Ignore Name Case"],
    "Folder View Mode": ["Icon View", "Compact View", "Thumbnail View", "Detailed List View"],
    "Side Pane": ["Show Side Pane", "---", "Places", "Directory Tree"],
    "Create New...": ["Folder", "Empty File"],
}
POPUP_MENUS = {
    "file": ["Open With...", "---", "Cut", "Copy", "Move to Trash", "Copy Path(s)", "---", "Rename...", "---", "Properties"],
    "folder": ["Create New...", "---", "Paste", "---", "Select All", "Invert Selection", "---", "Sort Files", "Show Hidden",
               "---", "Folder Properties"],
}
#: GTK 2 menu items with a stock icon are 29 px high, the others 21 px; separators 8 px.  Submenus are
#: named by their path ("folder > Create New...").
TALL_ITEMS = {
    "File": {"New Window", "New Tab", "Create New...", "Folder Properties", "Close Tab", "Close Window"},
    "Edit": {"Open", "Cut", "Copy", "Paste", "Move to Trash", "Remove", "Properties", "Select All"},
    "View": {"Reload Folder", "Zoom In", "Zoom Out", "Normal Size"},
    "Bookmarks": {"Add to Bookmarks"},
    "File > Create New...": set(),
    "folder > Create New...": {"Folder"},
    "file": {"Cut", "Copy", "Move to Trash", "Properties"},
    "folder": {"Paste", "Select All", "Folder Properties"},
}


def bookmarks(data: bytes, home: Path) -> list[str]:
    """The bookmarked folders of a GTK bookmarks file (``URI [label]`` lines), relative to ``home``
    when inside it."""
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        uri = line.split(" ", 1)[0]
        if uri.startswith("file://"):
            path = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
            out.append(path.relative_to(home).as_posix() if path.is_relative_to(home) else str(path))
    return out


def natural_key(name: str) -> list[Any]:
    """libfm's file-name order (case ignored, digit runs by value)."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


class PCManFMApp(DesktopApp):
    title = "PCManFM, a file manager"
    binary = "pcmanfm"
    window_class = "Pcmanfm"
    config_paths = (PCMANFM_CONF, LIBFM_CONF, BOOKMARKS)
    default_settings = {
        "view_mode": "list", "show_hidden": False, "sort": "name;ascending;", "side_pane_mode": "places",
        "show_statusbar": False, "single_click": False, "confirm_trash": True, "bookmarks": [],
    }
    MENUBAR, SUBMENUS, POPUP_MENUS = MENUBAR, SUBMENUS, POPUP_MENUS
    MENUBAR_Y, MENU_ITEM, MENU_SEPARATOR, MENU_PADDING, POPUP_MENU_PADDING = 13, 21, 8, 3, 3  # GTK 2

    def command(self, home: Path, state: dict[str, Any]) -> list[str]:
        folders = state.get("open") or ["."]
        return [self.binary, "--no-desktop", *[str(home / p) for p in folders]]

    def config_files(self, settings: dict[str, Any], home: Path) -> dict[str, str]:
        return {
            PCMANFM_CONF: "[config]\nbm_open_method=0\n\n" + ini_settings({k: settings[k] for k in PCMANFM_KEYS}, PCMANFM_KEYS),
            # no thumbnails: they arrive after the list is drawn, so the first screen would depend on timing
            LIBFM_CONF: ini_settings({k: settings[k] for k in LIBFM_KEYS}, LIBFM_KEYS) + "[ui]\nshow_thumbnail=0\n",
            BOOKMARKS: "".join(f"{(home / p).as_uri()} {os.path.basename(p)}\n" for p in settings["bookmarks"]),
        }

    def read_settings(self, config: dict[str, bytes], home: Path) -> dict[str, Any]:
        return {**read_ini_settings(config.get(PCMANFM_CONF, b""), PCMANFM_KEYS, self.default_settings),
                **read_ini_settings(config.get(LIBFM_CONF, b""), LIBFM_KEYS, self.default_settings),
                "bookmarks": bookmarks(config.get(BOOKMARKS, b""), home)}

    def menu_row_height(self, menu: str, entry: str) -> int:
        if entry == "---":
            return self.MENU_SEPARATOR
        return 29 if entry in TALL_ITEMS.get(menu, ()) else self.MENU_ITEM

    def locate(self, target: dict[str, Any], screen: Any) -> tuple[int, int] | None:
        """``{"file": "name", "in": "Documents"}``: the row of that file or folder in the list of the
        folder ``in`` (relative to home; folders first, then files, by libfm's name order; hidden
        entries only when shown); ``{"place": "Home Folder"}``: an entry of the side pane."""
        window = screen.main_window()
        if window is None:
            return None
        if "place" in target:
            return window.x + PLACES_X, window.y + LIST_Y + ROW_H * PLACES.index(target["place"])
        if "file" not in target:
            return super().locate(target, screen)
        folder = screen.env.home / target.get("in", "")
        conf = screen.env.home / PCMANFM_CONF
        ui = read_ini_settings(conf.read_bytes() if conf.exists() else b"", PCMANFM_KEYS, self.default_settings)
        entries = [e for e in os.scandir(folder) if ui["show_hidden"] or not e.name.startswith(".")]
        entries.sort(key=lambda e: (not e.is_dir(), natural_key(e.name)))
        names = [e.name for e in entries]
        if target["file"] not in names:
            return None
        return window.x + LIST_X, window.y + LIST_Y + ROW_H * names.index(target["file"])

    def plan_change(self, initial: dict[str, Any], golden: dict[str, Any]) -> list[dict[str, Any]]:
        from envgym.envs.desktop.pcmanfm.planner import plan

        return plan(initial, golden)
