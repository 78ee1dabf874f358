"""Exact resume: SIGKILL a training subprocess mid-run, resume it, and compare with a run that was
never interrupted — same step count, bit-identical weights and optimizer state, and a trajectory
store with every episode exactly once (nothing lost, nothing duplicated)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from envgym.trajectory import read_episodes
from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STEPS = 10


def overrides(out: Path) -> list[str]:
    return [
        f"run.out_dir={out}", f"run.steps={STEPS}", "run.checkpoint_every=1", "run.progress=false",
        "run.tensorboard=false", "run.plot=false", "mode=sync", "eval.episodes_per_task=0",
        "envs.0.tasks=[maze-3x3-0, maze-3x3-1]", "envs.0.kwargs.max_turns=10", "envs.0.workers=16",
        "rollout.group_size=4", "rollout.batch_episodes=8", "data.seed_with_oracle=true", "data.fsync=true",
        "policy.tiny.hidden_size=32", "policy.tiny.layers=1", "policy.tiny.heads=2",
    ]


def start(out: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "envgym.trainers.train", "configs/maze_tiny.yaml", *overrides(out)],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def checkpoint_step(out: Path) -> int:
    pointer = out / "checkpoints" / "latest"
    if not pointer.exists():
        return 0
    return int(pointer.read_text().strip().split("_")[1].split(".")[0])


def episode_keys(out: Path) -> list[tuple[str, int]]:
    return [(ep.metadata["slot_id"], ep.metadata["member"]) for ep in read_episodes(out / "trajectories.jsonl")]


def assert_same_state(a: dict, b: dict) -> None:
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"weights differ: {name}"
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for key in sa:
        for field in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[key][field], sb[key][field]), f"optimizer {field} differs for param {key}"
    assert a["version"] == b["version"]


def test_sigkill_mid_run_then_resume_is_exact(tmp_path):
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    ref = start(reference)

    proc = start(crashed)
    deadline = time.monotonic() + 240
    while checkpoint_step(crashed) < 3:  # wait for a condition, not a duration
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = checkpoint_step(crashed)
    assert killed_at < STEPS
    resume_from = latest_checkpoint(crashed)
    saved = load_checkpoint(resume_from)  # what resume must restore (the file is rotated away later)

    dump = tmp_path / "restored.pt"
    resumed = start(crashed, {"ENVGYM_TRAINER_DUMP_RESTORED": str(dump)})
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    ref_out, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_out

    # 1. the state right after restore is bit-identical to the checkpoint it came from
    restored = torch.load(dump, weights_only=False)
    assert Path(restored["checkpoint"]).name == resume_from.name
    assert_same_state(restored["learner"], saved["learner"])

    # 2. step count and the final state equal those of the uninterrupted run
    summary = json.loads((crashed / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["policy_version"] == STEPS
    final = load_checkpoint(latest_checkpoint(crashed))
    final_ref = load_checkpoint(latest_checkpoint(reference))
    assert final["step"] == final_ref["step"] == STEPS
    assert_same_state(final["learner"], final_ref["learner"])

    # 3. the trajectory store: every episode once, and the same episodes as the uninterrupted run
    keys, ref_keys = episode_keys(crashed), episode_keys(reference)
    assert len(keys) == len(set(keys)), "duplicated trajectories in the store"
    assert sorted(keys) == sorted(ref_keys), "lost or extra trajectories"
    steps_logged = [json.loads(line)["step"] for line in (crashed / "metrics.jsonl").read_text().splitlines()
                    if '"policy_version"' in line]
    assert steps_logged == list(range(1, STEPS + 1))
