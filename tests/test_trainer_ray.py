"""The trainer on a real two-node Ray cluster on this machine (``cluster.backend=ray``).

One module-wide cluster: a head (the learner and rollout actors, pinned by a ``trainer`` resource)
and a second node with its own temporary directory, ports and DOCKER_HOST; env actors spread over
both.  The tests check that

* a sync run on Ray (behaviour cloning first, on the learner actor) trains the same weights, bit for
  bit, as the one-process trainer, even when its rollout actor and then its learner actor are lost
  (each stops the run with a clear error; the same command resumes it from its checkpoint) and then
  its driver is SIGKILLed;
* an env actor killed mid-run, then a whole node, turn their running episodes into counted
  infrastructure failures (stored once, never trained), their actors are replaced, training goes
  on, and a node that joins mid-run receives env actors;
* every process of the cluster is gone afterwards.

Without Ray installed, ``envgym train … cluster.backend=ray`` says what to install.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
from envgym.trainers.cluster.local import FAST_FAILURE_DETECTION, LocalRayCluster
from envgym.trainers.config import load_config
from envgym.trainers.trainer import Trainer
from envgym.trajectory import read_episodes

ROOT = Path(__file__).resolve().parents[1]
TINY = ["policy.tiny.hidden_size=32", "policy.tiny.layers=1", "policy.tiny.heads=2"]
QUIET = ["run.progress=false", "run.tensorboard=false", "run.plot=false", "eval.episodes_per_task=0", "data.fsync=false"]
NODE2_DOCKER_HOST = "unix:///run/node2-engine.sock"  # never dialled: only where the node's actors say they are


@pytest.fixture(scope="module")
def cluster():
    ray_cluster = LocalRayCluster(num_cpus=4, resources={"trainer": 2}, system_config=FAST_FAILURE_DETECTION)
    try:
        ray_cluster.add_node("node2", num_cpus=3, resources={"node2": 1}, env={"DOCKER_HOST": NODE2_DOCKER_HOST})
        yield ray_cluster
        ray_cluster.refresh()
    finally:
        ray_cluster.stop()
    assert ray_cluster.leftovers() == [], "Ray processes left behind"


def on_ray(cluster: LocalRayCluster, *extra: str) -> list[str]:
    return ["cluster.backend=ray", f"cluster.address={cluster.address}", "cluster.learner.resources={trainer: 1}",
            "cluster.rollout.resources={trainer: 1}", "cluster.env_actors.num_cpus=0.5",
            "cluster.env_actors.envs_per_actor=8", *extra]


def sync_job(out: Path, steps: int) -> list[str]:
    return [f"run.out_dir={out}", f"run.steps={steps}", "run.checkpoint_every=1", "mode=sync", *QUIET, *TINY,
            "envs.0.tasks=[maze-3x3-0, maze-3x3-1]", "envs.0.kwargs.max_turns=10", "envs.0.workers=16",
            "rollout.group_size=4", "rollout.batch_episodes=8", "data.seed_with_oracle=true",
            "policy.warm_start.steps=2", "policy.warm_start.cache=false"]


def start(overrides: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "envgym.trainers.train", "configs/maze_tiny.yaml", *overrides],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def events(run_dir: Path, name: str | None = None) -> list[dict]:
    path = run_dir / "cluster.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in lines if name is None or e["event"] == name]


def checkpoint_step(run_dir: Path) -> int:
    pointer = run_dir / "checkpoints" / "latest"
    return int(pointer.read_text().split("_")[1].split(".")[0]) if pointer.exists() else 0


def logged_steps(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if '"policy_version"' in line]


def wait_for(condition, what: str, timeout: float = 240, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended while waiting for {what}:\n{proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def episode_keys(run_dir: Path) -> list[tuple[str, int]]:
    return [(ep.metadata["slot_id"], ep.metadata["member"]) for ep in read_episodes(run_dir / "trajectories.jsonl")]


def node_of(run_dir: Path, label: str) -> str:
    """The id of the node started with custom resource ``label``."""
    for event in events(run_dir, "driver_connected") + events(run_dir, "node_joined"):
        for node in event.get("nodes", [event]):
            if label in node.get("labels", []) or label in node.get("resources", {}):
                return node["node"]
    raise AssertionError(f"no node with {label} in {run_dir / 'cluster.jsonl'}")


def kill_mid_run(run_dir: Path, job: list[str], victim: str, steps: int) -> None:
    """Start ``job`` and, past its next checkpoint, SIGKILL ``victim`` (rollout, learner or driver)."""
    started, reached = len(events(run_dir, f"{victim}_ready")), checkpoint_step(run_dir) + 1
    run = start(job)
    wait_for(lambda: checkpoint_step(run_dir) >= reached and (victim == "driver" or len(events(run_dir, f"{victim}_ready")) > started),
             f"checkpoint {reached}", proc=run)
    os.kill(run.pid if victim == "driver" else events(run_dir, f"{victim}_ready")[-1]["pid"], signal.SIGKILL)
    out, _ = run.communicate(timeout=240)
    if victim == "driver":
        assert run.returncode == -signal.SIGKILL
    else:  # the driver stops by itself, saying what happened and what to do
        assert run.returncode == 1, out[-3000:]
        assert f"training stopped: the {victim} actor" in out and "was lost" in out, out[-3000:]
        assert "run the same command again to resume" in out and "Traceback" not in out, out[-3000:]
    assert reached <= checkpoint_step(run_dir) < steps, "the run finished before it could be stopped"


@pytest.mark.timeout(900)  # four runs that each start a learner, a rollout and env actors
def test_sync_run_on_ray_equals_the_local_trainer_bit_for_bit_through_lost_actors_and_a_killed_driver(cluster, tmp_path):
    """The rollout actor dies, then the learner actor, then the driver is SIGKILLed; each time the same
    command resumes the run, which ends with the weights of an uninterrupted one-process run."""
    steps = 6
    local, remote = tmp_path / "local", tmp_path / "ray"
    reference = start(sync_job(local, steps))
    job = sync_job(remote, steps) + on_ray(cluster)
    for victim in ("rollout", "learner", "driver"):
        kill_mid_run(remote, job, victim, steps)
    resumed = start(job)
    out, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, out[-3000:]
    ref_out, _ = reference.communicate(timeout=400)
    assert reference.returncode == 0, ref_out[-3000:]

    final, final_ref = load_checkpoint(latest_checkpoint(remote)), load_checkpoint(latest_checkpoint(local))
    assert final["step"] == final_ref["step"] == steps
    for name, tensor in final_ref["learner"]["model"].items():
        assert torch.equal(tensor, final["learner"]["model"][name]), f"weights differ from the local run: {name}"
    for key, state in final_ref["learner"]["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], final["learner"]["optimizer"]["state"][key]["exp_avg"])
    keys = episode_keys(remote)
    assert len(keys) == len(set(keys)), "an episode is stored twice"
    assert sorted(keys) == sorted(episode_keys(local)), "lost or extra episodes"
    assert logged_steps(remote) == list(range(1, steps + 1))
    placed = json.loads((remote / "cluster.json").read_text())
    stepped = {node for node, n in placed["steps_per_node"].items() if n > 0}
    head, node2 = node_of(remote, "trainer"), node_of(remote, "node2")
    assert {head, node2} <= stepped, placed["steps_per_node"]
    assert {e["docker_host"] for e in events(remote, "env_actor_ready") if e["node"] == node2} == {NODE2_DOCKER_HOST}
    assert {e["node"] for e in events(remote, "learner_ready") + events(remote, "rollout_ready")} == {head}


class FaultScript:
    """Runs beside an in-process trainer: kills an env actor, then node2, then adds node3; ends the
    run (by lowering run.steps) once node3 has run episodes.  Records what it saw."""

    def __init__(self, cluster: LocalRayCluster, trainer: Trainer, run_dir: Path):
        self.cluster, self.trainer, self.run_dir = cluster, trainer, run_dir
        self.error: BaseException | None = None
        self.marks: dict[str, int] = {}
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self._script()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.trainer.config.run.steps = max(1, len(logged_steps(self.run_dir)) + 1)

    def _step(self) -> int:
        return len(logged_steps(self.run_dir))

    def _script(self) -> None:
        run = self.run_dir
        wait_for(lambda: len(events(run, "env_actor_ready")) >= 4 and self._step() >= 1, "4 env actors and a step")
        head, node2 = node_of(run, "trainer"), node_of(run, "node2")
        assert {e["node"] for e in events(run, "env_actor_ready")} == {head, node2}
        victim = next(e for e in events(run, "env_actor_ready") if e["node"] == head)
        os.kill(victim["pid"], signal.SIGKILL)  # an env actor dies (OOM killer, segfault)
        wait_for(lambda: any(e.get("replaces") == victim["actor"] for e in events(run, "env_actor_ready")),
                 "the killed env actor's replacement")
        self.marks["node2_killed_at_step"] = self._step()
        lost_before = len(events(run, "env_actor_lost"))
        self.cluster.kill_node("node2")  # its machine goes away
        wait_for(lambda: len(events(run, "env_actor_lost")) >= lost_before + 2, "node2's actors lost")
        mark = self._step()
        wait_for(lambda: self._step() >= mark + 1, "a step after losing node2")
        self.cluster.add_node("node3", num_cpus=3, resources={"node3": 1})
        wait_for(lambda: any(e.get("labels") == ["node3"] for e in events(run, "node_joined")), "node3 noticed")
        node3 = node_of(run, "node3")
        wait_for(lambda: any(e["node"] == node3 for e in events(run, "env_actor_ready")), "an env actor on node3")
        mark = self._step()
        wait_for(lambda: self._step() >= mark + 1, "a step with node3")
        self.cluster.refresh()


@pytest.mark.timeout(900)
def test_env_actor_and_node_losses_are_infra_failures_and_a_joining_node_gets_env_actors(cluster, tmp_path):
    overrides = [f"run.out_dir={tmp_path}", "run.steps=400", "run.checkpoint_every=0", "mode=async", *QUIET, *TINY,
                 "rollout.max_staleness=2", "envs.0.tasks=[maze-3x3-0, maze-3x3-1]", "envs.0.kwargs.max_turns=8",
                 "envs.0.workers=8", "envs.0.latency.median_s=0.03", "envs.0.latency.sigma=0.5",
                 "rollout.group_size=4", "rollout.batch_episodes=8", "data.drop_uniform_groups=false",
                 *on_ray(cluster, "cluster.env_actors.envs_per_actor=2", "cluster.rebalance_s=1")]
    trainer = Trainer(load_config("configs/maze_tiny.yaml", overrides))
    script = FaultScript(cluster, trainer, tmp_path)
    script.thread.start()
    summary = trainer.run()
    script.thread.join(timeout=60)
    if script.error is not None:
        raise script.error

    # training went on after every loss
    assert summary["steps"] >= script.marks["node2_killed_at_step"] + 2
    # the episodes running on the lost actors are infrastructure failures, counted and stored once
    episodes = read_episodes(tmp_path / "trajectories.jsonl")
    keys = [(ep.metadata["slot_id"], ep.metadata["member"]) for ep in episodes]
    assert len(keys) == len(set(keys)), "an episode is stored twice"
    lost = [ep for ep in episodes if ep.infra_error and "was lost" in ep.infra_error]
    assert len(lost) >= 2, [ep.infra_error for ep in episodes if ep.infra_error]
    assert all(not ep.success for ep in lost)
    assert summary["infra_errors"] >= len(lost)
    last = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"policy_version"' in line][-1]
    assert last["data/infra_excluded"] >= len(lost) - 8  # the last ones may finish after the final step
    # one env actor, then node2's two, were replaced (restart times recorded); node3 ran episodes
    placed = json.loads((tmp_path / "cluster.json").read_text())
    pool = placed["envs"]["envgym/Maze-v0"]
    assert pool["restarts"] >= 3 and len(pool["restart_s"]) >= 3
    assert placed["steps_per_node"].get(node_of(tmp_path, "node3"), 0) > 0, placed["steps_per_node"]


@pytest.mark.timeout(400)
def test_env_actor_restarts_are_bounded_and_a_spent_budget_stops_the_run_clearly(cluster, tmp_path):
    """cluster.max_env_restarts=1: the first lost env actor is replaced, the second is not; with no env
    actor left the run stops, naming the env and the spent budget."""
    overrides = [f"run.out_dir={tmp_path}", "run.steps=400", "run.checkpoint_every=0", "mode=async", *QUIET, *TINY,
                 "run.abort_window=10", "envs.0.tasks=[maze-3x3-0]", "envs.0.kwargs.max_turns=8", "envs.0.workers=2",
                 "envs.0.latency.median_s=0.03", "rollout.group_size=2", "rollout.batch_episodes=2",
                 *on_ray(cluster, "cluster.env_actors.envs_per_actor=2", "cluster.max_env_restarts=1")]
    trainer = Trainer(load_config("configs/maze_tiny.yaml", overrides))
    killed: list[str] = []

    def kill_twice() -> None:
        for _ in range(2):
            ready = wait_for(lambda: [e for e in events(tmp_path, "env_actor_ready") if e["actor"] not in killed],
                             "a running env actor")
            wait_for(lambda: any(e.get("actor") == ready[0]["actor"] for e in events(tmp_path, "env_actor_ready"))
                     and logged_steps(tmp_path), "a training step")
            killed.append(ready[0]["actor"])
            os.kill(ready[0]["pid"], signal.SIGKILL)

    thread = threading.Thread(target=kill_twice, daemon=True)
    thread.start()
    with pytest.raises(RuntimeError, match="restart budget") as failure:
        trainer.run()
    thread.join(timeout=30)
    assert "no env actor left for envgym/Maze-v0" in str(failure.value) and "max_env_restarts=1" in str(failure.value)
    lost = events(tmp_path, "env_actor_lost")
    assert [e["actor"] for e in lost] == killed and [e["replaced"] for e in lost] == [True, False], lost
    assert len(events(tmp_path, "env_actor_ready")) == 2  # the first actor and its one replacement
    episodes = read_episodes(tmp_path / "trajectories.jsonl")
    assert any("was lost" in (ep.infra_error or "") for ep in episodes)


def test_without_ray_the_error_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            f"sys.argv = ['envgym', 'train', 'configs/maze_tiny.yaml', 'run.out_dir={tmp_path}', 'cluster.backend=ray']\n"
            "from envgym.cli import main\n"
            "main()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "pip install 'envgym[ray]'" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
