"""``WebAppEnv``: a :class:`envgym.browser.BrowserEnv` bound to one mock app and its task checker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from envgym.browser.env import BrowserEnv
from envgym.tasks import Task

from envgym.envs.web.framework import WebApp


class WebAppEnv(BrowserEnv):
    """Subclasses set ``app_class``, ``checker`` (``check(params, initial, final, answer)``) and
    ``default_task_file``."""

    app_class: ClassVar[type[WebApp]]
    checker: ClassVar[Callable[..., tuple[float, dict[str, Any]]]]

    def make_app(self) -> WebApp:
        return self.app_class().serve()

    def state_schema(self) -> dict[str, Any]:
        """JSON Schema of ``get_state()``: the app's pydantic ``State`` model."""
        return self.app_class.State.model_json_schema()

    def score(self, task: Task, initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
        """The app's checker for ``reward.kind == "env"`` tasks.  Synthesised tasks (``kind ==
        "python"``) carry their own reward, which the core scores in the sandbox at episode end."""
        if task.reward.kind == "python":
            return 0.0, {"scored_by": "task reward code"}
        return type(self).checker(task.reward.params, initial, final, answer)
