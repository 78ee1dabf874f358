"""``envgym/DesktopPCManFM-v0``: PCManFM, LXDE's file manager, on a virtual desktop."""

from envgym.envs.desktop.env import DesktopEnv
from envgym.envs.desktop.pcmanfm.app import PCManFMApp


class PCManFMEnv(DesktopEnv):
    env_id = "envgym/DesktopPCManFM-v0"
    app_class = PCManFMApp


__all__ = ["PCManFMEnv"]
