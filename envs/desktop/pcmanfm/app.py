"""PCManFM (LXDE's file manager) as a desktop-env app: launching, settings, layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.envs.desktop.app import DesktopApp
from envgym.envs.desktop.settings import ini_settings, read_ini_settings

PCMANFM_CONF = ".config/pcmanfm/default/pcmanfm.conf"
LIBFM_CONF = ".config/libfm/libfm.conf"
BOOKMARKS = ".config/gtk-3.0/bookmarks"
PCMANFM_KEYS = {
    "view_mode": ("ui", "view_mode", {}),
    "show_hidden": ("ui", "show_hidden", {}),
    "sort": ("ui", "sort", {}),
    "side_pane_mode": ("ui", "side_pane_mode", {}),
    "show_statusbar": ("ui", "show_statusbar", {}),
}
LIBFM_KEYS = {
    "single_click": ("config", "single_click", {}),
    "confirm_del": ("config", "confirm_del", {}),
}


class PCManFMApp(DesktopApp):
    title = "PCManFM, a file manager"
    binary = "pcmanfm"
    window_class = "Pcmanfm"
    config_paths = (PCMANFM_CONF, LIBFM_CONF, BOOKMARKS)
    default_settings = {
        "view_mode": "list", "show_hidden": False, "sort": "name;ascending;", "side_pane_mode": "places",
        "show_statusbar": True, "single_click": False, "confirm_del": True,
    }

    def command(self, home: Path, state: dict[str, Any]) -> list[str]:
        folders = state.get("open") or ["."]
        return [self.binary, "--no-desktop", *[str(home / p) for p in folders]]

    def config_files(self, settings: dict[str, Any]) -> dict[str, str]:
        ui = {k: settings[k] for k in PCMANFM_KEYS}
        return {
            PCMANFM_CONF: "[config]\nbm_open_method=0\n\n" + ini_settings(ui, PCMANFM_KEYS),
            LIBFM_CONF: ini_settings({k: settings[k] for k in LIBFM_KEYS}, LIBFM_KEYS),
        }

    def read_settings(self, config: dict[str, bytes]) -> dict[str, Any]:
        return {**read_ini_settings(config.get(PCMANFM_CONF, b""), PCMANFM_KEYS, self.default_settings),
                **read_ini_settings(config.get(LIBFM_CONF, b""), LIBFM_KEYS, self.default_settings)}
