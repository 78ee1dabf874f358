"""``envgym/PixelClick-v0``: click the named button on a screenshot (see :mod:`envgym.envs.pixel_click.env`)."""

from envgym.envs.pixel_click.env import PixelClickEnv
from envgym.envs.pixel_click.layout import Layout, make_layout

__all__ = ["Layout", "PixelClickEnv", "make_layout"]
