"""The task-board env: :class:`BoardApp` + its task checker + ``tasks.jsonl``."""

from envgym.envs.web.env import WebAppEnv
from envgym.envs.web.taskboard.app import BoardApp
from envgym.envs.web.taskboard.checks import check


class TaskBoardEnv(WebAppEnv):
    app_class = BoardApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"
