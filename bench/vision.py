"""Costs of vision-language turns: prints JSON.

* ``store``: what recording screenshots costs per turn — the trajectory line (ids, logprobs, image
  refs) and the new bytes in the content-addressed image store — for a VisionLLMAgent on
  multi-turn PixelClick episodes (window 8: every turn's prompt lists all earlier screenshots) and
  for the click-grid agent on one-click episodes in groups of 8 (one page per group), each at two
  model resolutions (the "downscale" choice: the model's image size is what gets stored);
* ``processor_ms``: per screenshot, the agent's side (decode the env's PNG, resize to the model's
  geometry, processor encode, PNG + sha256 into the store) and the learner's side (read the PNG,
  processor with the recorded settings, digest check) per family;
* ``render_ms``: one PixelClick screenshot drawn by Pillow and by a real Chromium page;
* ``learner``: tokens per second of the learner's forward + backward over batches of turns with
  images, for the tiny VLMs (fp32, 1 torch thread);
* ``load_average``: the machine's load while measuring (shared machines skew every figure).

    python bench/vision.py [--episodes 32] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import envgym  # noqa: E402
from envgym.agents.backends.vision_backend import VisionTransformersBackend  # noqa: E402
from envgym.agents.click_grid_agent import ClickGridAgent, cell_tokens  # noqa: E402
from envgym.agents.llm.vision_agent import VisionLLMAgent  # noqa: E402
from envgym.agents.backends.scripted import ScriptedBackend  # noqa: E402
from envgym.agents.loop import record_turn, run_episode  # noqa: E402
from envgym.agents.tiny_policy import envgym_corpus  # noqa: E402
from envgym.agents.tiny_vlm import build_tiny_vlm  # noqa: E402
from envgym.agents.vision import decode_image, load_vision_policy  # noqa: E402
from envgym.image_store import ImageStore  # noqa: E402
from envgym.trajectory import Episode, EpisodeWriter  # noqa: E402
from envgym.trainers.batching import turn_rows  # noqa: E402
from envgym.trainers.config import TrainConfig  # noqa: E402
from envgym.trainers.data_manager import Group, TaskRef  # noqa: E402
from envgym.trainers.learner import Learner  # noqa: E402
from envgym.trainers.episode import _stored  # noqa: E402


def build(family: str, root: Path, **options) -> Path:
    return build_tiny_vlm(family, root / f"{family}-{options.get('image_size', 0)}-{options.get('max_pixels', 0)}",
                          vocab_corpus=envgym_corpus(300), vocab_size=400, extra_tokens=cell_tokens(8, 6), **options)


def store_costs(path: Path, work: Path, episodes: int, window: int) -> dict:
    """Bytes per turn of multi-turn VisionLLMAgent episodes on PixelClick (3 clicks each; the replies are
    scripted random clicks, so misses change the page and every turn brings a new screenshot)."""
    _, processor = load_vision_policy(path)
    rng = np.random.default_rng(0)
    backend = ScriptedBackend(processor.tokenizer, lambda request: f"click({rng.integers(320)}, {rng.integers(240)})")
    env = envgym.make("envgym/PixelClick-v0", max_turns=3)
    out = work / f"llm-{path.name}"
    store = ImageStore(out / "images")
    turns = 0
    with EpisodeWriter(out / "episodes.jsonl", fsync=False) as writer:
        for seed in range(episodes):
            agent = VisionLLMAgent(backend, image_store=store, processor=processor, window=window, action_format="function",
                                   sampling={"max_new_tokens": 8, "temperature": 1.0, "seed": seed})
            episode = run_episode(env, agent, seed=seed, keep_images=False)
            turns += episode.num_turns
            writer.write(episode)
    env.close()
    line_bytes = (out / "episodes.jsonl").stat().st_size
    return {"agent": f"vision-llm window={window}", "model_image": _model_size(path), "episodes": episodes, "turns": turns,
            "trajectory_bytes_per_turn": round(line_bytes / turns), "image_bytes_per_turn": round(store.disk_bytes() / turns),
            "image_files": store.stats.files, "image_puts_deduplicated": store.stats.deduplicated}


def click_store_costs(path: Path, work: Path, groups: int) -> dict:
    """Bytes per turn of the click-grid agent: groups of 8 one-click episodes on one page each."""
    model, processor = load_vision_policy(path)
    backend = VisionTransformersBackend(model, processor)
    env = envgym.make("envgym/PixelClick-v0", max_turns=1)
    out = work / f"click-{path.name}"
    store = ImageStore(out / "images")
    tasks = env.unwrapped.task_split("train", groups)
    episodes = []
    for task in tasks:
        for member in range(8):
            agent = ClickGridAgent(processor, store, grid=(8, 6), seed=member)
            obs, info = env.reset(options={"task": task})
            agent.reset(obs, info)
            request = agent.prepare(obs, info)
            decision = agent.finish(backend.generate([request])[0])
            _, reward, term, trunc, info = env.step(decision.action)
            episode = Episode(env_id="envgym/PixelClick-v0", task_id=task.task_id)
            episode.turns.append(record_turn(0, _stored(obs, "none"), decision, reward, term, trunc, info))
            episodes.append(episode)
    env.close()
    with EpisodeWriter(out / "episodes.jsonl", fsync=False) as writer:
        for episode in episodes:
            writer.write(episode)
    turns = len(episodes)
    return {"agent": "click-grid", "model_image": _model_size(path), "episodes": turns, "turns": turns,
            "trajectory_bytes_per_turn": round((out / "episodes.jsonl").stat().st_size / turns),
            "image_bytes_per_turn": round(store.disk_bytes() / turns), "image_files": store.stats.files,
            "image_puts_deduplicated": store.stats.deduplicated}


def _model_size(path: Path) -> str:
    _, processor = load_vision_policy(path)
    w, h = processor.prepare(decode_image(envgym.make("envgym/PixelClick-v0").reset(seed=0)[0]["image"])).size
    return f"{w}x{h}"


def processor_ms(path: Path, work: Path, repeats: int) -> dict:
    """Agent side and learner side, per screenshot (median over ``repeats`` different pages)."""
    _, processor = load_vision_policy(path)
    store = ImageStore(work / f"proc-{path.name}")
    env = envgym.make("envgym/PixelClick-v0")
    shots = [env.reset(seed=s)[0]["image"] for s in range(repeats)]
    env.close()
    agent_side, learner_side, refs = [], [], []
    for data in shots:
        start = time.perf_counter()
        screenshot = decode_image(data)
        prepared = processor.prepare(screenshot)
        text = {"qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>go"}.get(processor.family.name, "<image>go")
        _, units = processor.encode(text, [prepared])
        refs.append(processor.prompt_image(store, prepared, units[0], screenshot.size).ref)
        agent_side.append(time.perf_counter() - start)
    fresh = load_vision_policy(path)[1]  # the learner's own processor: nothing cached
    for ref in refs:
        start = time.perf_counter()
        fresh.load(store, ref)
        learner_side.append(time.perf_counter() - start)
    return {"family": processor.family.name, "model_image": refs[0]["size"],
            "agent_ms": round(1000 * statistics.median(agent_side), 2),
            "learner_ms": round(1000 * statistics.median(learner_side), 2)}


def render_ms(repeats: int) -> dict:
    out = {}
    for renderer in ("pil", "chromium"):
        env = envgym.make("envgym/PixelClick-v0", renderer=renderer)
        env.reset(seed=0)
        times = []
        for seed in range(1, repeats + 1):
            start = time.perf_counter()
            env.reset(seed=seed)
            times.append(time.perf_counter() - start)
        env.close()
        out[renderer] = round(1000 * statistics.median(times), 2)
    return out


def learner_tokens_per_s(path: Path, work: Path, rows_per_batch: int, batches: int) -> dict:
    """Forward + backward tokens/s of the learner over click-grid turns (the pixel task's rows)."""
    model, processor = load_vision_policy(path)
    backend = VisionTransformersBackend(model, processor)
    config = TrainConfig()
    config.run.out_dir = str(work / f"learner-{path.name}")
    store = ImageStore(Path(config.run.out_dir) / "images")
    env = envgym.make("envgym/PixelClick-v0", max_turns=1)
    episodes = []
    for seed in range(rows_per_batch):
        agent = ClickGridAgent(processor, store, grid=(8, 6), seed=seed)
        obs, info = env.reset(seed=seed)
        decision = agent.finish(backend.generate([agent.prepare(obs, info)])[0])
        episodes.append(Episode(env_id="x", turns=[record_turn(0, {}, decision, 1.0, True, False, {})]))
    env.close()
    learner = Learner(load_vision_policy(path)[0], load_vision_policy(path)[1], config)
    rows = turn_rows([Group("g", (0, 0), TaskRef("x", "t"), episodes, 0)])
    tokens = sum(len(p) + len(c) for p, c in zip(rows.prompt_ids, rows.completion_ids))
    learner.row_logprobs(rows, np.arange(len(rows)))[0].sum().backward()  # warm: images loaded, caches built
    start = time.perf_counter()
    for _ in range(batches):
        learner.row_logprobs(rows, np.arange(len(rows)))[0].sum().backward()
    seconds = time.perf_counter() - start
    return {"family": processor.family.name, "rows": len(rows), "tokens_per_row": round(tokens / len(rows), 1),
            "parameters": sum(p.numel() for p in learner.model.parameters()),
            "tokens_per_s": round(batches * tokens / seconds), "rows_per_s": round(batches * len(rows) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="small samples (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    episodes = 4 if args.quick else args.episodes
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        small = build("idefics3", work, image_size=112)
        large = build("idefics3", work, image_size=224)
        qwen = build("qwen2_vl", work)
        qwen_small = build("qwen2_vl", work, max_pixels=28 * 28 * 16)
        llava = build("llava", work)
        result = {
            "store": [store_costs(p, work, episodes, window=8) for p in (small, large, qwen, qwen_small)]
                     + [click_store_costs(p, work, max(1, episodes // 8)) for p in (small, large)],
            "processor_ms": [processor_ms(p, work, 5 if args.quick else 30) for p in (small, large, qwen, llava)],
            "render_ms": render_ms(3 if args.quick else 20),
            "learner": [learner_tokens_per_s(p, work, 16 if args.quick else 64, 1 if args.quick else 5) for p in (small, qwen)],
        }
    result["load_average"] = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
