"""``envgym/WebTaskBoard-v0``: Trackly, a mock kanban board with project settings, driven through a real browser."""

from envgym.envs.web.taskboard.env import TaskBoardEnv

__all__ = ["TaskBoardEnv"]
