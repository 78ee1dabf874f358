"""``envgym/DesktopMousepad-v0``: Mousepad, Xfce's text editor, on a virtual desktop."""

from envgym.envs.desktop.env import DesktopEnv
from envgym.envs.desktop.mousepad.app import MousepadApp


class MousepadEnv(DesktopEnv):
    env_id = "envgym/DesktopMousepad-v0"
    app_class = MousepadApp


#: the registered entry point (in this process where the app is installed, else in its container)
create = MousepadEnv.create

__all__ = ["MousepadEnv", "create"]
