"""``envgym.adapters.skyrl``: envgym envs through skyrl-gym's own registry (``skyrl_gym.make``) and its
text-env loop (``init`` then ``step`` with the model's raw text until ``done``)."""

from __future__ import annotations

import json

import pytest
import skyrl_gym

import envgym
from envgym.adapters.skyrl import EnvgymTextEnv, register
from envgym.errors import InfraError
from tests.support.interop_envs import INFRA_FAIL_ID


def as_model_text(action: dict, style: str) -> str:
    """An oracle tool call written the way a model writes it."""
    if style == "hermes":
        return f"I will call a tool.\n<tool_call>\n{json.dumps(action)}\n</tool_call>"
    arguments = ", ".join(f"{k}={json.dumps(v)}" for k, v in action["arguments"].items())
    return f"{action['name']}({arguments})"


@pytest.mark.parametrize("style", ["hermes", "call-string"])
def test_sql_episode_through_skyrl_gym_matches_in_process(style):
    name = register("envgym/SQL-v0", name=f"envgym-sql-{style}")
    env = skyrl_gym.make(name, env_config={}, extras={"task": "sql-supplier-customers", "max_turns": 6})
    assert isinstance(env, EnvgymTextEnv)
    local = envgym.make("envgym/SQL-v0")
    local_obs, _ = local.reset(options={"task": "sql-supplier-customers"})
    prompt, metadata = env.init([{"role": "system", "content": "You query databases."}])
    assert prompt[0]["role"] == "system" and prompt[-1] == {"role": "user", "content": local_obs["text"]}
    assert {t["function"]["name"] for t in metadata["tools"]} == {"sql", "describe", "answer"}
    done, turns = False, 0
    while not done:
        action = local.unwrapped.oracle_action()
        obs, reward, terminated, truncated, _ = local.step(action)
        out = env.step(as_model_text(action, style))
        turns += 1
        assert out["observations"] == [{"role": "user", "content": obs["text"]}]
        assert out["reward"] == reward and out["metadata"]["terminated"] == terminated
        done = out["done"]
    assert done and out["reward"] == 1.0 and turns == env.turns == 2
    env.close()
    local.close()


def test_turn_limit_from_extras_truncates_and_infra_errors_raise():
    name = register("envgym/Maze-v0", name="envgym-maze-skyrl", width=5, height=5)
    env = skyrl_gym.make(name, env_config={}, extras={"seed": 3, "max_turns": 2})
    env.init([])
    first = env.step("north")
    second = env.step("north")
    assert not first["done"] and second["done"] and second["metadata"]["truncated"]
    assert not second["metadata"]["terminated"]
    failing = skyrl_gym.make(register(INFRA_FAIL_ID, name="envgym-infra-skyrl"), env_config={}, extras={})
    failing.init([])
    with pytest.raises(InfraError):
        failing.step("infra-info")
