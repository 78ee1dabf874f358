"""One place for each concept: the estimator registry feeds config validation, the learner and the
comparison script; every agent kind the trainer accepts implements the batched protocol (oracle
seeding works with the free-text LLM agent too); rewards of turns without ids are not lost."""

from __future__ import annotations

import json
import typing

import numpy as np
import pytest

from envgym.agents.base import BatchedAgent
from envgym.trainers import compare
from envgym.trainers.algorithms.estimators import ESTIMATORS, estimate
from envgym.trainers.batching import turn_rows
from envgym.trainers.config import AgentConfig, AlgoConfig, load_config
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.policy import make_agent_factory
from envgym.trainers.train import run
from envgym.trajectory import Episode, Turn

VISION_ONLY_KINDS = {"click_grid"}  # agent kinds that act on screenshots only


def test_every_registered_estimator_is_accepted_labelled_and_computes_advantages():
    assert set(ESTIMATORS) == {"grpo", "dr_grpo", "gigpo", "turn", "dual", "gae", "hae"}
    n = 6
    arrays = {"reward": np.array([0, 0, 1, 0, 0, 0.0]), "group": np.zeros(n, int), "traj": np.array([0, 0, 0, 1, 1, 1]),
              "turn": np.array([0, 1, 2, 0, 1, 2]), "anchor": np.array([0, 1, 2, 0, 1, 3]),
              "switch": np.array([1, 0, 1, 1, 0, 1], bool)}
    values = {k: np.zeros(n) for k in ("v_high", "v_low", "v_term")}
    for name, est in ESTIMATORS.items():
        assert load_config(None, [f"algo.estimator={name}"]).algo.estimator == name
        assert compare.label(name) == est.label
        adv, targets = estimate(name, arrays, AlgoConfig(), values if est.critic else None)
        assert adv.shape == (n,) and np.isfinite(adv).all()
        assert adv[:3].mean() > adv[3:].mean(), name  # the successful trajectory is preferred
        assert bool(targets) == est.critic


def test_every_agent_kind_the_config_accepts_is_a_batched_agent():
    from envgym.agents.backends.scripted import ScriptedBackend
    from envgym.agents.tiny_policy import tiny_policy

    _, tok = tiny_policy(hidden_size=32, layers=1, heads=2, seed=0)
    kinds = typing.get_args(AgentConfig.model_fields["kind"].annotation)
    assert set(kinds) == {"choice", "llm", "hierarchical", "hierarchical_choice", "click_grid"}
    for kind in set(kinds) - VISION_ONLY_KINDS:
        cfg = load_config(None, [f"agent.kind={kind}"])
        agent = make_agent_factory(cfg, tok, ScriptedBackend(tok, ["north"]))(0)
        assert isinstance(agent, BatchedAgent), kind
        obs = {"text": "You are at (0, 0).", "admissible_actions": ["north", "south"], "admissible_subgoals": ["reach the goal"]}
        agent.reset(obs, {})
        agent.prepare(obs, {})
        decision = agent.finish(agent.force("south"))
        assert decision.action == "south" and decision.logprobs is None and decision.completion_ids
    for kind in VISION_ONLY_KINDS:  # a text policy cannot look at a screenshot: a clear error
        with pytest.raises(ValueError, match="vision-language policy"):
            make_agent_factory(load_config(None, [f"agent.kind={kind}"]), tok, ScriptedBackend(tok, ["north"]))


@pytest.mark.parametrize("kind, action", [("click_grid", "click(20, 20)"), ("llm", "click(5, 5)")])
def test_every_agent_kind_of_a_vision_policy_is_a_batched_agent(tmp_path, kind, action):
    """The kinds a vision-language policy accepts record an oracle click with their own prompt (the
    screenshot's placeholders included), the image refs that prompt holds, and no logprobs."""
    import envgym
    from envgym.agents.backends.vision_backend import VisionTransformersBackend
    from envgym.agents.click_grid_agent import cell_tokens
    from envgym.agents.tiny_policy import envgym_corpus
    from envgym.agents.tiny_vlm import build_tiny_vlm
    from envgym.agents.vision import load_vision_policy

    path = build_tiny_vlm("idefics3", tmp_path / "vlm", vocab_corpus=envgym_corpus(200), vocab_size=300, image_size=64,
                          patch_size=8, scale_factor=8, extra_tokens=cell_tokens(8, 6))
    model, processor = load_vision_policy(path)
    cfg = load_config(None, [f"agent.kind={kind}", f"run.out_dir={tmp_path / 'run'}"])
    agent = make_agent_factory(cfg, processor, VisionTransformersBackend(model, processor))(0)
    assert isinstance(agent, BatchedAgent), kind
    env = envgym.make("envgym/PixelClick-v0")
    obs, info = env.reset(seed=3)
    agent.reset(obs, info)
    request = agent.prepare(obs, info)
    decision = agent.finish(agent.force("click(5, 5)"))
    env.close()
    assert decision.action == action and decision.logprobs is None and decision.completion_ids
    assert decision.prompt_ids == request.prompt_ids and processor.count_images(decision.prompt_ids) == 1
    assert len(decision.images) == 1 and (tmp_path / "run" / "images").is_dir()


def test_oracle_seeding_with_the_llm_agent_records_demonstrations(tmp_path):
    overrides = [
        f"run.out_dir={tmp_path}", "run.steps=1", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "eval.episodes_per_task=0", "envs.0.tasks=[maze-3x3-0, maze-3x3-1]", "envs.0.kwargs.max_turns=10",
        "envs.0.workers=4", "rollout.group_size=2", "rollout.batch_episodes=4", "data.seed_with_oracle=true",
        "data.fsync=false", "agent.kind=llm", "agent.max_new_tokens=6",
        "policy.tiny.hidden_size=32", "policy.tiny.layers=1", "policy.tiny.heads=2",
    ]
    summary = run("configs/maze_tiny.yaml", overrides)
    assert summary["policy_version"] == 1
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    seed = next(e for e in events if e.get("event") == "oracle_seed")
    assert seed == {**seed, "episodes": 2, "successes": 2}


def _turn(i: int, reward: float, ids: bool) -> Turn:
    return Turn(index=i, observation={}, action="north", reward=reward,
                prompt_ids=[1, 2] if ids else None, completion_ids=[3] if ids else None, logprobs=[-0.5] if ids else None)


@pytest.mark.parametrize("pattern, expected", [
    ([(0.0, True), (0.0, True), (1.0, False)], [0.0, 1.0]),     # the success reward on a turn without ids
    ([(0.5, False), (0.0, True), (1.0, True)], [0.5, 1.0]),     # before the first row: to the first row
    ([(0.0, True), (0.2, False), (0.3, False), (1.0, True)], [0.5, 1.0]),
])
def test_rewards_of_turns_without_ids_are_kept(pattern, expected):
    episode = Episode(env_id="e", turns=[_turn(i, r, ok) for i, (r, ok) in enumerate(pattern)], success=True)
    rows = turn_rows([Group("g0", (0, 0), TaskRef("e", "t"), [episode], 0)])
    assert rows.reward == expected
    assert sum(rows.reward) == pytest.approx(episode.total_return)
