"""The agent loop: one episode of ``agent`` in ``env``, recorded as an :class:`envgym.Episode`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from envgym.agents.base import Agent, Decision
from envgym.errors import InfraError
from envgym.trajectory import Episode, Turn, token_fields


def run_episode(
    env: Any,
    agent: Agent,
    *,
    task: Any = None,
    seed: int | None = None,
    env_id: str | None = None,
    keep_images: bool = True,
    on_turn: Callable[[Turn], None] | None = None,
    on_reset: Callable[[dict, dict], None] | None = None,
) -> Episode:
    """Play one episode and return it.  An :class:`InfraError` from the env ends the episode with
    ``episode.infra_error`` set (so it is never mistaken for a failed attempt)."""
    env_id = env_id or _env_id(env)
    options = {"task": task} if task is not None else None
    episode = Episode(env_id=env_id, seed=seed, agent=getattr(agent, "name", type(agent).__name__))
    start = time.perf_counter()
    try:
        observation, info = env.reset(seed=seed, options=options)
        episode.task_id = info.get("task_id")
        episode.reset_info = dict(info)
        agent.reset(observation, info)
        if on_reset is not None:
            on_reset(observation, info)
        done = False
        while not done:
            decision = agent.act(observation, info)
            if not isinstance(decision, Decision):
                decision = Decision(action=decision)
            next_observation, reward, terminated, truncated, info = env.step(decision.action)
            turn = record_turn(len(episode.turns), _stored(observation, keep_images), decision,
                               reward, terminated, truncated, info)
            episode.turns.append(turn)
            if on_turn is not None:
                on_turn(turn)
            if info.get("infra_error"):
                raise InfraError(str(info["infra_error"]))
            observation = next_observation
            done = terminated or truncated
        if episode.turns:  # what the episode ended on (reports show it)
            episode.metadata["final_observation"] = _stored(observation, keep_images)
        episode.success = bool(info.get("success", False))
    except InfraError as exc:
        episode.infra_error = str(exc) or type(exc).__name__
        episode.success = False
    episode.duration_s = time.perf_counter() - start
    return episode


def record_turn(index: int, observation: dict, decision: Decision, reward: float, terminated: bool,
                truncated: bool, info: dict) -> Turn:
    """The :class:`Turn` of one step: what the agent saw and decided (with its token ids, logprobs,
    policy version and segment) and what the env answered."""
    return Turn(
        index=index,
        observation=observation,
        action=decision.action,
        reward=float(reward),
        terminated=bool(terminated),
        truncated=bool(truncated),
        info=dict(info),
        **token_fields(decision),
    )


def run_episodes(
    env: Any,
    agent: Agent,
    *,
    episodes: int,
    tasks: list[Any] | None = None,
    seed: int = 0,
    env_id: str | None = None,
) -> Iterator[Episode]:
    """``episodes`` episodes; cycles through ``tasks`` if given, else seeds ``seed, seed+1, …``."""
    for i in range(episodes):
        task = tasks[i % len(tasks)] if tasks else None
        yield run_episode(env, agent, task=task, seed=seed + i, env_id=env_id)


def _env_id(env: Any) -> str:
    spec = getattr(getattr(env, "unwrapped", env), "spec", None)
    return getattr(spec, "id", None) or type(getattr(env, "unwrapped", env)).__name__


def _stored(observation: dict[str, Any], keep_images: bool) -> dict[str, Any]:
    if keep_images or "image" not in observation:
        return observation
    return {k: v for k, v in observation.items() if k != "image"}
