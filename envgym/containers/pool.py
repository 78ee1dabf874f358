"""A warm pool of env containers: started ahead of demand, so an episode never waits for a cold start.

>>> with EnvPool("envgym/Maze-v0", size=4) as pool:        # doctest: +SKIP
...     env = pool.acquire()          # a connected env on a running, healthy container
...     obs, info = env.reset(seed=0) # one WebSocket round trip
...     pool.release(env)             # back to the pool (or env.close())

Each slot is a container serving the env plus an open session on it.  The pool keeps ``size``
healthy slots: a background thread starts containers in parallel, replaces any container that dies
(idle or in use) and re-opens a fresh session on every released slot, so the next episode gets a new
env instance (no state shared between rollouts) without paying for a container.

A pooled env whose container died raises :class:`~envgym.containers.runtime.ContainerDied`; its next
``reset()`` swaps in a warm slot transparently.  ``acquire_async``/``release_async`` and the
``session()``/``asession()`` context managers serve async rollout code.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import envgym
from envgym.containers.runtime import ContainerEnv, ContainerHandle, connect_remote, container_limits, get_runtime
from envgym.errors import InfraError

logger = logging.getLogger(__name__)


@dataclass
class _Slot:
    remote: Any
    handle: ContainerHandle


class PooledEnv(ContainerEnv):
    """An env borrowed from an :class:`EnvPool`; ``close()`` gives it back."""

    def __init__(self, pool: EnvPool, slot: _Slot):
        super().__init__(slot.remote, slot.handle, restart=pool._swap_in, owns_container=True)
        self.pool = pool

    def _replace(self) -> None:
        old = _Slot(self.env, self.handle)
        self.env, self.handle = self._restart()  # type: ignore[misc]
        self.pool._discard(old)

    def close(self) -> None:
        self.pool.release(self)


class EnvPool:
    """Keeps ``size`` containers of ``env_id`` started, healthy and connected ahead of demand.

    ``image``: a built image tag (default: build ``containers/<spec.image>/`` by content hash).
    ``env_kwargs``: env constructor arguments.  Limits (``cpus``, ``mem_limit``, ``pids_limit``,
    ``network_mode``, ``shm_size``; default: the recipe's, see ``container_limits``) and
    ``health_timeout_s`` apply to every container.  ``fresh_session`` (default
    True): a released slot gets a new session (a new env instance) before it is handed out again.
    """

    def __init__(
        self,
        env_id: str,
        size: int,
        *,
        image: str | None = None,
        base: str | None = None,
        env_kwargs: dict[str, Any] | None = None,
        cpus: float | None = None,
        mem_limit: str | int | None = None,
        pids_limit: int | None = None,
        network_mode: str | None = None,
        shm_size: str | None = None,
        health_timeout_s: float = 60.0,
        step_timeout_s: float | None = 300.0,
        fresh_session: bool = True,
        max_parallel_starts: int = 8,
    ):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.spec = envgym.spec(env_id)
        self.env_id = self.spec.id
        self.size = int(size)
        if image is None:
            from envgym.containers.images import build_image

            image = build_image(self.spec.image, base=base)
        self.image = image
        self.env_kwargs = dict(env_kwargs or {})
        # the recipe's defaults (e.g. more memory for Chromium in "web"), overridden by what was passed
        given = {"cpus": cpus, "mem_limit": mem_limit, "pids_limit": pids_limit, "network_mode": network_mode,
                 "shm_size": shm_size}
        self.limits = {**container_limits(self.spec.image), **{k: v for k, v in given.items() if v is not None},
                       "health_timeout_s": health_timeout_s}
        self.step_timeout_s = step_timeout_s
        self.fresh_session = fresh_session
        self._runtime = get_runtime()
        self._cond = threading.Condition()
        self._idle: collections.deque[_Slot] = collections.deque()
        self._in_use: dict[int, PooledEnv] = {}
        self._recycle: collections.deque[_Slot] = collections.deque()
        self._dead: collections.deque[_Slot] = collections.deque()
        self._starting = 0
        self._refreshing = 0  # released slots taken off _recycle that are getting their new session
        self._closed = False
        self.started = 0
        self.replaced = 0
        self.last_error: BaseException | None = None
        self._starter = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(max_parallel_starts, self.size)), thread_name_prefix="envgym-pool-start"
        )
        self._maintainer = threading.Thread(target=self._maintain, name="envgym-pool", daemon=True)
        self._maintainer.start()

    # ------------------------------------------------------------------ public API
    def acquire(self, timeout: float | None = None) -> PooledEnv:
        """A connected env on a warm container; waits up to ``timeout`` s (``None``: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise InfraError("the pool is closed")
                while self._idle:
                    slot = self._idle.popleft()
                    if slot.handle.dead.is_set():
                        self._bury(slot)
                        continue
                    env = PooledEnv(self, slot)
                    self._in_use[id(env)] = env
                    self._cond.notify_all()
                    return env
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    detail = f" (last start error: {self.last_error})" if self.last_error else ""
                    raise TimeoutError(f"no warm {self.env_id} container within {timeout:g} s{detail}")
                self._cond.wait(timeout=0.5 if remaining is None else min(0.5, remaining))

    def release(self, env: PooledEnv) -> None:
        """Give ``env`` back; its container is reused (with a fresh session) unless it died."""
        with self._cond:
            if self._in_use.pop(id(env), None) is None:
                return  # released twice, or not ours
            env._closed = True
            env._executor.shutdown(wait=False)
            slot = _Slot(env.env, env.handle)
            if self._closed or slot.handle.dead.is_set():
                self._bury(slot)
            elif self.fresh_session:
                self._recycle.append(slot)
            else:
                self._idle.append(slot)
            self._cond.notify_all()

    def wait_ready(self, timeout: float | None = None, count: int | None = None) -> None:
        """Block until ``count`` (default ``size``) slots are idle and ready."""
        count = self.size if count is None else count
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while len(self._idle) < count:
                if self._closed:
                    raise InfraError("the pool is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    detail = f" (last start error: {self.last_error})" if self.last_error else ""
                    raise TimeoutError(f"{len(self._idle)}/{count} warm {self.env_id} containers after {timeout:g} s{detail}")
                self._cond.wait(timeout=0.5 if remaining is None else min(0.5, remaining))

    @property
    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "size": self.size, "idle": len(self._idle), "in_use": len(self._in_use),
                "starting": self._starting, "recycling": len(self._recycle) + self._refreshing,
                "started": self.started, "replaced": self.replaced,
            }

    def close(self) -> None:
        """Close every session and remove every container of the pool (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            slots = list(self._idle) + list(self._recycle) + list(self._dead)
            slots += [_Slot(e.env, e.handle) for e in self._in_use.values()]
            self._idle.clear()
            self._recycle.clear()
            self._dead.clear()
            self._in_use.clear()
            self._cond.notify_all()
        self._starter.shutdown(wait=True, cancel_futures=True)
        self._maintainer.join(timeout=5)
        for slot in slots:
            self._retire(slot)

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self, timeout: float | None = None) -> Iterator[PooledEnv]:
        """``with pool.session() as env:`` — acquire, then release on exit."""
        env = self.acquire(timeout)
        try:
            yield env
        finally:
            self.release(env)

    async def acquire_async(self, timeout: float | None = None) -> PooledEnv:
        """:meth:`acquire` without blocking the event loop."""
        return await asyncio.to_thread(self.acquire, timeout)

    async def release_async(self, env: PooledEnv) -> None:
        await asyncio.to_thread(self.release, env)

    @contextlib.asynccontextmanager
    async def asession(self, timeout: float | None = None) -> AsyncIterator[PooledEnv]:
        env = await self.acquire_async(timeout)
        try:
            yield env
        finally:
            await self.release_async(env)

    def __repr__(self) -> str:
        return f"EnvPool({self.env_id!r}, image={self.image!r}, {self.stats})"

    # ------------------------------------------------------------------ internals
    def _healthy_count(self) -> int:
        live_in_use = sum(1 for env in self._in_use.values() if not env.handle.dead.is_set())
        return len(self._idle) + len(self._recycle) + self._refreshing + live_in_use + self._starting

    def _maintain(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                for slot in [slot for slot in self._idle if slot.handle.dead.is_set()]:
                    self._idle.remove(slot)
                    self._bury(slot)
                dead = list(self._dead)
                self._dead.clear()
                recycle = list(self._recycle)
                self._recycle.clear()
                self._refreshing += len(recycle)  # still the pool's: no replacement started for them
                missing = self.size - self._healthy_count()
                for _ in range(max(0, missing)):
                    self._starting += 1
                    self._starter.submit(self._start_slot)
            for slot in dead:
                self._retire(slot)
            for slot in recycle:
                self._refresh(slot)
            with self._cond:
                if self._closed:
                    return
                self._cond.wait(timeout=0.25)

    def _start_slot(self) -> None:
        slot = None
        try:
            handle = self._runtime.start_env_container(
                self.env_id, self.image, env_kwargs=self.env_kwargs, max_sessions=2, **self.limits
            )
            try:
                slot = _Slot(connect_remote(handle, step_timeout_s=self.step_timeout_s), handle)
            except BaseException:
                handle.remove()
                raise
        except BaseException as exc:  # noqa: BLE001 - recorded, retried by the maintainer
            logger.warning("warm pool %s: a container failed to start: %s", self.env_id, exc)
            self.last_error = exc
            time.sleep(1.0)  # do not spin on a broken image
        with self._cond:
            self._starting -= 1
            if slot is not None:
                self.started += 1
                if self._closed:
                    closing = slot
                else:
                    self._idle.append(slot)
                    closing = None
            else:
                closing = None
            self._cond.notify_all()
        if closing is not None:
            self._retire(closing)

    def _refresh(self, slot: _Slot) -> None:
        """Open a new session on a released slot (a new env instance), then make it idle again."""
        try:
            _close_quietly(slot.remote)
            if slot.handle.dead.is_set():
                raise InfraError("container died")
            slot = _Slot(connect_remote(slot.handle, step_timeout_s=self.step_timeout_s), slot.handle)
        except Exception as exc:  # noqa: BLE001
            logger.warning("warm pool %s: dropping a slot: %s", self.env_id, exc)
            self._retire(slot)
            with self._cond:
                self._refreshing -= 1
                self._cond.notify_all()
            return
        with self._cond:
            self._refreshing -= 1
            if self._closed:
                closing = slot
            else:
                self._idle.append(slot)
                closing = None
            self._cond.notify_all()
        if closing is not None:
            self._retire(closing)

    def _swap_in(self) -> tuple[Any, ContainerHandle]:
        """A warm slot for a pooled env whose container died (its ``reset`` calls this)."""
        with self._cond:
            self._cond.notify_all()  # the maintainer starts a replacement for the dead one
        slot = self._take_idle()
        return slot.remote, slot.handle

    def _take_idle(self, timeout: float = 120.0) -> _Slot:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise InfraError("the pool is closed")
                while self._idle:
                    slot = self._idle.popleft()
                    if not slot.handle.dead.is_set():
                        return slot
                    self._bury(slot)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise InfraError(f"no warm {self.env_id} container to replace a dead one within {timeout:g} s")
                self._cond.wait(timeout=min(0.5, remaining))

    def _bury(self, slot: _Slot) -> None:
        """Hand a dead or unwanted slot to the maintainer for removal (caller holds the lock)."""
        if slot.handle.dead.is_set():
            self.replaced += 1
        self._dead.append(slot)
        self._cond.notify_all()

    def _discard(self, slot: _Slot) -> None:
        with self._cond:
            self._bury(slot)

    def _retire(self, slot: _Slot) -> None:
        _close_quietly(slot.remote, wait=not slot.handle.dead.is_set())
        slot.handle.remove()


def _close_quietly(remote: Any, wait: bool = True) -> None:
    """Close a client; on a dead peer, do it on a side thread so nobody waits for a timeout."""
    def close() -> None:
        try:
            remote.close()
        except Exception:
            pass

    if wait:
        close()
    else:
        threading.Thread(target=close, daemon=True).start()
