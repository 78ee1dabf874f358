"""The mail env: :class:`MailApp` + its task checker + ``tasks.jsonl``."""

from envgym.envs.web.env import WebAppEnv
from envgym.envs.web.mail.app import MailApp
from envgym.envs.web.mail.checks import check


class MailEnv(WebAppEnv):
    app_class = MailApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"
