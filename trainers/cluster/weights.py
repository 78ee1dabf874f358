"""Weights from the learner actor to the rollout actor after every training step.

``cluster.weight_sync``:

* ``object_store`` (default, CPU and GPU): the learner actor returns its policy weights (CPU tensors)
  as a Ray object; the driver hands the object's *reference* to the rollout actor, which reads the
  weights from the object store (from the learner's node, once per node).  The driver never holds the
  weights.  Cost per step: one copy of the weights out of the learner's node.
* ``nccl`` (GPU, **unverified**: written for GPUs, not yet run on them — the CI host has none): the
  learner and the rollout actor join one NCCL process group (``torch.distributed``, rank 0 = learner)
  when the run starts; each step the learner broadcasts every weight tensor from GPU memory and the
  rollout actor receives into GPU buffers and loads them with ``backend.update_weights`` (for vLLM:
  the engine's ``load_weights``, the update path vLLM's RLHF examples use).  Nothing goes through
  host memory or the object store.

Both are a pair of calls the driver makes: :meth:`publish` on the learner side returns a *payload*
(an object reference, or a small ticket for NCCL) and :meth:`deliver` makes the rollout actor load it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any


class ObjectStoreSync:
    """Weights through Ray's object store (CPU tensors)."""

    def setup(self, learner: Any, rollout: Any) -> None:
        """Nothing to connect."""

    def publish(self, learner: Any) -> Any:
        return learner.policy_state_dict.remote()

    def deliver(self, rollout: Any, payload: Any, version: int | None) -> Any:
        return rollout.update_weights.remote(payload, version)


@dataclass
class NcclTicket:
    """What the NCCL publish hands the driver: the learner's broadcast, still running."""

    broadcast: Any


class NcclSync:
    """Weights by NCCL broadcast, GPU to GPU (unverified, see the module docstring)."""

    def setup(self, learner: Any, rollout: Any) -> None:
        import ray

        address = ray.get(learner.nccl_address.remote())
        meta = ray.get(learner.nccl_meta.remote())
        ray.get([learner.nccl_join.remote(address, 0, 2), rollout.nccl_join.remote(address, 1, 2, meta)])

    def publish(self, learner: Any) -> NcclTicket:
        return NcclTicket(learner.nccl_broadcast.remote())

    def deliver(self, rollout: Any, payload: Any, version: int | None) -> Any:
        if not isinstance(payload, NcclTicket):  # a checkpoint's weights on resume: the object-store path
            return rollout.update_weights.remote(payload, version)
        import ray

        received = rollout.nccl_receive.remote(version)
        ray.get(payload.broadcast)
        return received


def make_weight_sync(kind: str) -> ObjectStoreSync | NcclSync:
    return NcclSync() if kind == "nccl" else ObjectStoreSync()


# ---------------------------------------------------------------------- inside the actors (NCCL)


def free_address() -> str:
    """``tcp://host:port`` of a free port on this node, for the process group's rendezvous."""
    host = socket.gethostbyname(socket.gethostname())
    with socket.socket() as sock:
        sock.bind(("", 0))
        return f"tcp://{host}:{sock.getsockname()[1]}"


def nccl_join(address: str, rank: int, world: int) -> None:
    import torch.distributed as dist

    dist.init_process_group("nccl", init_method=address, rank=rank, world_size=world)


def state_meta(state: dict[str, Any]) -> list[tuple[str, tuple[int, ...], str]]:
    """``(name, shape, dtype)`` of every tensor, in the order both sides use."""
    return [(name, tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in sorted(state.items())]


def broadcast_state(state: dict[str, Any]) -> None:
    """Rank 0: send every tensor (GPU memory) in :func:`state_meta` order."""
    import torch.distributed as dist

    for _, tensor in sorted(state.items()):
        dist.broadcast(tensor.detach().cuda().contiguous(), src=0)


def receive_state(meta: list[tuple[str, tuple[int, ...], str]]) -> dict[str, Any]:
    """Other ranks: receive the tensors :func:`broadcast_state` sends, into fresh GPU buffers."""
    import torch
    import torch.distributed as dist

    out = {}
    for name, shape, dtype in meta:
        buffer = torch.empty(shape, dtype=getattr(torch, dtype), device="cuda")
        dist.broadcast(buffer, src=0)
        out[name] = buffer
    return out
