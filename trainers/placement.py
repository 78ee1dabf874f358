"""Where the trainer's parts run (``cluster.backend``).

A placement builds the three parts the trainer drives — the learner, the rollout backend and the env
cluster — and releases them at the end.  The trainer calls the same methods on whatever it gets back:

* ``local`` (:class:`LocalPlacement`): everything in this process, the learner on the calling thread,
  the env cluster's calls in a thread pool;
* ``ray`` (:class:`envgym.trainers.cluster.placement.RayPlacement`): the learner, the rollout backend
  and the env workers are Ray actors across the nodes of a cluster; the objects handed to the trainer
  are proxies with the same methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.trainers.config import EnvConfig, TrainConfig


class LocalPlacement:
    """The one-process trainer: the learner and the rollout backend hold their own model copies."""

    def __init__(self, config: TrainConfig):
        self.config = config

    def learner(self) -> tuple[Any, Any, str]:
        """``(learner, tokenizer, policy path)``."""
        from envgym.trainers.learner import Learner
        from envgym.trainers.policy import load_learner_policy
        from envgym.trainers.turn_stats import TURN_STATS_FILE, TurnStatsWriter

        model, tokenizer, path = load_learner_policy(self.config)
        learner = Learner(model, tokenizer, self.config, device=self.config.policy.device)
        learner.turn_log = TurnStatsWriter(Path(self.config.run.out_dir) / TURN_STATS_FILE)
        return learner, tokenizer, path

    def rollout_backend(self, learner: Any, tokenizer: Any, path: str) -> Any:
        from envgym.trainers.policy import make_rollout_backend

        return make_rollout_backend(self.config, learner.serving_model(), tokenizer, path)

    def env_cluster(self, configs: list[EnvConfig], *, seed: int, failure_window: int) -> Any:
        from envgym.trainers.env_cluster import EnvCluster

        return EnvCluster(configs, seed=seed, failure_window=failure_window)

    def close(self) -> None:
        """Nothing to release: the session closes the backend and the cluster itself."""


def open_placement(config: TrainConfig, run_dir: Path) -> Any:
    """The placement ``cluster.backend`` asks for (Ray is imported only for ``ray``)."""
    if config.cluster.backend == "ray":
        from envgym.trainers.cluster.placement import RayPlacement

        return RayPlacement(config, run_dir)
    return LocalPlacement(config)
