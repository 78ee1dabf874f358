"""The trainer on Ray (``cluster.backend: ray``): env workers, the rollout backend and the learner as
Ray actors across the nodes of a cluster, behind the interfaces the one-process trainer already uses.

* :mod:`.runtime` — the lazy ``ray`` import, the connection, actor resources, node facts, ``cluster.jsonl``;
* :mod:`.env_actors` — :class:`EnvActor` (N envs on one node) and :class:`RayEnvCluster` (the driver's
  :class:`~envgym.trainers.env_cluster.EnvCluster` over them: placement, lost actors, restarts, new nodes);
* :mod:`.model_actors` — the learner and rollout actors and their proxies;
* :mod:`.weights` — weights from the learner to the rollout actor (object store; NCCL on GPUs);
* :mod:`.placement` — :class:`RayPlacement`, what the trainer builds its parts with.

Ray is imported only when a Ray placement is opened (``pip install 'envgym[ray]'``).
"""
