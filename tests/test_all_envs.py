"""Every registered in-process env honours the contract: check_env passes, the oracle solves every
task of its task set, and nonsense actions never raise."""

import pytest
from gymnasium.utils.env_checker import check_env

import envgym
from envgym.agents import OracleAgent, RandomAgent, run_episode
from tests.test_contract import ABSURD_ACTIONS

IN_PROCESS = [s.id for s in envgym.list_envs()
              if s.id.startswith("envgym/") and "container" not in s.tags and "web" not in s.tags]


def test_builtin_envs_exist():
    assert {"envgym/Maze-v0", "envgym/Household-v0", "envgym/SQL-v0"} <= set(IN_PROCESS)


@pytest.mark.parametrize("env_id", IN_PROCESS)
def test_check_env(env_id):
    env = envgym.make(env_id)
    check_env(env)
    env.close()


@pytest.mark.parametrize("env_id", IN_PROCESS)
def test_oracle_solves_every_task(env_id):
    env = envgym.make(env_id)
    tasks = list(env.unwrapped.tasks)
    assert len(tasks) >= 20, f"{env_id} ships only {len(tasks)} tasks"
    agent = OracleAgent(env)
    failures = [t.task_id for t in tasks if not run_episode(env, agent, task=t).success]
    assert not failures, f"oracle failed on {failures}"
    env.close()


@pytest.mark.parametrize("env_id", IN_PROCESS)
def test_nonsense_never_raises(env_id):
    env = envgym.make(env_id)
    env.reset(seed=0)
    for action in ABSURD_ACTIONS:
        obs, reward, terminated, truncated, info = env.step(action)
        assert info.get("action_error"), f"{action!r} was accepted"
        assert obs["last_action_error"] and isinstance(obs["text"], str)
        if terminated or truncated:
            env.reset(seed=0)
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


WEB = [s.id for s in envgym.list_envs() if "web" in s.tags]


def test_web_envs_are_registered():
    assert len(WEB) >= 4


@pytest.mark.parametrize("env_id", WEB)
def test_check_env_web(env_id):
    env = envgym.make(env_id)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()
