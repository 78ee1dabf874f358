"""``cluster.backend: ray``: the trainer's parts as Ray actors (see :mod:`envgym.trainers.placement`).

The driver (the process that runs ``envgym train``) keeps the data manager, the episodes' agent loop
(prompts, parsing) and the run directory; the learner, the rollout backend and the env workers are
actors placed by the resources ``cluster.learner``, ``cluster.rollout`` and ``cluster.env_actors``
ask for (a GPU each for the learner and the rollout backend when ``policy.device`` is cuda).
The run directory gets ``cluster.jsonl`` (placement events) and ``cluster.json`` (where everything
ran, restarts, env steps per node) beside the usual files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from envgym.fileio import atomic_write
from envgym.trainers.cluster.env_actors import RayEnvCluster, env_placement
from envgym.trainers.cluster.model_actors import LearnerActor, RemoteBackend, RemoteLearner, RolloutActor, load_tokenizer
from envgym.trainers.cluster.runtime import ClusterLog, actor_options, alive_nodes, check_feasible, connect, require_ray
from envgym.trainers.cluster.weights import make_weight_sync
from envgym.trainers.config import EnvConfig, TrainConfig


class RayPlacement:
    def __init__(self, config: TrainConfig, run_dir: Path):
        self.ray = require_ray()
        self.config = config
        self.run_dir = Path(run_dir)
        self.owns_connection = connect(config.cluster, local_cpus=self._cpus_asked())
        self.log = ClusterLog(self.run_dir / "cluster.jsonl")
        self.sync = make_weight_sync(config.cluster.weight_sync)
        self.actors: dict[str, Any] = {}
        self.where: dict[str, dict[str, Any]] = {}
        self.envs: RayEnvCluster | None = None
        self._check_resources()
        self.log.write("driver_connected", address=config.cluster.address, nodes=alive_nodes())

    def _cpus_asked(self) -> float:
        """Logical CPUs the learner, the rollout backend and every env actor ask for together."""
        envs = sum(math.ceil(env.workers / env_placement(self.config.cluster, env).envs_per_actor)
                   * env_placement(self.config.cluster, env).num_cpus for env in self.config.envs)
        return self.config.cluster.learner.num_cpus + self.config.cluster.rollout.num_cpus + envs

    def _check_resources(self) -> None:
        nodes = alive_nodes()
        for role, options in self._model_options().items():
            check_feasible(role, options, nodes)
        for env in self.config.envs:
            check_feasible(f"env ({env.key})", actor_options(env_placement(self.config.cluster, env)), nodes)
        known = {env.key for env in self.config.envs} | {env.id for env in self.config.envs}
        unknown = [o.env for o in self.config.cluster.env_overrides if o.env not in known]
        if unknown:
            raise ValueError(f"cluster.env_overrides names envs that are not configured: {unknown} (envs: {sorted(known)})")

    def _model_options(self) -> dict[str, dict[str, Any]]:
        gpus = 1.0 if str(self.config.policy.device).startswith("cuda") else 0.0
        return {"learner": actor_options(self.config.cluster.learner, default_gpus=gpus),
                "rollout": actor_options(self.config.cluster.rollout, default_gpus=gpus)}

    # ------------------------------------------------------------------ the parts
    def learner(self) -> tuple[RemoteLearner, Any, str]:
        """Starts the learner and the rollout actors together (each loads the policy), waits for both."""
        from envgym.trainers.policy import policy_path

        path = policy_path(self.config)  # built here first (the tiny policy), so actors on this machine reuse it
        config = self.config.model_dump(mode="json")
        options = self._model_options()
        self.actors["learner"] = self.ray.remote(LearnerActor).options(**options["learner"]).remote(config)
        self.actors["rollout"] = self.ray.remote(RolloutActor).options(**options["rollout"]).remote(config)
        tokenizer = load_tokenizer(self.config)
        for role in ("learner", "rollout"):
            self.where[role] = self._started(role)
        self.sync.setup(self.actors["learner"], self.actors["rollout"])
        return RemoteLearner(self.actors["learner"], self.where["learner"], self.sync), tokenizer, path

    def _started(self, role: str) -> dict[str, Any]:
        timeout = self.config.cluster.actor_start_timeout_s
        try:
            where = self.ray.get(self.actors[role].where.remote(), timeout=timeout)
        except self.ray.exceptions.GetTimeoutError:
            raise RuntimeError(f"the {role} actor did not start within cluster.actor_start_timeout_s={timeout} s "
                               f"(it asks for {self._model_options()[role]}; `ray status` shows what is free)") from None
        except self.ray.exceptions.RayTaskError as exc:
            raise exc.cause if isinstance(exc.cause, Exception) else exc from None
        self.log.write(f"{role}_ready", **where)
        return where

    def rollout_backend(self, learner: RemoteLearner, tokenizer: Any, path: str) -> RemoteBackend:
        backend = RemoteBackend(self.actors["rollout"], self.where["rollout"], self.sync, tokenizer)
        backend.update_weights(learner.policy_state_dict(), learner.version)  # the learner's weights, exactly
        return backend

    def env_cluster(self, configs: list[EnvConfig], *, seed: int, failure_window: int) -> RayEnvCluster:
        # lockstep (sync): the episodes of a batch step together, one Ray call per actor carries them
        # all; async: one call per env step, so a slow env never holds back the episodes beside it
        self.envs = RayEnvCluster(configs, seed=seed, failure_window=failure_window, cluster=self.config.cluster,
                                  log=self.log, batch_calls=self.config.mode == "sync")
        return self.envs

    # ------------------------------------------------------------------ end
    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"address": self.config.cluster.address, **{role: where for role, where in self.where.items()}}
        if self.envs is not None:
            out.update(self.envs.placement_summary())
        return out

    def close(self) -> None:
        """Write ``cluster.json``, end the learner (the session closed the rollout backend and the env
        actors), and disconnect when this placement connected."""
        if not self.ray.is_initialized():
            return
        atomic_write(self.run_dir / "cluster.json", json.dumps(self.summary(), indent=1, default=str))
        for handle in self.actors.values():
            self.ray.kill(handle, no_restart=True)
        if self.owns_connection:
            self.ray.shutdown()
