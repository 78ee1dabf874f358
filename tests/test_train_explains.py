"""Training explains itself: a warning with likely causes when no step can learn, eval success in
TensorBoard, "resuming from step N", a config reference (``envgym train --help-config`` =
docs/config.md, every key with a meaning), and example configs that load and train."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envgym.cli import app
from envgym.trainers.config import load_config
from envgym.trainers.config_reference import MEANINGS, meaning, reference, sections
from envgym.trainers.explain import SignalWatch, summary_notes
from envgym.trainers.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]
QUICK = ["run.steps=2", "rollout.group_size=2", "rollout.batch_episodes=4", "envs.0.workers=4", "run.progress=false",
         "run.plot=false", "eval.episodes_per_task=1", "run.checkpoint_every=1"]
pytestmark = pytest.mark.timeout(900)


def train(*args: str, python: str = sys.executable, cwd: Path = REPO) -> subprocess.CompletedProcess:
    done = subprocess.run([python, "-m", "envgym", "train", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"}, timeout=800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_config_reference_is_complete_and_docs_are_in_sync():
    keys = [key for _, _, leaves in sections() for key, _ in leaves]
    assert len(keys) > 80 and "run.no_signal_steps" in keys and "envs[].id" in keys and "policy.lora.r" in keys
    missing = [key for _, _, leaves in sections() for key, field in leaves if not meaning(key, field)]
    assert missing == [], f"give these keys a Field(description=...) in trainers/config.py: {missing}"
    assert set(MEANINGS) <= set(keys), f"stale entries in MEANINGS: {sorted(set(MEANINGS) - set(keys))}"
    assert (REPO / "docs" / "config.md").read_text() == reference(), \
        "docs/config.md is stale: python -m envgym.trainers.config_reference > docs/config.md"
    shown = CliRunner().invoke(app, ["train", "--help-config"])
    assert shown.exit_code == 0 and shown.output == reference()
    assert "| `optim.lr` | float | `0.001` | Adam learning rate |" in shown.output


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_loads(config):
    load_config(config)


def test_signal_watch_warns_once_per_quiet_streak_with_the_cause():
    watch = SignalWatch(patience=3)
    quiet = {"train/rows": 8.0, "train/adv_nonzero": 0.0, "rollout/success": 0.0}
    assert [watch.observe(step, quiet) for step in (1, 2)] == [None, None]
    warning = watch.observe(3, quiet)
    assert "no learning signal for 3 steps (up to step 3)" in warning and "no episode succeeds" in warning
    assert "data.seed_with_oracle=true" in warning
    assert watch.observe(4, quiet) is None, "one warning per streak"
    assert watch.observe(5, {"train/loss": 0.3, "train/adv_nonzero": 0.5}) is None
    assert "every episode succeeds" in "".join(filter(None, (watch.observe(s, {**quiet, "rollout/success": 1.0})
                                                              for s in (6, 7, 8))))


def test_short_run_that_dips_gets_a_note():
    (note,) = summary_notes({"eval_success_before": 0.125, "eval_success_after": 0.016, "steps": 30})
    assert "fell from 0.125 to 0.016 in 30 steps" in note and "about 100" in note
    assert summary_notes({"eval_success_before": 0.125, "eval_success_after": 0.5, "steps": 30}) == []


def test_a_run_without_signal_says_so(tmp_path):
    """SQL from scratch: the tiny policy never succeeds, so no step can train."""
    out = tmp_path / "sql"
    done = train("configs/sql_tools.yaml", "policy.source=tiny", "mode=sync", "data.seed_with_oracle=false",
                 "data.replay_successes=false", "data.max_resamples=0", "run.no_signal_steps=2", "agent.max_new_tokens=8",
                 "eval.episodes_per_task=0", *[o for o in QUICK if not o.startswith("eval.")], f"run.out_dir={out}")
    assert "warning: no learning signal for 2 steps (up to step 2): no episode succeeds" in done.stdout
    events = [r for r in read_metrics(out / "metrics.jsonl") if r.get("event") == "no_learning_signal"]
    assert len(events) == 1 and events[0]["step"] == 2


def test_eval_success_in_tensorboard_and_resume_says_where(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "maze"
    first = train("configs/maze_tiny.yaml", *QUICK, f"run.out_dir={out}")
    assert "resuming" not in first.stdout
    tags = EventAccumulator(str(out / "tensorboard")).Reload().Tags()["scalars"]
    assert {"eval/train/success", "eval/train/mean_turns", "rollout/success"} <= set(tags)
    second = train("configs/maze_tiny.yaml", *QUICK, "run.steps=3", f"run.out_dir={out}")
    assert f"resuming {out} from step 2" in second.stdout


def test_text_env_with_admissible_actions_trains(tmp_path):
    train("configs/household_choice.yaml", *QUICK, "data.seed_with_oracle=false", f"run.out_dir={tmp_path / 'h'}")


def test_plugin_env_config_trains(tmp_path):
    """The env ``envgym new-env lights`` scaffolds, installed as a package in a venv, trained with
    configs/plugin_lights.yaml as it ships."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "envgym", "new-env", "lights", "--dir", str(tmp_path / "envgym-lights")], check=True,
                   capture_output=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e",
                    str(tmp_path / "envgym-lights")], check=True)
    probe = textwrap.dedent("import envgym; print(envgym.spec('lights/Lights-v0').entry_point)")
    assert "Lights" in subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout
    train("configs/plugin_lights.yaml", *QUICK, f"run.out_dir={tmp_path / 'run'}", python=python)
