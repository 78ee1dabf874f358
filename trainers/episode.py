"""One episode, asynchronously: env calls through the :class:`EnvCluster`, generations through the
:class:`RolloutService`.  Records the same :class:`envgym.Episode` as :func:`envgym.agents.loop.run_episode`
(token ids, logprobs and policy version per turn), with infra failures recorded, not raised.

The caller registers the episode with the rollout service (``episode_started``/``episode_finished``)
so that a whole wave of episodes is registered before any of them asks for a generation.

``oracle=True`` plays the env's ``oracle_action()`` instead of sampling, with the agent's own prompt
and completion ids (``logprobs=None``): a pre-collected success for replay.
"""

from __future__ import annotations

import time
from typing import Any

from envgym.agents.backends.base import BackendError
from envgym.agents.base import Decision
from envgym.agents.loop import record_turn
from envgym.errors import InfraError
from envgym.trajectory import Episode
from envgym.trainers.env_cluster import EnvCluster
from envgym.trainers.rollout_service import RolloutService


async def play_episode(
    cluster: EnvCluster,
    rollout: RolloutService | None,
    agent: Any,
    *,
    env_key: str,
    task: Any,
    seed: int | None,
    order_key: Any = 0,
    metadata: dict[str, Any] | None = None,
    oracle: bool = False,
    store_observations: str = "full",
) -> Episode:
    env_id = cluster.configs[env_key].id
    episode = Episode(env_id=env_id, seed=seed, agent=getattr(agent, "name", type(agent).__name__), metadata=dict(metadata or {}))
    episode.metadata["env_key"] = env_key
    start = time.perf_counter()
    worker = None
    try:
        blocked = rollout is not None and cluster.is_full(env_key)
        if blocked:  # waiting for an env worker is not waiting for a generation: don't hold batches back
            rollout.episode_finished()
        try:
            worker = await cluster.acquire(env_key)
        finally:
            if blocked:
                rollout.episode_started()
        options = {"task": task} if task is not None else None
        observation, info = await cluster.reset(worker, seed=seed, options=options)
        episode.task_id = info.get("task_id")
        episode.reset_info = dict(info)
        agent.reset(observation, info)
        done = False
        while not done:
            request = agent.prepare(observation, info)
            if oracle:
                action = worker.env.unwrapped.oracle_action()
                if action is None:
                    raise InfraError("oracle has no action")
                generation = agent.force(action)
            else:
                assert rollout is not None
                generation = await rollout.generate(request, key=order_key)
            decision: Decision = agent.finish(generation)
            observation_next, reward, terminated, truncated, info = await cluster.step(worker, decision.action)
            episode.turns.append(record_turn(len(episode.turns), _stored(observation, store_observations), decision,
                                             reward, terminated, truncated, info))
            observation = observation_next
            done = bool(terminated or truncated)
        if episode.turns and store_observations == "full":  # what the episode ended on (reports show it)
            episode.metadata["final_observation"] = observation
        episode.success = bool(info.get("success", False))
    except (InfraError, BackendError) as exc:
        episode.infra_error = f"{type(exc).__name__}: {exc}"
        episode.success = False
        if worker is not None and isinstance(exc, InfraError):
            worker.broken = True
    finally:
        if worker is not None:
            cluster.release(worker)
    episode.duration_s = time.perf_counter() - start
    return episode


def _stored(observation: dict[str, Any], mode: str) -> dict[str, Any]:
    """What the trajectory store keeps of an observation: all of it, its text, or nothing."""
    if mode == "full":
        return observation
    if mode == "text":
        return {"text": observation.get("text", "")}
    return {}
