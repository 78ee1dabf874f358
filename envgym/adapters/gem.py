"""envgym envs as GEM environments (``gem.Env``; package ``gem-llm``)::

    from envgym.adapters.gem import register
    register("envgym/Maze-v0")                    # in GEM's registry under the same id
    envs = gem.make_vec(["envgym/Maze-v0"] * 4)   # GEM's vectorised loop (autoreset) works as is
    obs, infos = envs.reset(seed=0)
    obs, rewards, terminated, truncated, infos = envs.step(["north", "east", "west", "south"])

Observations are the env's observation text; actions are a model's raw text reply (a ``<tool_call>``
JSON block, a function-call string or a command: :mod:`envgym.adapters.text_episode`).  ``task``
(a task id or dict) fixes the episode's task; ``seed`` (which ``gem.make_vec`` passes) seeds the
first reset.  An infrastructure failure raises :class:`envgym.InfraError`.
"""

from __future__ import annotations

from typing import Any

import gem

from envgym.adapters.text_episode import TextEpisode


class EnvgymGemEnv(gem.Env):
    """An envgym env behind GEM's interface (see the module docstring)."""

    def __init__(self, envgym_id: str, env_kwargs: dict[str, Any] | None = None, task: Any = None,
                 seed: int | None = None):
        super().__init__()
        self.episode = TextEpisode(envgym_id, env_kwargs)
        self.task = task
        self.next_seed = seed

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed)
        if seed is None:
            seed, self.next_seed = self.next_seed, None
        return self.episode.start(seed=seed, task=self.task)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return self.episode.act(action)

    def sample_random_action(self) -> str:
        return str(self.episode.env.action_space.sample())

    def close(self) -> None:
        self.episode.close()


def register(env_id: str, name: str | None = None, **env_kwargs: Any) -> str:
    """Register ``env_id`` (built with ``env_kwargs``) in GEM's registry as ``name`` (default: the
    envgym id); returns the name."""
    name = name or env_id
    gem.register(name, EnvgymGemEnv, envgym_id=env_id, env_kwargs=env_kwargs)  # gem.make sets env.env_id itself
    return name
