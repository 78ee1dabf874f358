"""Learner token layout: the ids trained on are exactly the recorded ones (never re-tokenised), the
loss mask covers only completion tokens, and the recomputed logprobs are those the sampler used."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from envgym.agents.backends.base import GenerationRequest
from envgym.agents.backends.choice_backend import ChoiceTransformersBackend
from envgym.agents.backends.scripted import ScriptedBackend
from envgym.agents.choice_agent import ChoiceAgent
from envgym.agents.tiny_policy import tiny_policy
from envgym.trajectory import Episode, Turn
from envgym.trainers.batching import token_batch, turn_rows
from envgym.trainers.config import EnvConfig, load_config
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.env_cluster import EnvCluster
from envgym.trainers.episode import play_episode
from envgym.trainers.learner import Learner
from envgym.trainers.rollout_service import RolloutService

TINY = {"hidden_size": 32, "layers": 1, "heads": 2, "seed": 0}


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return tiny_policy(**TINY)


def _config(**extra):
    overrides = [f"policy.tiny.{k}={v}" for k, v in TINY.items()] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, overrides)


def test_token_batch_holds_exactly_the_recorded_ids_and_masks_only_completions(policy):
    model, tok = policy
    # ids that are NOT the canonical tokenisation of their text: encode("north") is one token, here it
    # arrives as the single-byte tokens of "n","o","r","t","h" — the learner must train on these ids.
    odd = [tok.convert_tokens_to_ids(c) for c in "north"]
    assert odd != tok.encode("north", add_special_tokens=False)
    prompts = [[1, 10, 11, 12], [1, 20]]
    completions = [odd + [2], [tok.encode("south", add_special_tokens=False)[0], 2]]
    turns = [
        Turn(index=i, observation={"text": "x"}, action="north", reward=float(i), prompt_ids=p, completion_ids=c,
             logprobs=[-0.1] * len(c), policy_version=3, extra={"temperature": 1.0})
        for i, (p, c) in enumerate(zip(prompts, completions))
    ]
    ep = Episode(env_id="envgym/Maze-v0", task_id="t", turns=turns, success=True)
    rows = turn_rows([Group("g0", (0, 0), TaskRef("maze", "t"), [ep], 0)])
    batch = token_batch(rows, np.arange(len(rows)), pad_id=tok.pad_token_id)
    for r in range(2):
        n = len(prompts[r]) + len(completions[r])
        assert batch.input_ids[r, :n].tolist() == prompts[r] + completions[r]
        assert batch.attention_mask[r, :n].sum() == n and batch.attention_mask[r, n:].sum() == 0
        masked = batch.input_ids[r][batch.loss_mask[r] > 0].tolist()
        assert masked == completions[r]  # loss only on the agent's own sampled ids
        assert batch.loss_mask[r, : len(prompts[r])].sum() == 0
        assert batch.comp_ids[r, : len(completions[r])].tolist() == completions[r]
    assert batch.rollout_logp[0, :6].tolist() == pytest.approx([-0.1] * 6)


def test_constrained_positions_with_one_choice_are_not_trained():
    turn = Turn(index=0, observation={"text": "x"}, action="east", prompt_ids=[1, 2], completion_ids=[305, 2],
                logprobs=[-1.2, 0.0], policy_version=0, extra={"allowed_ids": [[302, 305, 307, 537], [2]]})
    rows = turn_rows([Group("g", (0, 0), TaskRef("m", "t"), [Episode(env_id="e", turns=[turn])], 0)])
    batch = token_batch(rows, [0], pad_id=0)
    assert batch.comp_mask[0].tolist() == [1.0, 0.0]
    assert batch.loss_mask[0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert batch.constrained == [(0, 0, [302, 305, 307, 537])]


def test_learner_recomputes_the_sampling_logprobs_of_constrained_decoding(policy):
    model, tok = policy
    backend = ChoiceTransformersBackend(model, tok)
    agent = ChoiceAgent(tok, observation="maze_compact", temperature=0.7, seed=5)
    requests, decisions = [], []
    for pos in ("row 1, column 2", "row 0, column 0", "row 2, column 1"):
        obs = {"text": f"#.#\n#A.\n###\nYou are at {pos} of the 3x3 maze.", "admissible_actions": ["north", "south", "east", "west"]}
        requests.append(agent.prepare(obs, {}))
        decisions.append(agent.finish(backend.generate([requests[-1]])[0]))
    turns = [Turn(index=i, observation={}, action=d.action, prompt_ids=d.prompt_ids, completion_ids=d.completion_ids,
                  logprobs=d.logprobs, policy_version=d.policy_version, extra=d.extra) for i, d in enumerate(decisions)]
    for d in decisions:
        assert d.action in ("north", "south", "east", "west")
        assert d.completion_ids == tok.encode(d.action, add_special_tokens=False) + [agent.end_id]
    rows = turn_rows([Group("g", (0, 0), TaskRef("m", "t"), [Episode(env_id="e", turns=turns)], 0)])
    learner = Learner(model, tok, _config())
    batch = token_batch(rows, np.arange(len(rows)), learner.pad_id)
    with torch.no_grad():
        logp, entropy, _ = learner.completion_logprobs(batch)
    recorded = torch.tensor([d.logprobs for d in decisions])
    assert torch.allclose(logp, recorded * batch.comp_mask, atol=1e-5)
    assert (entropy[:, 0] > 0).all() and (entropy[:, 0] <= np.log(4) + 1e-5).all()


def test_episode_records_scripted_ids_verbatim_and_they_reach_the_loss(policy):
    """Through the real episode loop: the ids a backend returns are the ids in the batch tensor."""
    model, tok = policy
    odd_ids = [tok.convert_tokens_to_ids(c) for c in "east"] + [2]  # non-canonical, not a choice
    backend = ScriptedBackend(tok, [odd_ids], cycle=True)
    agent = ChoiceAgent(tok, observation="text")

    async def go():
        cluster = EnvCluster([EnvConfig(id="envgym/Maze-v0", kwargs={"max_turns": 2}, workers=1)])
        service = RolloutService(backend)
        await service.start()
        service.episode_started()
        try:
            obs_agent = _FreeText(agent)
            return await play_episode(cluster, service, obs_agent, env_key="envgym/Maze-v0", task="maze-3x3-0", seed=0)
        finally:
            service.episode_finished()
            await service.stop()
            cluster.close()

    episode = asyncio.run(go())
    assert episode.infra_error is None and episode.num_turns == 2
    rows = turn_rows([Group("g", (0, 0), TaskRef("m", "t"), [episode], 0)])
    batch = token_batch(rows, np.arange(len(rows)), pad_id=tok.pad_token_id)
    for r, turn in enumerate(episode.turns):
        assert turn.completion_ids == odd_ids
        assert batch.input_ids[r][batch.loss_mask[r] > 0].tolist() == odd_ids


class _FreeText:
    """The choice agent without admissible actions (free text), so a scripted backend can answer."""

    name = "free"

    def __init__(self, agent):
        self.agent = agent

    def reset(self, obs, info):
        self.agent.reset(obs, info)

    def prepare(self, obs, info):
        return self.agent.prepare({k: v for k, v in obs.items() if k != "admissible_actions"}, info)

    def finish(self, generation):
        return self.agent.finish(generation)


def test_generation_request_choices_are_respected_in_a_mixed_batch(policy):
    model, tok = policy
    backend = ChoiceTransformersBackend(model, tok)
    choices = [tok.encode(w, add_special_tokens=False) + [2] for w in ("north", "west")]
    reqs = [GenerationRequest(prompt_ids=[1, 5, 6], max_new_tokens=3, seed=s, metadata={"choices": choices}) for s in range(6)]
    reqs.append(GenerationRequest(prompt_ids=[1, 5], max_new_tokens=3, seed=1))
    out = backend.generate(reqs)
    for gen in out[:-1]:
        assert gen.completion_ids in choices
        assert gen.logprobs[-1] == 0.0 and gen.logprobs[0] <= 0.0
    assert len(out[-1].completion_ids) <= 3
    # seeded requests are reproducible whatever the batch around them
    alone = backend.generate([reqs[2]])[0]
    assert alone.completion_ids == out[2].completion_ids


def test_trie_choices_with_a_shared_prefix_and_the_learner_agrees(policy):
    """Multi-token choices ("go north" / "go south"): the shared first token is forced (logprob 0),
    the decision token is sampled from the masked distribution, and the learner reproduces it."""
    model, tok = policy
    backend = ChoiceTransformersBackend(model, tok)
    agent = ChoiceAgent(tok, observation="text", seed=11)
    obs = {"text": "You are in a corridor.", "admissible_actions": ["go north", "go south", "look"]}
    decisions = []
    for _ in range(4):
        request = agent.prepare(obs, {})
        decisions.append(agent.finish(backend.generate([request])[0]))
    for d in decisions:
        assert d.action in obs["admissible_actions"]
        assert d.completion_ids == agent.choice_ids(d.action)
        allowed = d.extra["allowed_ids"]
        assert len(allowed) == len(d.completion_ids) and len(allowed[-1]) == 1
    turns = [Turn(index=i, observation={}, action=d.action, prompt_ids=d.prompt_ids, completion_ids=d.completion_ids,
                  logprobs=d.logprobs, policy_version=0, extra=d.extra) for i, d in enumerate(decisions)]
    rows = turn_rows([Group("g", (0, 0), TaskRef("m", "t"), [Episode(env_id="e", turns=turns)], 0)])
    learner = Learner(model, tok, _config())
    batch = token_batch(rows, np.arange(len(rows)), learner.pad_id)
    with torch.no_grad():
        logp, _, _ = learner.completion_logprobs(batch)
    for r, d in enumerate(decisions):
        n = len(d.completion_ids)
        expected = torch.tensor(d.logprobs) * batch.comp_mask[r, :n]
        assert torch.allclose(logp[r, :n], expected, atol=1e-5)
