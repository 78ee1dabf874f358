"""End to end with the tiny policy: one sync and one async training step change the weights, bump
the policy version, publish it, and leave a consistent run directory."""

from __future__ import annotations

import json

import pytest
import torch

from envgym.agents.tiny_policy import tiny_policy
from envgym.trajectory import read_episodes
from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
from envgym.trainers.train import run

TINY = {"hidden_size": 32, "layers": 1, "heads": 2, "seed": 0}


def small_overrides(tmp_path, mode, estimator="gigpo"):
    return [
        f"run.out_dir={tmp_path}", "run.steps=1", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "run.checkpoint_every=0", f"mode={mode}", "eval.episodes_per_task=0",
        "envs.0.tasks=[maze-3x3-0]", "envs.0.kwargs.max_turns=8", "data.seed_with_oracle=true", "envs.0.workers=8",
        "rollout.group_size=2", "rollout.batch_episodes=4", "data.drop_uniform_groups=false", "data.fsync=false",
        f"algo.estimator={estimator}",
        *[f"policy.tiny.{k}={v}" for k, v in TINY.items()],
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_training_step_changes_weights_and_bumps_version(tmp_path, mode):
    summary = run("configs/maze_tiny.yaml", small_overrides(tmp_path, mode))
    assert summary["steps"] == 1 and summary["policy_version"] == 1
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))
    assert ckpt["step"] == 1 and ckpt["learner"]["version"] == 1
    initial, _ = tiny_policy(**TINY)
    changed = [name for name, value in initial.state_dict().items()
               if not torch.equal(value, ckpt["learner"]["model"][name])]
    assert changed, "the optimizer step did not change any weight"
    assert ckpt["learner"]["optimizer"]["state"], "Adam state is empty"
    episodes = read_episodes(tmp_path / "trajectories.jsonl")
    assert len(episodes) >= 4
    first_batch = [t for ep in episodes[:4] for t in ep.turns]
    assert all(t.policy_version == 0 and t.completion_ids and t.logprobs for t in first_batch)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    step = [r for r in records if r.get("step") == 1 and "policy_version" in r]
    assert step and step[0]["policy_version"] == 1 and step[0]["train/rows"] > 0
    if mode == "async":
        assert step[0]["train/decoupled"] in (0.0, 1.0)


def test_hae_estimator_trains_value_heads(tmp_path):
    summary = run("configs/maze_tiny.yaml", small_overrides(tmp_path, "sync", estimator="hae"))
    assert summary["policy_version"] == 1
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))
    assert ckpt["learner"]["value_head"] is not None


def test_fewer_env_workers_than_episodes_does_not_stall_lockstep_batching(tmp_path):
    """Episodes waiting for an env worker must not hold back the generation batch of the others."""
    overrides = small_overrides(tmp_path, "sync") + ["envs.0.workers=3", "rollout.batch_episodes=8"]
    summary = run("configs/maze_tiny.yaml", overrides)
    assert summary["steps"] == 1 and summary["policy_version"] == 1
    assert len(read_episodes(tmp_path / "trajectories.jsonl")) >= 8


@pytest.mark.parametrize("extra", [
    ["algo.estimator=grpo", "loss.kind=gspo", "loss.eps_low=0.0003", "loss.eps_high=0.0004", "loss.agg=seq-mean-token-mean"],
    ["algo.estimator=dr_grpo", "loss.kl_coef=0.05", "loss.agg=seq-mean-token-sum-norm"],
    ["algo.estimator=turn", "data.step_filter_rho=0.5", "loss.objective=decoupled"],
    ["algo.estimator=dual", "loss.is_level=sequence", "loss.is_mode=mask", "optim.epochs=2", "optim.minibatches=2"],
    ["algo.estimator=gae", "optim.lr_schedule=linear"],
])
def test_estimator_and_loss_variants_train(tmp_path, extra):
    summary = run("configs/maze_tiny.yaml", small_overrides(tmp_path, "sync") + extra)
    assert summary["policy_version"] == 1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in records if r.get("step") == 1 and "policy_version" in r)
    assert step["train/rows"] > 0 and "train/pg_loss" in step
    assert all(v == v for k, v in step.items() if k.startswith("train/") and isinstance(v, float))  # no NaN
