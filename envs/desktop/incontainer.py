"""A desktop env driven from a machine that does not have the desktop apps: the display and the app
run in the env's container (``containers/desktop/``), this process holds the task set.

``envgym.make("envgym/DesktopMousepad-v0")`` gives a :class:`DesktopInContainer` wherever Xvfb or the
app is missing (:meth:`DesktopEnv.create`, the registered entry point), so ``envgym play``, ``envgym check`` and scripts work
unchanged on any machine with a container engine.  The container starts on the first ``reset``
(constructing the env only reads its tasks); every call goes to the env server inside it, each
task travelling as data (task files stay on this machine).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from envgym.core import Env
from envgym.errors import ResetNeeded
from envgym.observation import Observation

#: Constructor arguments this proxy keeps for itself (the rest go to the env in the container).
_LOCAL_ARGS = ("tasks", "render_mode")


class DesktopInContainer(Env):
    """``env_class`` (a :class:`~envgym.envs.desktop.env.DesktopEnv`) served from its container."""

    def __init__(self, env_class: type, **kwargs: Any):
        tasks = kwargs.pop("tasks", None)
        if tasks is None and env_class.default_task_file:
            module = sys.modules[env_class.__module__]
            tasks = os.path.join(os.path.dirname(module.__file__ or "."), env_class.default_task_file)
        kwargs.pop("render_mode", None)
        super().__init__(tasks=tasks, max_turns=kwargs.get("max_turns"))
        self.env_class = env_class
        self.env_id = env_class.env_id
        self.app = env_class.app_class()  # what the app is (its layout, planner, schema): no display needed
        self.container_kwargs = kwargs
        self.remote: Any = None

    def _connected(self) -> Any:
        if self.remote is None:
            import envgym

            self.remote = envgym.make(self.env_id, runtime="container", **self.container_kwargs)
        return self.remote

    # ------------------------------------------------------------------ the gymnasium API, forwarded
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        import gymnasium

        gymnasium.Env.reset(self, seed=seed)
        options = dict(options or {})
        task = options.get("task")
        self.task = self.sample_task() if task is None else self.resolve_task(task)
        options["task"] = self.task.model_dump(mode="json")
        self.turn = 0
        self._episode_over = False
        return self._connected().reset(seed=seed, options=options)

    def step(self, action: Any):
        if self.task is None or self.remote is None:
            raise ResetNeeded("call reset() before step()")
        result = self.remote.step(action)
        self.turn += 1
        return result

    def observe(self) -> Observation:
        if self.remote is None:
            raise ResetNeeded("call reset() before observe()")
        return self.remote.unwrapped.observe()

    def get_state(self) -> dict[str, Any]:
        return self._connected().get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self._connected().set_state(state)

    def load_state(self, state: dict[str, Any], task: Any = None) -> Observation:
        if task is not None:
            self.task = self.resolve_task(task)
        task_data = self.task.model_dump(mode="json") if self.task is not None else None
        return self._connected().unwrapped.load_state(state, task_data)

    def oracle_action(self) -> Any:
        return None if self.remote is None else self.remote.unwrapped.oracle_action()

    def state_schema(self) -> dict[str, Any]:
        from envgym.envs.desktop.homedir import state_schema

        return state_schema(self.app)

    def tool_names(self) -> list[str]:
        from envgym.envs.desktop.xinput import DESKTOP_ACTIONS

        return list(DESKTOP_ACTIONS)

    def screenshot_bytes(self, image_format: str = "png") -> bytes:
        """The screen now, in the image format the env was made with (PNG unless ``image_format="jpeg"``)."""
        return self.observe()["image"]

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        super().close()

    def __repr__(self) -> str:
        return f"DesktopInContainer({self.env_id!r}, container={getattr(self.remote, 'handle', None)})"
