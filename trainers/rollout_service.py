"""Rollout service: batches generation requests from many concurrently running episodes.

Each episode awaits :meth:`RolloutService.generate` with one :class:`GenerationRequest`; the service
collects the pending requests and sends them to ``backend.generate(batch)`` in **one** call (on a
worker thread, so the asyncio loop keeps stepping envs meanwhile).  A batch is flushed when

* every registered (running) episode is waiting for a generation — so in lockstep (sync) mode each
  batch holds exactly the episodes still alive, in a deterministic order (sorted by request key); or
* ``max_batch`` requests are pending; or
* ``max_wait_s`` has passed since the oldest pending request (async mode: an episode stuck in a slow
  env step does not hold back the others).  ``max_wait_s=None`` never flushes on time.

Every :class:`Generation` carries the token ids, their logprobs and the policy version that sampled
them.  Weight updates go through :meth:`publish` (the backend serialises them with generation).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from envgym.agents.backends.base import Backend, Generation, GenerationRequest


@dataclass
class RolloutStats:
    batches: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy_s: float = 0.0


class RolloutService:
    def __init__(self, backend: Backend, *, max_batch: int = 512, max_wait_s: float | None = None):
        self.backend = backend
        self.max_batch = int(max_batch)
        self.max_wait_s = max_wait_s
        self.stats = RolloutStats()
        self._pending: list[tuple[Any, GenerationRequest, asyncio.Future]] = []
        self._active = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._oldest: float | None = None
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="rollout-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for _, _, future in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()

    # ------------------------------------------------------------------ episodes
    def episode_started(self) -> None:
        self._active += 1

    def episode_finished(self) -> None:
        self._active -= 1
        self._poke()

    @property
    def active(self) -> int:
        return self._active

    async def generate(self, request: GenerationRequest, key: Any = 0) -> Generation:
        """One completion for ``request``; ``key`` orders requests inside a batch."""
        if self._wake is None:
            raise RuntimeError("RolloutService.start() first")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._oldest = time.perf_counter()
        self._pending.append((key, request, future))
        self._poke()
        return await future

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ batching
    def _ready(self) -> bool:
        if not self._pending:
            return False
        if len(self._pending) >= self.max_batch or len(self._pending) >= self._active:
            return True
        return self.max_wait_s is not None and self._oldest is not None and time.perf_counter() - self._oldest >= self.max_wait_s

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            if not self._ready():
                self._wake.clear()
                timeout = None
                if self._pending and self.max_wait_s is not None and self._oldest is not None:
                    timeout = max(0.0, self.max_wait_s - (time.perf_counter() - self._oldest))
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                continue
            self._pending.sort(key=lambda item: item[0])
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._oldest = time.perf_counter() if self._pending else None
            requests = [request for _, request, _ in batch]
            start = time.perf_counter()
            try:
                generations = await asyncio.to_thread(self.backend.generate, requests)
            except Exception as exc:  # noqa: BLE001 - hand the failure to every waiting episode
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self.stats.busy_s += time.perf_counter() - start
            self.stats.batches += 1
            self.stats.requests += len(batch)
            for (_, request, future), generation in zip(batch, generations):
                self.stats.prompt_tokens += len(request.prompt_ids)
                self.stats.completion_tokens += len(generation.completion_ids)
                if not future.done():
                    future.set_result(generation)

    # ------------------------------------------------------------------ weights
    def publish(self, state_dict: Any, version: int) -> int:
        """Load new weights into the backend (blocks until the running batch finishes)."""
        return self.backend.update_weights(state_dict, version)

    @property
    def policy_version(self) -> int:
        return self.backend.policy_version

    def utilisation(self) -> float:
        """Fraction of wall time the backend spent generating since the service started."""
        return self.stats.busy_s / max(time.perf_counter() - self._started, 1e-9)
