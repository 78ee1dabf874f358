"""Vision turns through the other backends: an OpenAI-compatible server gets screenshots as image_url
data URLs in chat messages (a real HTTP server on loopback), token-id prompts with images are refused
there; the vLLM engine prompt carries the prepared images with the processor call that expanded them;
the click-grid agent's constrained turns (two decisions per click) are exact in the learner too."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

import envgym
from envgym.agents.backends.base import BackendError, GenerationRequest
from envgym.agents.backends.openai_backend import OpenAIBackend
from envgym.agents.backends.vision_backend import VisionTransformersBackend
from envgym.agents.backends.vllm_backend import vllm_prompt
from envgym.agents.click_grid_agent import ClickGridAgent, cell_tokens
from envgym.agents.llm.vision_agent import VisionLLMAgent
from envgym.agents.loop import record_turn, run_episode
from envgym.agents.tiny_policy import envgym_corpus
from envgym.agents.tiny_vlm import build_tiny_vlm
from envgym.agents.vision import load_vision_policy
from envgym.trajectory import Episode
from envgym.trainers.batching import turn_rows
from envgym.trainers.config import TrainConfig
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.learner import Learner
from tests.support.openai_stub import ScriptedOpenAIServer


@pytest.fixture(scope="module")
def click_vlm(tmp_path_factory):
    return build_tiny_vlm("idefics3", tmp_path_factory.mktemp("vlm") / "click", vocab_corpus=envgym_corpus(200),
                          vocab_size=300, image_size=64, patch_size=8, scale_factor=8, extra_tokens=cell_tokens(8, 6))


def test_a_chat_server_gets_screenshots_as_image_url_data_urls(tmp_path):
    clicks = iter(["click(5, 5)", "click(300, 200)", "click(160, 120)"])
    with ScriptedOpenAIServer(lambda endpoint, body: next(clicks)) as server:
        backend = OpenAIBackend(server.base_url, model="vlm")
        agent = VisionLLMAgent(backend, image_store=tmp_path / "images", window=1, action_format="function")
        episode = run_episode(envgym.make("envgym/PixelClick-v0", max_turns=3), agent, seed=4, keep_images=False)
        backend.close()
    assert [turn.action for turn in episode.turns][:2] == ["click(5, 5)", "click(300, 200)"]
    bodies = [body for endpoint, body in server.requests if endpoint == "chat"]
    assert len(bodies) == episode.num_turns
    for turn, body in zip(episode.turns, bodies):
        users = [m for m in body["messages"] if m["role"] == "user"]
        assert len(users) == min(turn.index + 1, 2)  # window=1: the previous turn and this one
        parts = users[-1]["content"]
        assert parts[0]["type"] == "image_url" and parts[-1]["type"] == "text"
        url = parts[0]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert sent.size == (320, 240)  # no processor: the screenshot as the env made it
        assert turn.images[-1]["size"] == [320, 240]  # and recorded for the report
    assert not any(turn.extra.get("ids_exact", True) for turn in episode.turns)  # never trained on


def test_make_agent_gives_a_vision_backend_the_vision_llm_agent(click_vlm, tmp_path):
    from envgym.agents import make_agent

    agent = make_agent("llm", backend=VisionTransformersBackend(click_vlm), image_store=tmp_path / "images")
    assert isinstance(agent, VisionLLMAgent) and agent.store.root == tmp_path / "images"
    episode = run_episode(envgym.make("envgym/PixelClick-v0", max_turns=1), agent, seed=2, keep_images=False)
    assert len(episode.turns[0].images) == 1 and agent.store.get(episode.turns[0].images[0]["id"])


def test_token_prompts_with_images_are_refused_by_an_openai_server(click_vlm):
    _, processor = load_vision_policy(click_vlm)
    with ScriptedOpenAIServer(["x"]) as server:
        backend = OpenAIBackend(server.base_url, model="vlm", tokenizer=processor.tokenizer)
        with pytest.raises(BackendError, match="image_url"):
            backend.generate([GenerationRequest(prompt_ids=[1, 2], images=[object()])])
        backend.close()


def click_episodes(path, store, tasks, members):
    model, processor = load_vision_policy(path)
    backend = VisionTransformersBackend(model, processor)
    env = envgym.make("envgym/PixelClick-v0", max_turns=1)
    groups, requests = [], []
    for g, task in enumerate(env.unwrapped.task_split("train", tasks)):
        episodes = []
        for member in range(members):
            agent = ClickGridAgent(processor, store, seed=100 * g + member)
            obs, info = env.reset(options={"task": task})
            request = agent.prepare(obs, info)
            requests.append(request)
            decision = agent.finish(backend.generate([request])[0])
            _, reward, terminated, truncated, step_info = env.step(decision.action)
            episode = Episode(env_id="envgym/PixelClick-v0", task_id=task.task_id)
            episode.turns.append(record_turn(0, {}, decision, reward, terminated, truncated, step_info))
            episodes.append(episode)
        groups.append(Group(f"g{g}", (g, 0), TaskRef("click", task.task_id), episodes, 0))
    env.close()
    return groups, requests


def test_vllm_prompts_carry_the_prepared_images_and_the_processor_call(click_vlm, tmp_path):
    _, requests = click_episodes(click_vlm, tmp_path / "images", 1, 1)
    prompt = vllm_prompt(requests[0])
    assert prompt["prompt_token_ids"] == requests[0].prompt_ids
    assert [image.size for image in prompt["multi_modal_data"]["image"]] == [(64, 64)]
    assert prompt["mm_processor_kwargs"] == {"do_resize": False}
    assert vllm_prompt(GenerationRequest(prompt_ids=[3, 4])) == {"prompt_token_ids": [3, 4]}


def test_click_grid_turns_are_exact_with_their_masked_choices(click_vlm, tmp_path):
    groups, _ = click_episodes(click_vlm, tmp_path / "images", 3, 4)
    decisions = [turn for group in groups for ep in group.episodes for turn in ep.turns]
    assert all(len(t.completion_ids) == 3 and len(t.extra["allowed_ids"][0]) == 8 and len(t.extra["allowed_ids"][1]) == 6
               for t in decisions)  # a column among 8, a row among 6, then the forced end token
    model, processor = load_vision_policy(click_vlm)
    config = TrainConfig()
    config.run.out_dir = str(tmp_path)
    learner = Learner(model, processor, config)
    rows = turn_rows(groups)
    learner.model.eval()
    with torch.no_grad():
        logp, _, _, mask = learner.row_logprobs(rows, np.arange(len(rows)))
    gaps = [float((logp[i, :2] - torch.tensor(rows.rollout_logp[i][:2])).abs().mean()) for i in range(len(rows))]
    print(f"\nclick grid (idefics3, 1 image token): per-turn mean |Δlogp| max {max(gaps):.2e}")
    assert max(gaps) <= 1e-4
    assert mask[:, 2].sum() == 0  # the forced end token is no decision
