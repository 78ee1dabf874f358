"""The calendar env: :class:`CalendarApp` + its task checker + ``tasks.jsonl``."""

from envgym.envs.web.calendar.app import CalendarApp
from envgym.envs.web.calendar.checks import check
from envgym.envs.web.env import WebAppEnv


class CalendarEnv(WebAppEnv):
    app_class = CalendarApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"
