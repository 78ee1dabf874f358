"""Trainer guards: config values outside their domain are rejected with the key named; a NaN/inf
stops the run with a clear error and keeps the last good checkpoint; a broken env stops the run
with its errors reported while a flaky one (2% of steps fail) trains on."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import envgym
from envgym.envs.maze.env import MazeEnv
from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
from envgym.trainers.config import ConfigError, load_config
from envgym.trainers.learner import NonFiniteError
from envgym.trainers.train import run

ROOT = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 32, "layers": 1, "heads": 2, "seed": 0}


def overrides(tmp_path, *extra):
    return [
        f"run.out_dir={tmp_path}", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "mode=sync", "eval.episodes_per_task=0", "envs.0.tasks=[maze-3x3-0]", "envs.0.kwargs.max_turns=8",
        "envs.0.workers=8", "rollout.group_size=2", "rollout.batch_episodes=4", "data.drop_uniform_groups=false",
        "data.fsync=false", *[f"policy.tiny.{k}={v}" for k, v in TINY.items()], *extra,
    ]


@pytest.mark.parametrize("override, key, words", [
    ("algo.gamma=1.5", "algo.gamma", "less than or equal to 1"),
    ("algo.lam=-0.1", "algo.lam", "greater than or equal to 0"),
    ("algo.lam_seg=2", "algo.lam_seg", "less than or equal to 1"),
    ("optim.lr=.inf", "optim.lr", "finite"),
    ("optim.lr=0", "optim.lr", "greater than 0"),
    ("optim.lr=.nan", "optim.lr", "finite"),
    ("optim.betas=[0.9, 1.0]", "optim.betas", "[0, 1)"),
    ("optim.grad_clip=0", "optim.grad_clip", "greater than 0"),
    ("data.step_filter_rho=1.5", "data.step_filter_rho", "less than or equal to 1"),
    ("data.min_task_weight=0", "data.min_task_weight", "greater than 0"),
    ("loss.eps_low=1.0", "loss.eps_low", "less than 1"),
    ("loss.eps_high=-0.2", "loss.eps_high", "greater than or equal to 0"),
    ("loss.is_cap=0", "loss.is_cap", "greater than 0"),
    ("loss.kl_coef=-1", "loss.kl_coef", "greater than or equal to 0"),
    ("agent.temperature=-1", "agent.temperature", "greater than or equal to 0"),
    ("run.abort_failure_rate=0", "run.abort_failure_rate", "greater than 0"),
    ("algo.estimator=ppo2", "algo.estimator", "unknown estimator 'ppo2'; known: grpo"),
])
def test_values_outside_their_domain_are_rejected_naming_the_key(override, key, words):
    with pytest.raises(ConfigError) as err:
        load_config("configs/maze_tiny.yaml", [override])
    message = str(err.value)
    assert f"{key}:" in message and words in message, message


def test_a_nan_stops_training_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    # Adam at lr 1e30 throws every weight to ~1e30 in step 1 (still finite: checkpointed); step 2's
    # forward pass overflows and its loss is NaN.
    extra = ["run.steps=4", "run.checkpoint_every=1", "optim.lr=1e30", "optim.minibatches=1", "data.seed_with_oracle=true"]
    with pytest.raises(NonFiniteError, match="the loss is nan"):
        run("configs/maze_tiny.yaml", overrides(tmp_path, *extra))
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))
    assert ckpt["step"] == 1
    assert all(torch.isfinite(t).all() for t in ckpt["learner"]["model"].values())
    # the command line says so and exits non-zero
    proc = subprocess.run([sys.executable, "-m", "envgym.trainers.train", "configs/maze_tiny.yaml",
                           *overrides(tmp_path / "cli", *extra)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "training stopped" in proc.stderr and "NaN" not in proc.stdout


class FlakyStepMaze(MazeEnv):
    """2% of steps fail (a crashed page, a lost connection), independently."""

    default_task_file = str(Path(envgym.envs.maze.env.__file__).with_name("tasks.jsonl"))
    rng = random.Random(7)
    lock = threading.Lock()

    def _step(self, call):
        with FlakyStepMaze.lock:
            fail = FlakyStepMaze.rng.random() < 0.02
        if fail:
            raise ConnectionResetError("flaky: lost the env server")
        return super()._step(call)


class BrokenMaze(MazeEnv):
    default_task_file = FlakyStepMaze.default_task_file

    def _reset(self, task):
        raise OSError("broken: the database file is gone")


envgym.register("test/FlakyStepMaze-v0", FlakyStepMaze, override=True)
envgym.register("test/BrokenMaze-v0", BrokenMaze, override=True)


def test_a_flaky_env_trains_on_and_a_broken_one_stops_the_run_with_its_errors(tmp_path):
    # flaky: max_turns 24 → ~38% of episodes hit a failed step; the failure *rate per call* is ~2%
    flaky = ["envs.0.id=test/FlakyStepMaze-v0", "envs.0.kwargs.max_turns=24", "run.steps=4",
             "rollout.batch_episodes=8", "run.abort_window=50", "run.checkpoint_every=0"]
    summary = run("configs/maze_tiny.yaml", overrides(tmp_path / "flaky", *flaky))
    assert summary["steps"] == 4 and summary["infra_errors"] > 0
    broken = ["envs.0.id=test/BrokenMaze-v0", "run.steps=4", "run.abort_window=20"]
    with pytest.raises(RuntimeError) as err:
        run("configs/maze_tiny.yaml", overrides(tmp_path / "broken", *broken))
    message = str(err.value)
    assert "env test/BrokenMaze-v0 is failing: 100% of its last 20 calls failed" in message
    assert "broken: the database file is gone" in message
