"""The shop env: :class:`ShopApp` + its task checker + ``tasks.jsonl``."""

from envs.web.env import WebAppEnv
from envs.web.shop.app import ShopApp
from envs.web.shop.checks import check


class ShopEnv(WebAppEnv):
    app_class = ShopApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"
