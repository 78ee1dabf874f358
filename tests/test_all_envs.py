"""Every registered in-process env ships a real task set and records whole episodes with any agent.
(The contract itself — check_env, the oracle on every task, absurd actions — is ``envgym check``,
run for every registered env in tests/test_check.py.)"""

import pytest

import envgym
from envgym.agents import RandomAgent, run_episode

IN_PROCESS = [s.id for s in envgym.list_envs()
              if s.id.startswith("envgym/") and "container" not in s.tags and "web" not in s.tags]
WEB = [s.id for s in envgym.list_envs() if "web" in s.tags]


def test_builtin_envs_exist():
    assert {"envgym/Maze-v0", "envgym/Household-v0", "envgym/SQL-v0"} <= set(IN_PROCESS)
    assert len(WEB) >= 4


@pytest.mark.parametrize("env_id", IN_PROCESS)
def test_each_env_ships_at_least_20_solvable_tasks(env_id):
    env = envgym.make(env_id)
    tasks = list(env.unwrapped.tasks)
    assert len(tasks) >= 20, f"{env_id} ships only {len(tasks)} tasks"
    assert all(t.golden.actions for t in tasks), "every task carries its golden actions"
    env.close()


@pytest.mark.parametrize("env_id", IN_PROCESS)
def test_random_agent_episodes_are_recorded_whole(env_id):
    env = envgym.make(env_id)
    episode = run_episode(env, RandomAgent(seed=0), seed=0)
    assert episode.num_turns >= 1 and episode.infra_error is None
    last = episode.turns[-1]
    assert last.terminated or last.truncated
    assert "success" in last.info
    env.close()
