"""The rollout side of the trainer: an asyncio loop on a background thread that keeps starting the
work the data manager admits, plays each episode through the env cluster and the rollout service,
and hands finished episodes back to the data manager.

The learner runs on the calling thread.  Sync vs async is only the admission rule (η = 0: rollouts
for version v+1 start once the learner has published v+1; η > 0: they keep running while it
trains) and the batching deadline — the code path is the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

from envgym.loop_thread import LoopThread
from envgym.trajectory import Episode
from envgym.trainers.config import EnvConfig
from envgym.trainers.data_manager import DataManager, TaskRef, WorkItem, stable_seed
from envgym.trainers.env_cluster import EnvCluster
from envgym.trainers.episode import play_episode
from envgym.trainers.rollout_service import RolloutService


class RolloutRunner:
    def __init__(
        self,
        env_configs: list[EnvConfig],
        backend: Any,
        data: DataManager,
        agent_factory: Callable[[int], Any],
        *,
        seed: int = 0,
        max_batch: int = 512,
        max_wait_s: float | None = None,
        store_observations: str = "full",
        failure_window: int = 200,
        cluster_factory: Callable[..., Any] | None = None,
    ):
        self.env_configs = env_configs
        self.backend = backend
        self.data = data
        self.agent_factory = agent_factory
        self.seed = seed
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.store_observations = store_observations
        self.failure_window = failure_window
        self.cluster_factory = cluster_factory or EnvCluster  # EnvCluster's signature; Ray's proxy has it too
        self.cluster: EnvCluster | None = None
        self.service: RolloutService | None = None
        self._loop_thread: LoopThread | None = None
        self._main_done: concurrent.futures.Future | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._producing = False
        self._tasks: set[asyncio.Task] = set()
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._loop_thread = LoopThread("rollouts")
        self._main_done = self._loop_thread.submit(self._main())
        self._main_done.add_done_callback(self._main_ended)
        self._ready.wait()
        if self.error is not None:
            raise self.error

    def _main_ended(self, done: concurrent.futures.Future) -> None:
        if not done.cancelled() and done.exception() is not None:
            self.error = done.exception()  # surfaced to the learner thread
        self._ready.set()

    async def _main(self) -> None:
        self.cluster = self.cluster_factory(self.env_configs, seed=self.seed, failure_window=self.failure_window)
        self.service = RolloutService(self.backend, max_batch=self.max_batch, max_wait_s=self.max_wait_s)
        await self.service.start()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready.set()
        try:
            while not self._stop.is_set():
                if self._producing:
                    for item in self.data.admit():
                        self._launch(item)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.service.stop()
            self.cluster.close()

    def _launch(self, item: WorkItem) -> None:
        assert self.service is not None
        self.service.episode_started()  # registered before any await: deterministic batches
        task = asyncio.create_task(self._run(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, item: WorkItem) -> None:
        try:
            episode = await self._play(item, self.agent_factory, registered=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug, not an env failure: stop the run loudly
            if self.error is None:  # the trainer raises it, with its traceback (once, not per episode)
                self.error = exc
            self.data.close()
            return
        self.data.add_episode(item, episode)
        self.wake()

    async def _play(self, item: WorkItem, factory: Callable[[int], Any], *, registered: bool, oracle: bool = False) -> Episode:
        assert self.cluster is not None and self.service is not None
        agent = factory(stable_seed(self.seed, "agent", item.slot_id, item.member))
        try:
            return await play_episode(
                self.cluster, None if oracle else self.service, agent, env_key=item.task.env_key, task=item.task.task_id,
                seed=item.seed, order_key=(item.slot_id, item.member),
                metadata={"slot_id": item.slot_id, "member": item.member}, oracle=oracle,
                store_observations=self.store_observations,
            )
        finally:
            if registered:
                self.service.episode_finished()

    def wake(self) -> None:
        if self._loop_thread is not None and self._wake is not None:
            self._loop_thread.call_soon(self._wake.set)

    def set_producing(self, on: bool) -> None:
        self._producing = on
        self.wake()

    def stop(self) -> None:
        if self._loop_thread is None:
            return
        if self._stop is not None:
            self._loop_thread.call_soon(self._stop.set)
        if self._main_done is not None:
            concurrent.futures.wait([self._main_done], timeout=60)
        self._loop_thread.stop()

    # ------------------------------------------------------------------ blocking helpers for the learner thread
    def run_coroutine(self, coro: Any) -> Any:
        assert self._loop_thread is not None
        return self._loop_thread.run(coro)

    def evaluate(self, tasks: list[TaskRef], episodes_per_task: int, factory: Callable[[int], Any], tag: str = "eval") -> list[Episode]:
        """Play ``episodes_per_task`` episodes of every task with fixed seeds (same seeds every call)."""
        items = [WorkItem(f"{tag}-{i}", k, task, stable_seed(self.seed, "eval-env", i, k))
                 for i, task in enumerate(tasks) for k in range(episodes_per_task)]

        async def go() -> list[Episode]:
            assert self.service is not None
            for _ in items:
                self.service.episode_started()
            return list(await asyncio.gather(*(self._play(item, factory, registered=True) for item in items)))

        return self.run_coroutine(go())

    def collect_oracle(self, items: list[WorkItem], factory: Callable[[int], Any]) -> list[Episode]:
        async def go() -> list[Episode]:
            return list(await asyncio.gather(*(self._play(item, factory, registered=False, oracle=True) for item in items)))

        return self.run_coroutine(go())
