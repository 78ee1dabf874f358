"""Steps per second of every in-process env under a random agent, and the cost of the envgym layer.

For each env it measures, on the same random action sequence:

* ``envgym_steps_per_s`` — ``env.step(action)`` (parse, validate, observation copy, info, anchor);
* ``raw_steps_per_s``    — the env's own logic alone: ``env._step(call)`` + ``env._observe()`` with the
  action pre-parsed;
* ``overhead_us_per_step`` and ``overhead_ratio`` (envgym / raw time per step).

Prints one JSON document.  Usage: ``python bench/env_step.py [--steps 3000] [--env ID ...]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import envgym
from envgym.agents.random_agent import RandomAgent
from envgym.actions import InvalidAction, parse_action


def collect_actions(env, steps: int, seed: int) -> list[tuple[int, list]]:
    """Episodes of random actions as (reset seed, actions) pairs, ``steps`` actions in all."""
    agent = RandomAgent(seed=seed)
    episodes, total, episode_seed = [], 0, seed
    while total < steps:
        obs, info = env.reset(seed=episode_seed)
        actions, done = [], False
        while not done and total < steps:
            action = agent.act(obs, info)
            actions.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            total += 1
        episodes.append((episode_seed, actions))
        episode_seed += 1
    return episodes


def time_envgym(env, episodes) -> float:
    elapsed = 0.0
    for seed, actions in episodes:
        env.reset(seed=seed)
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        elapsed += time.perf_counter() - start
    return elapsed


def time_raw(env, episodes) -> float:
    raw = env.unwrapped
    elapsed = 0.0
    for seed, actions in episodes:
        env.reset(seed=seed)
        calls = []
        for action in actions:
            try:
                calls.append(parse_action(action))
            except InvalidAction:
                calls.append(None)
        start = time.perf_counter()
        for call in calls:
            if call is not None:
                try:
                    raw._step(call)
                except InvalidAction:
                    pass
            raw._observe()
        elapsed += time.perf_counter() - start
    return elapsed


def bench_env(env_id: str, steps: int, seed: int) -> dict:
    env = envgym.make(env_id)
    episodes = collect_actions(env, steps, seed)
    n = sum(len(a) for _, a in episodes)
    t_envgym = min(time_envgym(env, episodes) for _ in range(3))
    t_raw = min(time_raw(env, episodes) for _ in range(3))
    env.close()
    return {
        "steps": n,
        "episodes": len(episodes),
        "envgym_steps_per_s": round(n / t_envgym, 1),
        "raw_steps_per_s": round(n / t_raw, 1),
        "overhead_us_per_step": round((t_envgym - t_raw) / n * 1e6, 2),
        "overhead_ratio": round(t_envgym / t_raw, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", action="append", help="env id (default: every in-process env)")
    args = parser.parse_args()
    ids = args.env or [s.id for s in envgym.list_envs() if "container" not in s.tags and not s.id.startswith("test/")]
    results = {}
    for env_id in ids:
        try:
            results[env_id] = bench_env(env_id, args.steps, args.seed)
        except ImportError as exc:
            results[env_id] = {"error": str(exc)}
    print(json.dumps({"bench": "env_step", "python": platform.python_version(), "machine": platform.machine(),
                      "random_agent": True, "results": results}, indent=2))


if __name__ == "__main__":
    main()
