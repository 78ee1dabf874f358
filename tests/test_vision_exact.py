"""Vision-language turns are exact: the learner re-runs each turn on the recorded ids and the recorded
images (read back from the content-addressed store, through the recorded processor settings) and
its logprobs match the rollout's — fp32 on the CPU, mean |Δ| ≤ 1e-4 per turn — for tiny from-config
VLMs of three hub families with locally built processors: several images across turns, images of
different sizes, and a memory window that drops old turns' images."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from envgym.agents.backends.base import GenerationRequest
from envgym.agents.backends.transformers_backend import TransformersBackend
from envgym.agents.backends.vision_backend import VisionTransformersBackend
from envgym.agents.llm.vision_agent import VisionLLMAgent
from envgym.agents.loop import record_turn
from envgym.agents.tiny_policy import build_tiny_policy, envgym_corpus
from envgym.agents.tiny_vlm import build_tiny_vlm
from envgym.agents.vision import load_vision_policy
from envgym.image_store import ImageStore
from envgym.trajectory import Episode
from envgym.trainers.batching import turn_rows
from envgym.trainers.config import TrainConfig
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.learner import Learner

SIZES = [(320, 200), (200, 300), (640, 360), (150, 150), (300, 180), (420, 240)]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def vlm_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlms")
    corpus = envgym_corpus(300)
    return {
        "qwen2_vl": build_tiny_vlm("qwen2_vl", root / "qwen2_vl", vocab_corpus=corpus, vocab_size=400),
        "idefics3": build_tiny_vlm("idefics3", root / "idefics3", vocab_corpus=corpus, vocab_size=400),
        "idefics3_split": build_tiny_vlm("idefics3", root / "idefics3_split", vocab_corpus=corpus, vocab_size=400,
                                         image_splitting=True),
        "llava": build_tiny_vlm("llava", root / "llava", vocab_corpus=corpus, vocab_size=400),
    }


def screenshot(turn: int) -> bytes:
    width, height = SIZES[turn % len(SIZES)]
    image = Image.new("RGB", (width, height), (240, 240, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle([12 * turn, 20, 12 * turn + 60, 80], fill=(40 * turn % 255, 90, 200))
    draw.ellipse([width - 50, height - 40, width - 10, height - 5], fill=(200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def play(path, run_dir, *, window, turns=5, max_images=None, backend=None):
    """A VisionLLMAgent's episode on screenshots of changing sizes; returns (episode, decisions)."""
    torch.manual_seed(0)
    backend = backend or VisionTransformersBackend(path)
    agent = VisionLLMAgent(backend, image_store=run_dir / "images", window=window, max_images=max_images,
                           sampling={"max_new_tokens": 5, "temperature": 1.0, "seed": 11})
    episode, decisions = Episode(env_id="screens"), []
    observation = {"text": "Task: find the red dot", "image": screenshot(0), "instruction": "find the red dot"}
    agent.reset(observation, {})
    for turn in range(turns):
        decision = agent.act(observation, {})
        decisions.append(decision)
        episode.turns.append(record_turn(turn, {"text": observation["text"]}, decision, 0.0, turn == turns - 1, False, {}))
        observation = {"text": f"Moved ({turn}).", "image": screenshot(turn + 1)}
    return episode, decisions


def learner_gaps(path, run_dir, episodes, *, change=None) -> list[float]:
    """Mean |learner − rollout| logprob per turn, the learner on its own copy of the model and its own
    processor, reading images from the run's store; ``change(model, processor)`` as on the rollout side."""
    model, processor = load_vision_policy(path)
    if change is not None:
        change(model, processor)
    config = TrainConfig()
    config.run.out_dir = str(run_dir)
    learner = Learner(model, processor, config)
    rows = turn_rows([Group("g0", (0, 0), TaskRef("screens", "t"), list(episodes), 0)])
    learner.model.eval()
    with torch.no_grad():
        logp, _, _, _ = learner.row_logprobs(rows, np.arange(len(rows)))
    gaps = []
    for i in range(len(rows)):
        n = len(rows.completion_ids[i])
        gaps.append(float((logp[i, :n] - torch.tensor(rows.rollout_logp[i])).abs().mean()))
    return gaps


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "idefics3_split", "llava"])
def test_learner_logprobs_match_with_images_on_every_turn(family, vlm_dirs, tmp_path):
    episode, decisions = play(vlm_dirs[family], tmp_path, window=None)
    assert [len(d.images) for d in decisions] == [1, 2, 3, 4, 5]  # every earlier screenshot stays in context
    assert not any(d.extra["prompt_rebuilt"] for d in decisions)
    for earlier, later in zip(decisions, decisions[1:]):  # token-in: each prompt extends the last one
        assert later.prompt_ids[: len(earlier.prompt_ids) + len(earlier.completion_ids)] == earlier.prompt_ids + earlier.completion_ids
        assert later.images[:-1] == earlier.images
    gaps = learner_gaps(vlm_dirs[family], tmp_path, [episode])
    print(f"\n{family} all images: per-turn mean |Δlogp| {['%.2e' % g for g in gaps]}")
    assert max(gaps) <= TOLERANCE


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3"])
def test_a_window_drops_old_images_with_their_turns(family, vlm_dirs, tmp_path):
    episode, decisions = play(vlm_dirs[family], tmp_path, window=2, turns=6)
    assert [len(d.images) for d in decisions] == [1, 2, 3, 3, 3, 3]
    assert [d.extra["prompt_rebuilt"] for d in decisions] == [False, False, False, True, True, True]
    assert len({d.extra["context_id"] for d in decisions}) == 4  # every rebuild starts a new context
    assert decisions[3].images == decisions[2].images[1:] + [decisions[3].images[-1]]  # the oldest went
    gaps = learner_gaps(vlm_dirs[family], tmp_path, [episode])
    print(f"\n{family} window=2: per-turn mean |Δlogp| {['%.2e' % g for g in gaps]}")
    assert max(gaps) <= TOLERANCE


