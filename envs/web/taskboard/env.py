"""The task-board env: :class:`BoardApp` + its task checker + ``tasks.jsonl``."""

from typing import Any

from envgym.tasks import Task
from envs.web.env import WebAppEnv
from envs.web.taskboard.app import BoardApp, BoardState
from envs.web.taskboard.checks import check


class TaskBoardEnv(WebAppEnv):
    app_class = BoardApp
    checker = staticmethod(check)
    default_task_file = "tasks.jsonl"

    def state_schema(self) -> dict[str, Any]:
        """JSON Schema of ``get_state()`` (the app's pydantic :class:`BoardState`)."""
        return BoardState.model_json_schema()

    def score(self, task: Task, initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
        """Synthesized tasks (``reward.kind == "python"``) carry their own reward, which the core scores
        in the sandbox when the episode ends; the app's checker only knows ``kind == "env"`` params."""
        if task.reward.kind == "python":
            return 0.0, {"scored_by": "task reward code"}
        return super().score(task, initial, final, answer)
