"""Env cluster + rollout service + data manager with a flaky env: infra failures (raised, reported
in ``info`` or any exception) are counted, recorded, excluded from training and re-run; requests
from concurrent episodes are batched into one ``generate`` call."""

from __future__ import annotations

import threading
from pathlib import Path

import envgym
import envgym.envs.maze.env
from envgym.agents.backends.scripted import ScriptedBackend
from envgym.agents.choice_agent import ChoiceAgent
from envgym.agents.tiny_policy import tiny_policy
from envgym.errors import InfraError
from envgym.trajectory import read_episodes
from envgym.envs.maze.env import MazeEnv
from envgym.trainers.config import DataConfig, EnvConfig
from envgym.trainers.data_manager import DataManager, TaskRef
from envgym.trainers.rollout_runner import RolloutRunner


class FlakyMaze(MazeEnv):
    """Fails the first step of the first three episodes: raise InfraError, report info["infra_error"],
    raise a plain exception."""

    default_task_file = str(Path(envgym.envs.maze.env.__file__).with_name("tasks.jsonl"))
    failures = 0
    lock = threading.Lock()

    def _step(self, call):
        with FlakyMaze.lock:
            if self.turn == 1 and FlakyMaze.failures < 3:
                FlakyMaze.failures += 1
                kind = FlakyMaze.failures
            else:
                kind = 0
        if kind == 1:
            raise InfraError("container died")
        if kind == 2:
            transition = super()._step(call)
            transition.info["infra_error"] = "browser crashed"
            return transition
        if kind == 3:
            raise ConnectionResetError("lost the env server")
        return super()._step(call)


envgym.register("test/FlakyMaze-v0", FlakyMaze, override=True)


class CountingBackend(ScriptedBackend):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sizes: list[int] = []

    def generate(self, requests):
        self.batch_sizes.append(len(requests))
        return super().generate(requests)


def test_infra_failures_are_counted_excluded_and_rerun(tmp_path):
    FlakyMaze.failures = 0
    _, tok = tiny_policy(hidden_size=32, layers=1, heads=2, seed=0)
    backend = CountingBackend(tok, ["north", "east", "south", "west"], cycle=True)
    env = EnvConfig(id="test/FlakyMaze-v0", kwargs={"max_turns": 3}, workers=8)
    tasks = [TaskRef(env.key, "maze-3x3-0")]
    data = DataManager(DataConfig(fsync=False, drop_uniform_groups=False, replay_successes=False), tasks,
                       group_size=4, batch_episodes=8, staleness=0, store_dir=tmp_path, seed=0, max_infra_retries=3)
    data.open_store()
    runner = RolloutRunner([env], backend, data, lambda seed: ChoiceAgent(tok, seed=seed), seed=0)
    runner.start()
    try:
        data.set_version(0)
        runner.set_producing(True)
        groups = data.take_batch(stop=threading.Event())
        runner.set_producing(False)
        assert runner.error is None
        assert runner.cluster.infra_errors == 3, runner.cluster.stats
    finally:
        runner.stop()
        data.close()
    assert data.counts["infra_excluded"] == 3
    assert len(groups) == 2 and all(len(g.episodes) == 4 for g in groups)  # groups kept their size
    assert all(ep.infra_error is None and ep.num_turns == 3 for g in groups for ep in g.episodes)
    stored = read_episodes(tmp_path / "trajectories.jsonl")
    failed = [ep for ep in stored if ep.infra_error]
    assert len(failed) == 3 and len(stored) == 11
    assert {"InfraError: container died", "InfraError: browser crashed"} <= {ep.infra_error for ep in failed}
    assert any("lost the env server" in ep.infra_error for ep in failed)
    # concurrent episodes were batched: the first turn of all 8 episodes went out in one call
    assert max(backend.batch_sizes) >= 5