def test_max_images_drops_turns_until_the_images_fit(vlm_dirs, tmp_path):
    episode, decisions = play(vlm_dirs["qwen2_vl"], tmp_path, window=None, turns=4, max_images=2)
    assert [len(d.images) for d in decisions] == [1, 2, 2, 2]
    assert [d.extra["prompt_rebuilt"] for d in decisions] == [False, False, True, True]
    assert max(learner_gaps(vlm_dirs["qwen2_vl"], tmp_path, [episode])) <= TOLERANCE


def test_placeholder_counts_follow_the_image_size(vlm_dirs, tmp_path):
    """Qwen2-VL and a splitting Idefics3 give screenshots of other sizes other numbers of image tokens;
    a fixed-size family gives every screenshot the same number."""
    counts = {}
    for family in ("qwen2_vl", "idefics3_split", "idefics3"):
        _, decisions = play(vlm_dirs[family], tmp_path / family, window=0, turns=4)
        model, _ = load_vision_policy(vlm_dirs[family])
        counts[family] = [d.prompt_ids.count(model.config.image_token_id) for d in decisions]
    print(f"\nimage tokens per screenshot of sizes {SIZES[:4]}: {counts}")
    assert len(set(counts["qwen2_vl"])) > 1 and len(set(counts["idefics3_split"])) > 1
    assert len(set(counts["idefics3"])) == 1


def test_the_learner_refuses_images_that_are_not_what_the_rollout_saw(vlm_dirs, tmp_path):
    episode, _ = play(vlm_dirs["idefics3"], tmp_path, window=None, turns=2)
    store = ImageStore(tmp_path / "images")
    first = episode.turns[0].images[0]["id"]
    store.path(first).write_bytes(screenshot(5))  # someone replaced the file
    with pytest.raises(ValueError, match="corrupted"):
        learner_gaps(vlm_dirs["idefics3"], tmp_path, [episode])
    episode.turns[1].images = episode.turns[1].images[:1]  # a record that lost a ref
    episode.turns = episode.turns[1:]
    store.path(first).unlink()
    with pytest.raises((ValueError, FileNotFoundError)):
        learner_gaps(vlm_dirs["idefics3"], tmp_path, [episode])


def test_screenshots_are_stored_once(vlm_dirs, tmp_path):
    """Content addressing: the same screenshot in every turn of a context, and in a second episode,
    is one file."""
    play(vlm_dirs["idefics3"], tmp_path, window=None, turns=4)
    store = ImageStore(tmp_path / "images")
    files = sorted(p for p in (tmp_path / "images").rglob("*.png"))
    assert len(files) == 4  # 4 screenshots, referenced 1 + 2 + 3 + 4 times
    play(vlm_dirs["idefics3"], tmp_path, window=None, turns=4)
    assert sorted(p for p in (tmp_path / "images").rglob("*.png")) == files
    assert all(store.get(p.stem) for p in files)


def prefer_placeholders(model, processor, logit=30.0):
    """An output bias that makes the image placeholder tokens by far the likeliest next tokens."""
    head = model.get_output_embeddings()
    bias = torch.zeros(head.out_features)
    bias[processor.placeholder_ids] = logit
    head.bias = torch.nn.Parameter(bias)


def test_image_placeholders_are_never_sampled_and_the_learner_masks_them_too(vlm_dirs, tmp_path):
    """A sampled <|image_pad|> would claim an image no prompt holds: the backend samples from the
    distribution over the other tokens, and the learner recomputes that same distribution."""
    model, processor = load_vision_policy(vlm_dirs["qwen2_vl"])
    assert len(processor.placeholder_ids) == 4  # image pad, video pad, vision start and end
    prefer_placeholders(model, processor)
    episode, decisions = play(None, tmp_path, window=None, turns=3, backend=VisionTransformersBackend(model, processor))
    assert sum(len(d.completion_ids) for d in decisions) >= 3
    assert not set(processor.placeholder_ids) & {t for d in decisions for t in d.completion_ids}
    assert processor.count_images(decisions[-1].prompt_ids) == len(decisions[-1].images) == 3
    gaps = learner_gaps(vlm_dirs["qwen2_vl"], tmp_path, [episode], change=prefer_placeholders)
    print(f"\nqwen2_vl, placeholders preferred: per-turn mean |Δlogp| {['%.2e' % g for g in gaps]}")
    assert max(gaps) <= TOLERANCE


def test_a_text_backend_refuses_a_request_with_images(tmp_path):
    backend = TransformersBackend(build_tiny_policy(tmp_path / "text", vocab_corpus=envgym_corpus(200), vocab_size=300))
    request = GenerationRequest(prompt_ids=[1, 2, 3], images=[object()])
    with pytest.raises(ValueError, match="cannot see"):
        backend.generate([request])
