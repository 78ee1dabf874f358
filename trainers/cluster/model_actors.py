"""The learner and the rollout backend as Ray actors, and the driver's proxies for them.

:class:`LearnerActor` holds the :class:`~envgym.trainers.learner.Learner` (model, optimizer, value
heads) on its node (a GPU one when ``policy.device`` is cuda); :class:`RolloutActor` holds the
generation backend (transformers or vLLM).  On the driver, :class:`RemoteLearner` and
:class:`RemoteBackend` have the methods the trainer and the rollout service call on the local
objects, so the algorithm code paths do not change:

* ``train_step(groups)`` sends the curated groups (token ids, logprobs, rewards) to the learner;
* ``policy_state_dict()`` returns a *payload* the driver never opens (an object reference to the
  weights, or an NCCL ticket, :mod:`.weights`), ``backend.update_weights(payload, version)`` loads it;
* ``state_dict()``/``load_state_dict()`` move checkpoints (written by the driver, in the run
  directory) — with the actor's own RNG state, so a resumed run continues exactly;
* ``generate(requests)`` runs one batched generation on the rollout actor.

Both actors seed torch and set its thread count from ``run`` as the one-process trainer does.
An error raised inside an actor reaches the driver as itself (a NaN stops the run as
:class:`~envgym.trainers.learner.NonFiniteError`); an actor that died, or whose node left, raises
:class:`~envgym.trainers.cluster.runtime.ActorLostError`: the run stops and its latest checkpoint
resumes it.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from envgym.agents.backends.base import Backend, Generation, GenerationRequest
from envgym.trainers.cluster import weights as weight_sync
from envgym.trainers.cluster.runtime import ActorLostError, where_am_i
from envgym.trainers.config import TrainConfig

LOST_HINT = "The run stopped; its latest checkpoint is kept in the run directory: run the same command again to resume."


def prepare_process(config: TrainConfig) -> None:
    """Seed and size torch in an actor's process as :class:`Trainer` does in its own."""
    import random

    import numpy as np
    import torch

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    random.seed(config.run.seed)
    np.random.seed(config.run.seed)
    torch.manual_seed(config.run.seed)
    torch.set_num_threads(config.run.torch_threads)


