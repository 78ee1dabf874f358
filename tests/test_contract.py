"""The env contract: Gymnasium semantics, action handling, reserved info keys."""

import math

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envgym
from envgym import ResetNeeded
from envgym.checking import ABSURD_ACTIONS
from tests.toy_envs import CountEnv


@pytest.fixture
def env():
    env = envgym.make("test/Count-v0")
    yield env
    env.close()


def test_check_env_passes(env):
    check_env(env)


def test_reset_and_step_follow_gymnasium(env):
    obs, info = env.reset(seed=3, options={"task": {"task_id": "t", "env_id": "test/Count-v0", "instruction": "i", "spec": {"n": 2}}})
    assert obs["text"] == "count 0/2" and info["task_id"] == "t" and info["turn"] == 0
    obs, reward, terminated, truncated, info = env.step("up")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs["text"].startswith("k is now 1") and obs["last_action_error"] == ""
    obs, reward, terminated, truncated, info = env.step({"name": "up", "arguments": {}})
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    with pytest.raises(ResetNeeded):
        env.step("up")


def test_step_before_reset_is_a_clear_error(env):
    with pytest.raises(ResetNeeded, match="reset"):
        env.step("up")


@pytest.mark.parametrize("action", ABSURD_ACTIONS, ids=lambda a: "object()" if type(a) is object else repr(a)[:30])
def test_absurd_actions_become_action_errors(env, action):
    env.reset(seed=0, options={"task": {"task_id": "t", "env_id": "x", "instruction": "i", "spec": {"n": 3}}})
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["action_error"], "an invalid action must explain itself"
    assert obs["last_action_error"] == info["action_error"]
    assert obs["text"].startswith("Invalid action:")
    assert reward == 0.0 and not terminated
    # the env is still usable and its state unchanged
    obs, *_ = env.step("up")
    assert "k is now 1" in obs["text"] and obs["last_action_error"] == ""


def test_invalid_action_penalty_and_truncation():
    env = envgym.make("test/Count-v0", invalid_action_penalty=0.1, max_turns=3)
    env.reset(seed=0, options={"task": {"task_id": "t", "env_id": "x", "instruction": "i", "spec": {"n": 4}}})
    results = [env.step("down") for _ in range(3)]
    assert [r[1] for r in results] == [-0.1, -0.1, -0.1]
    assert [r[3] for r in results] == [False, False, True]
    assert results[-1][4]["success"] is False


def test_tasks_by_id_dict_and_object():
    tasks = [{"task_id": "a", "env_id": "test/Count-v0", "instruction": "i", "spec": {"n": 1}},
             {"task_id": "b", "env_id": "test/Count-v0", "instruction": "i", "spec": {"n": 2}}]
    env = envgym.make("test/Count-v0", tasks=tasks)
    _, info = env.reset(options={"task": "b"})
    assert info["task_id"] == "b" and env.unwrapped.n == 2
    _, info = env.reset(options={"task": env.unwrapped.tasks["a"]})
    assert info["task_id"] == "a"
    with pytest.raises(KeyError, match="did you mean"):
        env.reset(options={"task": "bb"})
    with pytest.raises(envgym.TaskFileError, match="instruction"):
        env.reset(options={"task": {"task_id": "c", "env_id": "x"}})


def test_seeded_reset_is_deterministic(env):
    first = env.reset(seed=11)
    second = env.reset(seed=11)
    assert first == second


def test_anchor_recurs_for_equal_states(env):
    task = {"task_id": "t", "env_id": "x", "instruction": "i", "spec": {"n": 3}}
    _, info_a = env.reset(options={"task": task})
    *_, info_a1 = env.step("up")
    _, info_b = env.reset(options={"task": task})
    env.step("nonsense")
    *_, info_b1 = env.step("up")
    assert info_a["anchor"] == info_b["anchor"]
    assert info_a1["anchor"] == info_b1["anchor"] != info_a["anchor"]


def test_registered_with_gymnasium_too():
    env = gymnasium.make("test/Count-v0")
    obs, info = env.reset(seed=1)
    assert "count" in obs["text"]


def test_get_set_state_round_trip(env):
    env.reset(seed=0, options={"task": {"task_id": "t", "env_id": "x", "instruction": "i", "spec": {"n": 4}}})
    env.step("up")
    state = env.unwrapped.get_state()
    other = CountEnv()
    other.reset(options={"task": {"task_id": "t", "env_id": "x", "instruction": "i", "spec": {"n": 1}}})
    other.set_state(state)
    assert other._observe() == env.unwrapped._observe()


def test_render_ansi():
    env = envgym.make("test/Count-v0", render_mode="ansi")
    env.reset(seed=0)
    assert "count" in env.render()
    with pytest.raises(ValueError, match="render_mode"):
        envgym.make("test/Count-v0", render_mode="rgb_array")


def test_reward_is_a_python_float(env):
    env.reset(seed=0)
    _, reward, *_ = env.step("bogus")
    assert type(reward) is float and not math.copysign(1.0, reward) < 0


PYTHON_REWARD = "def reward(initial, final, trajectory=None):\n    return {'score': 1.0 if final['k'] >= 2 else 0.0, 'reached': final['k']}\n"


def python_reward_task(code):
    return {"task_id": "py", "env_id": "test/Count-v0", "instruction": "count to 3", "spec": {"n": 3},
            "reward": {"kind": "python", "code": code}}


def test_python_reward_tasks_are_scored_by_the_core_at_episode_end(env):
    env.reset(options={"task": python_reward_task(PYTHON_REWARD)})
    rewards = [env.step("up")[1] for _ in range(2)]
    *_, reward, terminated, _, info = env.step("up")
    assert rewards == [0.0, 0.0], "intermediate steps pay nothing"
    assert terminated and reward == 1.0 and info["success"] is True
    assert info["reward_components"]["reached"] == 3


def test_python_reward_that_cannot_run_is_an_infra_error(env):
    env.reset(options={"task": python_reward_task("def reward(initial, final, trajectory=None):\n    return 1 / 0\n")})
    for _ in range(2):
        env.step("up")
    *_, reward, terminated, _, info = env.step("up")
    assert terminated and reward == 0.0 and info["success"] is False
    assert "could not run" in info["infra_error"]
