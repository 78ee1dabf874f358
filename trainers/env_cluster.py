"""Environment cluster: a pool of env workers that many episodes use concurrently.

Envs are ordinary (synchronous) gymnasium envs — in-process (``runtime="local"``), on an env server
(``runtime="remote"``, ``url=...``) or in a container (``runtime="container"``); any registered id.
Their ``reset``/``step`` calls run in a thread pool, so a slow env never blocks the asyncio loop
that drives generation, and many episodes progress at once.

Infra failures — :class:`envgym.InfraError`, ``info["infra_error"]``, or any exception an env raises
(the env contract forbids raising for agent input) — close the worker (a fresh env replaces it on
the next acquire), are counted per env, and surface as :class:`envgym.InfraError` so the episode is
recorded with ``infra_error`` set and excluded from training.

Interface (Ray-friendly: plain methods on picklable arguments)::

    worker = await cluster.acquire("envgym/Maze-v0")
    obs, info = await cluster.reset(worker, seed=0, options={"task": "maze-3x3-0"})
    obs, r, term, trunc, info = await cluster.step(worker, "north")
    cluster.release(worker)
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import envgym
from envgym.errors import InfraError
from envgym.trainers.config import EnvConfig, LatencyConfig


class LatencyEnv:
    """Wraps an env and sleeps a lognormal time per step: ``delay = median · exp(σ·N(0,1))``
    (plus ``reset_s`` per reset).  Models heterogeneous env latencies (web pages, containers)."""

    def __init__(self, env: Any, latency: LatencyConfig, seed: int = 0):
        self.env = env
        self.latency = latency
        self._rng = random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def _delay(self) -> float:
        if self.latency.median_s <= 0:
            return 0.0
        return self.latency.median_s * math.exp(self.latency.sigma * self._rng.gauss(0.0, 1.0))

    def reset(self, **kwargs: Any) -> Any:
        if self.latency.reset_s:
            time.sleep(self.latency.reset_s)
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        delay = self._delay()
        if delay:
            time.sleep(delay)
        return self.env.step(action)

    def close(self) -> None:
        self.env.close()


@dataclass
class EnvWorker:
    """One env instance checked out of the pool."""

    key: str
    env: Any
    index: int
    broken: bool = False


@dataclass
class EnvStats:
    steps: int = 0
    resets: int = 0
    infra_errors: int = 0
    busy_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def build_env(config: EnvConfig, seed: int = 0) -> Any:
    """One env from its config (runtime local/remote/container), wrapped with latency if asked."""
    kwargs = dict(config.kwargs)
    if config.runtime == "remote":
        if not config.url:
            raise ValueError(f"env {config.key}: runtime='remote' needs url")
        kwargs["url"] = config.url
    if config.task_file:
        kwargs.setdefault("tasks", config.task_file)
    env = envgym.make(config.id, runtime=config.runtime, **kwargs)
    if config.latency is not None and (config.latency.median_s > 0 or config.latency.reset_s > 0):
        env = LatencyEnv(env, config.latency, seed=seed)
    return env


class EnvCluster:
    """Pools of env workers (one pool per env config) plus the thread pool that runs their calls."""

    def __init__(self, configs: list[EnvConfig], *, seed: int = 0, threads: int | None = None, failure_window: int = 200):
        self.configs = {c.key: c for c in configs}
        if len(self.configs) != len(configs):
            raise ValueError("two envs share one name; give them distinct 'name's")
        self.seed = seed
        total = sum(c.workers for c in configs)
        self._executor = ThreadPoolExecutor(max_workers=threads or max(1, total), thread_name_prefix="env")
        self._free: dict[str, list[EnvWorker]] = defaultdict(list)
        self._created: dict[str, int] = defaultdict(int)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, EnvStats] = {key: EnvStats() for key in self.configs}
        self.failure_window = int(failure_window)
        self._outcomes: dict[str, deque[bool]] = {key: deque(maxlen=self.failure_window) for key in self.configs}
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ pool
    async def acquire(self, key: str) -> EnvWorker:
        if key not in self.configs:
            raise KeyError(f"unknown env {key!r}; configured: {sorted(self.configs)}")
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self.configs[key].workers)
        await slots.acquire()
        with self._lock:
            if self._free[key]:
                return self._free[key].pop()
            index = self._created[key]
            self._created[key] += 1
        try:
            env = await asyncio.get_running_loop().run_in_executor(
                self._executor, build_env, self.configs[key], self.seed * 100_003 + index
            )
        except Exception as exc:  # noqa: BLE001 - a server/container that will not start is infra
            slots.release()
            message = f"could not start env {key}: {type(exc).__name__}: {exc}"
            self._record_failure(key, message)
            raise InfraError(message) from exc
        return EnvWorker(key=key, env=env, index=index)

    def is_full(self, key: str) -> bool:
        """True when ``acquire(key)`` would wait for a worker to be released."""
        slots = self._slots.get(key)
        return slots is not None and slots.locked()

    def release(self, worker: EnvWorker) -> None:
        if worker.broken:
            try:
                worker.env.close()
            except Exception:  # noqa: BLE001 - closing a broken env may fail too
                pass
        else:
            with self._lock:
                self._free[worker.key].append(worker)
        slots = self._slots.get(worker.key)
        if slots is not None:
            slots.release()

    # ------------------------------------------------------------------ calls
    async def reset(self, worker: EnvWorker, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        result = await self._call(worker, lambda: worker.env.reset(seed=seed, options=options), kind="reset")
        return result

    async def step(self, worker: EnvWorker, action: Any) -> tuple[dict, float, bool, bool, dict]:
        result = await self._call(worker, lambda: worker.env.step(action), kind="step")
        info = result[4]
        if info.get("infra_error"):
            self._infra(worker, str(info["infra_error"]))
            raise InfraError(str(info["infra_error"]))
        return result

    async def _call(self, worker: EnvWorker, fn: Any, *, kind: str) -> Any:
        stats = self.stats[worker.key]

        def timed() -> Any:
            start = time.perf_counter()
            try:
                return fn()
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    stats.busy_s += elapsed

        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, timed)
        except InfraError as exc:
            self._infra(worker, str(exc) or "InfraError")
            raise
        except Exception as exc:  # noqa: BLE001 - any env exception is an infrastructure failure
            message = f"{type(exc).__name__}: {exc}"
            self._infra(worker, message)
            raise InfraError(message) from exc
        with self._lock:
            if kind == "step":
                stats.steps += 1
            else:
                stats.resets += 1
            self._outcomes[worker.key].append(True)
        return result

    def _infra(self, worker: EnvWorker, message: str) -> None:
        worker.broken = True
        self._record_failure(worker.key, message)

    def _record_failure(self, key: str, message: str) -> None:
        """Count a failed call (start, reset or step); the 20 most recent messages are kept."""
        with self._lock:
            stats = self.stats[key]
            stats.infra_errors += 1
            stats.errors.append(message[:300])
            del stats.errors[:-20]
            self._outcomes[key].append(False)

    # ------------------------------------------------------------------ reporting
    def utilisation(self) -> float:
        """Fraction of worker-time spent inside env calls since the cluster started."""
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        capacity = sum(c.workers for c in self.configs.values()) * elapsed
        return sum(s.busy_s for s in self.stats.values()) / capacity

    def summary(self) -> dict[str, Any]:
        return {
            key: {"steps": s.steps, "resets": s.resets, "infra_errors": s.infra_errors, "busy_s": round(s.busy_s, 3)}
            for key, s in self.stats.items()
        }

    def failure_rates(self) -> dict[str, tuple[float, int]]:
        """Per env: ``(failed / calls, calls)`` over its last ``failure_window`` calls.  A broken env
        fails (nearly) every call; a flaky one a few percent — the trainer stops only for the former."""
        with self._lock:
            return {key: ((len(o) - sum(o)) / len(o) if o else 0.0, len(o)) for key, o in self._outcomes.items()}

    @property
    def infra_errors(self) -> int:
        return sum(s.infra_errors for s in self.stats.values())

    def close(self) -> None:
        with self._lock:
            workers = [w for pool in self._free.values() for w in pool]
            self._free.clear()
        for worker in workers:
            try:
                worker.env.close()
            except Exception:  # noqa: BLE001
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)
