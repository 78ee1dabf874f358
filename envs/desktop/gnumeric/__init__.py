"""``envgym/DesktopGnumeric-v0``: Gnumeric, GNOME's spreadsheet, on a virtual desktop."""

from envgym.envs.desktop.env import DesktopEnv
from envgym.envs.desktop.gnumeric.app import GnumericApp


class GnumericEnv(DesktopEnv):
    env_id = "envgym/DesktopGnumeric-v0"
    app_class = GnumericApp


#: the registered entry point (in this process where the app is installed, else in its container)
create = GnumericEnv.create

__all__ = ["GnumericEnv", "create"]
