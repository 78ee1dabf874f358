"""envgym envs as skyrl-gym ``BaseTextEnv`` environments (``pip install 'envgym[skyrl]'``)::

    from envgym.adapters.skyrl import register
    register("envgym/SQL-v0")                     # in skyrl-gym's registry under the same id
    env = skyrl_gym.make("envgym/SQL-v0", env_config={}, extras={"task": "sql-supplier-customers"})
    prompt, metadata = env.init([{"role": "system", "content": "..."}])
    out = env.step('sql(query="SELECT 1")')       # {"observations", "reward", "done", "metadata"}

A dataset row's ``extras`` choose the episode: ``task`` (a task id of the env's task set, or a task
dict), ``seed`` and ``max_turns``.  ``init(prompt)`` returns the prompt with the first observation
appended as a user message, and ``metadata["tools"]`` (the env's OpenAI function schemas) for chat
templates.  Each ``step(text)`` answers with the next observation as a user message;
``metadata`` keeps ``terminated``/``truncated`` apart and carries the step's ``info``.  An
infrastructure failure raises :class:`envgym.InfraError` (see :mod:`envgym.adapters.text_episode`).
"""

from __future__ import annotations

from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

from envgym.adapters.text_episode import TextEpisode


class EnvgymTextEnv(BaseTextEnv):
    """An envgym env behind skyrl-gym's text-env interface (see the module docstring)."""

    def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None, *, env_id: str,
                 env_kwargs: dict[str, Any] | None = None):
        super().__init__()
        extras = dict(extras or {})
        self.episode = TextEpisode(env_id, env_kwargs)
        self.task = extras.get("task")
        self.seed = extras.get("seed")
        self.turn_limit = extras.get("max_turns")

    def init(self, prompt: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        text, info = self.episode.start(seed=self.seed, task=self.task)
        self.turns = 0
        self.max_turns = int(self.turn_limit or self.episode.env.unwrapped.max_turns)
        return [*prompt, {"role": "user", "content": text}], {"tools": self.episode.tools, "info": info}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        text, reward, terminated, truncated, info = self.episode.act(action)
        truncated = truncated or (not terminated and self.turns >= self.max_turns)
        return BaseTextEnvStepOutput(
            observations=[{"role": "user", "content": text}], reward=reward, done=terminated or truncated,
            metadata={"terminated": terminated, "truncated": truncated, "info": info}, postprocessed_action=None,
        )

    def close(self) -> None:
        self.episode.close()


def register(env_id: str, name: str | None = None, **env_kwargs: Any) -> str:
    """Register ``env_id`` (built with ``env_kwargs``) in skyrl-gym's registry as ``name`` (default:
    the envgym id); returns the name."""
    import skyrl_gym

    name = name or env_id
    skyrl_gym.register(id=name, entry_point=EnvgymTextEnv, kwargs={"env_id": env_id, "env_kwargs": env_kwargs})
    return name
