"""An envgym env stepped with a model's raw text, the contract of text-in/text-out trainer envs
(skyrl-gym's ``BaseTextEnv``, GEM's ``gem.Env``): the adapters of :mod:`envgym.adapters.skyrl` and
:mod:`envgym.adapters.gem` are thin shells around it.

The action is found in the text with :func:`envgym.interop.tools.action_from_text` (a
``<tool_call>`` JSON block, else a function-call string or command the env parses).  An
infrastructure failure (``info["infra_error"]``: a dead browser or container) raises
:class:`envgym.InfraError` instead of returning a reward: these interfaces have no way to mark a
step as not-a-reward, and a silent 0 would be trained on.
"""

from __future__ import annotations

from typing import Any

import envgym
from envgym.errors import InfraError
from envgym.interop.tools import action_from_text


class TextEpisode:
    """One envgym env (built lazily) and the episode it is in."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.env: Any = None
        self.tools: list[dict[str, Any]] = []

    def start(self, seed: int | None = None, task: Any = None) -> tuple[str, dict[str, Any]]:
        """Reset (on ``task``, a task id or dict, when given); the first observation's text and info."""
        if self.env is None:
            self.env = envgym.make(self.env_id, **self.env_kwargs)
        obs, info = self.env.reset(seed=seed, options={"task": task} if task is not None else None)
        self.tools = list(obs.get("tools") or [])
        return obs.get("text", ""), info

    def act(self, text: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Step with the action in ``text``: ``(observation text, reward, terminated, truncated, info)``."""
        obs, reward, terminated, truncated, info = self.env.step(action_from_text(text))
        if info.get("infra_error"):
            raise InfraError(f"{self.env_id} failed: {info['infra_error']}")
        return obs.get("text", ""), float(reward), bool(terminated), bool(truncated), info

    def close(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            env.close()
