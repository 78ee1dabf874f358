"""Trainer config: YAML + ``key.sub=value`` overrides, and clear errors for bad keys/values."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgym.trainers.config import ConfigError, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_main_config_loads_and_overrides_apply():
    cfg = load_config(ROOT / "configs" / "maze_tiny.yaml", ["algo.estimator=grpo", "mode=async", "optim.lr=3e-4",
                                                           "envs.0.workers=4", "loss.eps_high=0.28", "eval.every=5"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.algo.estimator == "grpo"
    assert cfg.mode == "async" and cfg.staleness == cfg.rollout.max_staleness
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.envs[0].workers == 4 and cfg.envs[0].id == "envgym/Maze-v0"
    assert cfg.loss.eps_high == pytest.approx(0.28)
    base = load_config(ROOT / "configs" / "maze_tiny.yaml")
    assert base.algo.estimator == "gigpo" and base.mode == "sync" and base.staleness == 0


def test_unknown_key_names_the_key_and_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs" / "maze_tiny.yaml", ["algo.estimatr=grpo"])
    message = str(err.value)
    assert "estimatr" in message and "estimator" in message
    with pytest.raises(ConfigError, match="unknown key 'nope' at top level"):
        load_config(None, ["nope=1"])


def test_bad_values_are_reported_with_their_location(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["algo.estimator=ppo2"])
    assert "algo.estimator" in str(err.value)
    with pytest.raises(ConfigError, match="multiple of group_size"):
        load_config(None, ["rollout.group_size=8", "rollout.batch_episodes=12"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["mode"])
    with pytest.raises(ConfigError, match="index"):
        load_config(None, ["envs.3.workers=2"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_config(bad)


def test_gpu_config_loads_and_vllm_path_is_import_guarded():
    cfg = load_config(ROOT / "configs" / "maze_gpu.yaml")
    assert cfg.policy.device == "cuda" and cfg.rollout.backend == "vllm" and cfg.agent.kind == "llm"
    from envgym.trainers.policy import make_rollout_backend

    choice = load_config(None, ["rollout.backend=vllm", "agent.kind=choice"])
    with pytest.raises(ValueError, match="agent.kind=llm"):
        make_rollout_backend(choice, model=None, tokenizer=None, path="unused")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="vllm"):
            make_rollout_backend(cfg, model=None, tokenizer=None, path="/nonexistent-model")
