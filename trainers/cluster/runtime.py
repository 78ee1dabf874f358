"""Ray for the trainer: the lazy import, the connection, actor resources, node facts and the cluster log."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from envgym.trainers.config import ActorPlacement, ClusterConfig

RAY_HINT = "cluster.backend=ray needs Ray: pip install 'envgym[ray]'  (from a clone: pip install -e '.[ray]')"
#: Resource names every Ray node has; the others are the custom ones a node was started with.
_BUILTIN_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


class ActorLostError(RuntimeError):
    """The learner or rollout actor died (or its node went away): the run stops, its latest
    checkpoint resumes it."""


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError naming the extra that installs it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"{RAY_HINT} ({exc})", name="ray") from None
    return ray


def connect(cluster: ClusterConfig, *, local_cpus: float = 0) -> bool:
    """Connect this process to the cluster at ``cluster.address``; ``True`` when this call made the
    connection (and the caller ends it), ``False`` when the process was already connected.
    ``address=local`` starts a private one-machine Ray with at least ``local_cpus`` logical CPUs
    (what the actors ask for: they fit even on a two-core machine)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    address = None if cluster.address == "local" else cluster.address
    options: dict[str, Any] = {}
    if address is None:
        options = {"include_dashboard": False, "num_cpus": max(os.cpu_count() or 1, math.ceil(local_cpus))}
    try:
        ray.init(address=address, namespace=cluster.namespace, configure_logging=False, log_to_driver=True, **options)
    except ConnectionError as exc:
        raise ConnectionError(
            f"no Ray cluster at cluster.address={cluster.address}: start one with `ray start --head` "
            f"(docs/scaling.md), pass its address, or use cluster.address=local for a one-machine Ray ({exc})") from None
    return True


def actor_options(placement: ActorPlacement, *, default_gpus: float = 0.0) -> dict[str, Any]:
    """Ray actor options for ``placement`` (no automatic restarts: the trainer decides what a lost
    actor means)."""
    options: dict[str, Any] = {
        "num_cpus": placement.num_cpus,
        "num_gpus": default_gpus if placement.num_gpus is None else placement.num_gpus,
        "max_restarts": 0,
        "max_task_retries": 0,
    }
    if placement.resources:
        options["resources"] = dict(placement.resources)
    return options


def request_of(options: dict[str, Any]) -> dict[str, float]:
    """The node resources an actor with ``options`` occupies."""
    request = {"CPU": float(options.get("num_cpus") or 0), "GPU": float(options.get("num_gpus") or 0)}
    request.update({k: float(v) for k, v in (options.get("resources") or {}).items()})
    return {k: v for k, v in request.items() if v > 0}


def alive_nodes() -> list[dict[str, Any]]:
    """``[{"node": id, "resources": {...}, "labels": [custom resource names]}]`` of the alive nodes."""
    import ray

    return [{"node": n["NodeID"], "resources": dict(n["Resources"]), "labels": custom_resources(n["Resources"])}
            for n in ray.nodes() if n.get("Alive")]


def custom_resources(resources: dict[str, float]) -> list[str]:
    return sorted(k for k in resources if k not in _BUILTIN_RESOURCES and not k.startswith(("node:", "accelerator_type:")))


def fits(request: dict[str, float], resources: dict[str, float]) -> bool:
    """Whether a node with ``resources`` (its totals) can hold an actor asking for ``request``."""
    return all(resources.get(name, 0.0) >= amount for name, amount in request.items())


def check_feasible(role: str, options: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    """A clear error now, instead of an actor that waits forever, when no node can hold ``role``."""
    request = request_of(options)
    if any(fits(request, n["resources"]) for n in nodes):
        return
    offered = {name for n in nodes for name in n["resources"]}
    missing = sorted(name for name in request if name not in offered)
    hint = (f"no node offers {', '.join(missing)}: start nodes with ray start --resources='{{\"{missing[0]}\": 8}}'"
            if missing else "no single node is that large; lower the request")
    raise ValueError(f"the {role} actor asks for {request} and no node of the Ray cluster can hold it ({hint})")


def where_am_i() -> dict[str, Any]:
    """Inside an actor: its node, process id, host and the node's container engine (DOCKER_HOST)."""
    import socket

    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "host": socket.gethostname(),
            "docker_host": os.environ.get("DOCKER_HOST")}


class ClusterLog:
    """``<run dir>/cluster.jsonl``: one JSON line per placement event (an actor ready, lost, moved,
    restarted; a node joined or left), appended across resumes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "time": time.time(), **fields}, separators=(",", ":"), default=str)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
