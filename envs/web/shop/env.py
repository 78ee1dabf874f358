"""The shop env: :class:`ShopApp` + its task checker + ``tasks.jsonl``."""

from envgym.envs.web.env import WebAppEnv
from envgym.envs.web.shop.app import ShopApp
from envgym.envs.web.shop.checks import check


class ShopEnv(WebAppEnv):
    app_class = ShopApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"