def load_tokenizer(config: TrainConfig) -> Any:
    """The policy's tokenizer alone (the driver builds prompts; it holds no model)."""
    from transformers import AutoTokenizer

    from envgym.trainers.policy import policy_path

    tokenizer = AutoTokenizer.from_pretrained(policy_path(config))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class LearnerActor:
    """The actor body around :class:`~envgym.trainers.learner.Learner`."""

    def __init__(self, config: dict[str, Any]):
        from envgym.trainers.learner import Learner
        from envgym.trainers.policy import load_learner_policy

        self.config = TrainConfig.model_validate(config)
        prepare_process(self.config)
        model, tokenizer, _ = load_learner_policy(self.config)
        self.learner = Learner(model, tokenizer, self.config, device=self.config.policy.device)

    def where(self) -> dict[str, Any]:
        return {**where_am_i(), "version": self.learner.version}

    def train_step(self, groups: list[Any]) -> tuple[dict[str, float], int]:
        return self.learner.train_step(groups), self.learner.version

    def policy_state_dict(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in self.learner.policy_state_dict().items()}

    def warm_start(self, episodes: list[Any]) -> dict[str, float]:
        from envgym.trainers.warm_start import warm_start

        return warm_start(self.learner, episodes, self.config.policy.warm_start)

    def state_dict(self) -> dict[str, Any]:
        from envgym.trainers.checkpoint import rng_state

        return {**self.learner.state_dict(), "process_rng": rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> int:
        from envgym.trainers.checkpoint import set_rng_state

        self.learner.load_state_dict(state)
        if state.get("process_rng") is not None:
            set_rng_state(state["process_rng"])
        return self.learner.version

    def merged_model(self) -> bytes:
        """The trained model as a from_pretrained directory, packed (the driver unpacks it)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.learner.save_merged(tmp)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                tar.add(tmp, arcname=".")
            return buffer.getvalue()

    # NCCL weight sync (unverified on GPUs, see .weights)
    def nccl_address(self) -> str:
        return weight_sync.free_address()

    def nccl_meta(self) -> list[tuple[str, tuple[int, ...], str]]:
        return weight_sync.state_meta(self.learner.policy_state_dict())

    def nccl_join(self, address: str, rank: int, world: int) -> None:
        weight_sync.nccl_join(address, rank, world)

    def nccl_broadcast(self) -> None:
        weight_sync.broadcast_state(self.learner.policy_state_dict())


class RolloutActor:
    """The actor body around the generation backend (:func:`~envgym.trainers.policy.make_rollout_backend`)."""

    def __init__(self, config: dict[str, Any]):
        from envgym.trainers.policy import load_learner_policy, make_rollout_backend, policy_path

        self.config = TrainConfig.model_validate(config)
        prepare_process(self.config)
        self._meta: list[Any] = []
        if self.config.rollout.backend == "transformers":
            model, tokenizer, path = load_learner_policy(self.config)
            if hasattr(model, "peft_config"):  # serve a plain model; merged weights arrive every step
                model = model.merge_and_unload()
            model.eval()
        else:  # vLLM loads the checkpoint itself
            model, tokenizer, path = None, load_tokenizer(self.config), policy_path(self.config)
        self.backend = make_rollout_backend(self.config, model, tokenizer, path)

    def where(self) -> dict[str, Any]:
        return {**where_am_i(), "version": self.backend.policy_version}

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self.backend.generate(requests)

    def update_weights(self, weights: Any, version: int | None) -> int:
        return self.backend.update_weights(weights, version)

    def close(self) -> None:
        self.backend.close()

    # NCCL weight sync (unverified on GPUs, see .weights)
    def nccl_join(self, address: str, rank: int, world: int, meta: list[Any]) -> None:
        self._meta = meta
        weight_sync.nccl_join(address, rank, world)

    def nccl_receive(self, version: int | None) -> int:
        return self.backend.update_weights(weight_sync.receive_state(self._meta), version)


_ROLES = {"LearnerActor": "learner", "RolloutActor": "rollout"}


def _field(exc: BaseException, name: str) -> str | None:
    """A ``name: value`` line of a Ray actor error's message (its class name, its pid)."""
    match = re.search(rf"^\s*{name}: (\S+)", str(exc), re.MULTILINE)
    return match.group(1) if match else None


class _ActorProxy:
    """Calls on one actor from the driver, with its errors translated."""

    role = "actor"

    def __init__(self, handle: Any, where: dict[str, Any]):
        self.handle = handle
        self.where = where

    def _get(self, ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # raised inside the actor: raise it here
            cause = exc.cause
            if isinstance(cause, ray.exceptions.RayActorError):  # an argument's producer (the learner) died
                raise self._lost(cause, _ROLES.get(_field(cause, "class_name"), self.role), _field(cause, "pid")) from None
            if isinstance(cause, Exception):
                raise cause from None
            raise
        except ray.exceptions.RayError as exc:
            raise self._lost(exc, self.role, self.where.get("pid")) from None

    def _lost(self, exc: BaseException, role: str, pid: Any) -> ActorLostError:
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        node = self.where.get("node") if role == self.role else None
        where = f"pid {pid}" + (f" on node {node}" if node else "")
        return ActorLostError(f"the {role} actor ({where}) was lost: {type(exc).__name__}: {reason}\n{LOST_HINT}")


class RemoteLearner(_ActorProxy):
    """The driver's :class:`~envgym.trainers.learner.Learner`: same methods, the work on the actor."""

    role = "learner"

    def __init__(self, handle: Any, where: dict[str, Any], sync: Any):
        super().__init__(handle, where)
        self.sync = sync
        self.version = int(where["version"])

    def train_step(self, groups: list[Any]) -> dict[str, float]:
        metrics, self.version = self._get(self.handle.train_step.remote(groups))
        return metrics

    def warm_start(self, episodes: list[Any]) -> dict[str, float]:
        """``policy.warm_start`` (behaviour cloning on the oracle ``episodes``) on the learner actor."""
        return self._get(self.handle.warm_start.remote(episodes))

    def policy_state_dict(self) -> Any:
        """A payload for :meth:`RemoteBackend.update_weights` (the weights stay out of the driver)."""
        return self.sync.publish(self.handle)

    def state_dict(self) -> dict[str, Any]:
        return self._get(self.handle.state_dict.remote())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.version = self._get(self.handle.load_state_dict.remote(state))

    def save_merged(self, path: str) -> None:
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self._get(self.handle.merged_model.remote())), mode="r") as tar:
            tar.extractall(target, filter="data")


class RemoteBackend(_ActorProxy, Backend):
    """The driver's generation backend: batches go to the rollout actor; the tokenizer stays here."""

    role = "rollout"
    name = "ray"

    def __init__(self, handle: Any, where: dict[str, Any], sync: Any, tokenizer: Any):
        _ActorProxy.__init__(self, handle, where)
        Backend.__init__(self)
        self.sync = sync
        self._tokenizer = tokenizer
        self._policy_version = int(where["version"])

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self._get(self.handle.generate.remote(requests))

    def update_weights(self, weights: Any, version: int | None = None) -> int:
        self._policy_version = self._get(self.sync.deliver(self.handle, weights, version))
        return self._policy_version

    def close(self) -> None:
        import ray

        try:
            ray.get(self.handle.close.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - ending it anyway
            pass
        ray.kill(self.handle, no_restart=True)
