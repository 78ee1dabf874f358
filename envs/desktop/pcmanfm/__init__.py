"""``envgym/DesktopPCManFM-v0``: PCManFM, LXDE's file manager, on a virtual desktop."""

from envgym.envs.desktop.env import DesktopEnv
from envgym.envs.desktop.pcmanfm.app import PCManFMApp


class PCManFMEnv(DesktopEnv):
    env_id = "envgym/DesktopPCManFM-v0"
    app_class = PCManFMApp


#: the registered entry point (in this process where the app is installed, else in its container)
create = PCManFMEnv.create

__all__ = ["PCManFMEnv", "create"]
