"""Env workers as Ray actors.

:class:`EnvActor` runs on one node and holds ``envs_per_actor`` envs of one env config in an
:class:`~envgym.trainers.env_cluster.EnvCluster` of its own: in-process, on an env server, or in
containers on that node's engine (the ``DOCKER_HOST`` the node was started with).  Slot ``i`` keeps
its env between episodes; a failed env is closed and rebuilt on the slot's next reset.

:class:`RayEnvCluster` is the driver's :class:`EnvCluster` over those actors — the same
``acquire/reset/step/release`` the episodes already use, the same counting of failed calls:

* ``ceil(workers / envs_per_actor)`` actors per env, spread over the nodes that have the resources
  they ask for (``cluster.env_actors``: CPUs, custom resources such as ``browser`` or ``container``);
* a call on an actor that died, or whose node went away, fails as an infrastructure failure (the
  episode is recorded with ``infra_error``, excluded from training and re-run by the data manager);
  the actor is replaced, at most ``cluster.max_env_restarts`` times per env;
* every ``cluster.rebalance_s`` the alive nodes are read: actors on a node that left are replaced
  before an episode is lost on them, and a node that joined (or came back) receives env actors —
  one moves there from the busiest node (started there first, the old one drained, then ended)
  until the counts differ by at most one.

Placement events go to ``cluster.jsonl`` in the run directory.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from envgym.errors import InfraError
from envgym.trainers.cluster.runtime import ActorLostError, ClusterLog, actor_options, alive_nodes, fits, request_of, where_am_i
from envgym.trainers.config import ClusterConfig, EnvActorPlacement, EnvConfig
from envgym.trainers.data_manager import stable_seed
from envgym.trainers.env_cluster import EnvCluster, EnvWorker


class EnvActorsExhausted(ActorLostError):
    """Every env actor of an env is gone and ``cluster.max_env_restarts`` is spent: the run stops
    (its latest checkpoint resumes it, with a fresh budget)."""


class EnvActor:
    """The actor body: ``slots`` envs of one config, on the node Ray placed it on."""

    def __init__(self, config: dict[str, Any], slots: int, seed: int):
        env = EnvConfig.model_validate({**config, "workers": slots})
        self.key = env.key
        self.pool = EnvCluster([env], seed=seed, threads=slots)
        self.workers: dict[int, EnvWorker] = {}

    def where(self) -> dict[str, Any]:
        return where_am_i()

    async def reset(self, slot: int, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, float]:
        worker = await self._worker(slot)
        return await self._timed(slot, self.pool.reset(worker, seed=seed, options=options))

    async def step(self, slot: int, action: Any) -> tuple[Any, float]:
        worker = await self._worker(slot)
        return await self._timed(slot, self.pool.step(worker, action))

    async def calls(self, batch: list[tuple[str, int, tuple]]) -> list[tuple[bool, Any]]:
        """Several ``reset``/``step`` calls at once (run concurrently): ``[(ok, result or exception)]``."""
        results = await asyncio.gather(*(getattr(self, method)(slot, *args) for method, slot, args in batch),
                                       return_exceptions=True)
        return [(not isinstance(r, BaseException), r) for r in results]

    def oracle_action(self, slot: int) -> Any:
        return self.workers[slot].env.unwrapped.oracle_action()

    def close(self) -> None:
        for slot in list(self.workers):
            self._drop(slot)
        self.pool.close()

    async def _worker(self, slot: int) -> EnvWorker:
        worker = self.workers.get(slot)
        if worker is None:
            worker = self.workers[slot] = await self.pool.acquire(self.key)
        return worker

    async def _timed(self, slot: int, call: Any) -> tuple[Any, float]:
        """``(result, seconds inside the env)``; an env that failed is closed (rebuilt on next use)."""
        start = time.perf_counter()
        try:
            result = await call
        except InfraError:
            self._drop(slot)
            raise
        return result, time.perf_counter() - start

    def _drop(self, slot: int) -> None:
        worker = self.workers.pop(slot, None)
        if worker is not None:
            worker.broken = True
            self.pool.release(worker)


@dataclass
class _Actor:
    """The driver's record of one env actor."""

    name: str
    handle: Any
    slots: int
    state: str = "starting"  # starting → ready → draining → retired, or lost
    node: str | None = None
    pid: int | None = None
    free: list[int] = field(default_factory=list)
    busy: int = 0
    steps: int = 0
    started_at: float = field(default_factory=time.perf_counter)
    replaces: _Actor | None = None  # the lost actor this one restarts
    lost_at: float | None = None
    moves_from: _Actor | None = None  # the actor this one takes over from (a node joined)
    target: str | None = None


@dataclass
class RemoteWorker:
    """An env slot of an actor, checked out for one episode (what :meth:`RayEnvCluster.acquire` gives)."""

    key: str
    actor: _Actor
    slot: int
    broken: bool = False

    @property
    def env(self) -> _OracleProxy:
        return _OracleProxy(self)


class _OracleProxy:
    """``worker.env.unwrapped.oracle_action()`` for oracle seeding (a blocking call: seeding only)."""

    def __init__(self, worker: RemoteWorker):
        self._worker = worker

    @property
    def unwrapped(self) -> _OracleProxy:
        return self

    def oracle_action(self) -> Any:
        import ray

        try:
            return ray.get(self._worker.actor.handle.oracle_action.remote(self._worker.slot))
        except ray.exceptions.RayError as exc:
            raise InfraError(f"oracle_action on env actor {self._worker.actor.name}: {_first_line(exc)}") from None


class _EnvPool:
    """The actors of one env: slots, placement, replacement and moves."""

    def __init__(self, config: EnvConfig, placement: EnvActorPlacement, cluster: ClusterConfig, seed: int, log: ClusterLog):
        self.config = config
        self.placement = placement
        self.cluster = cluster
        self.seed = seed
        self.log = log
        self.options = actor_options(placement)
        self.request = request_of(self.options)
        self.actors: list[_Actor] = []
        self.spawned = 0
        self.restarts = 0
        self.restart_s: list[float] = []
        self.changed = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.nodes: list[dict[str, Any]] = []  # the alive nodes, as last read
        self.suspect: dict[str, float] = {}  # node → until when replacements avoid it (an actor was just lost there)
        n = math.ceil(config.workers / placement.envs_per_actor)
        for i in range(n):  # the last actor takes the remainder: exactly `workers` slots in all
            self.spawn(min(placement.envs_per_actor, config.workers - i * placement.envs_per_actor))

    # ------------------------------------------------------------------ actors
    def spawn(self, slots: int, *, replaces: _Actor | None = None, moves_from: _Actor | None = None,
              target: str | None = None, soft: bool = False) -> _Actor:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # a move waits for its node; a replacement prefers its node and goes elsewhere when that one is full
        strategy: Any = "SPREAD" if target is None else NodeAffinitySchedulingStrategy(
            target, soft=soft, _spill_on_unavailable=soft)
        name = f"{self.config.key}#{self.spawned}"
        seed = stable_seed(self.seed, "env-actor", self.config.key, self.spawned)
        self.spawned += 1
        handle = _remote_class(EnvActor).options(
            **self.options, scheduling_strategy=strategy, max_concurrency=slots + 8,
        ).remote(self.config.model_dump(mode="json"), slots, seed)
        actor = _Actor(name, handle, slots, replaces=replaces, moves_from=moves_from, target=target)
        self.actors.append(actor)
        self._background(self._await_ready(actor))
        return actor

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _await_ready(self, actor: _Actor) -> None:
        import ray

        timeout = self.cluster.actor_start_timeout_s if actor.moves_from is not None else None
        try:
            where = await asyncio.wait_for(_awaitable(actor.handle.where.remote()), timeout)
        except (asyncio.TimeoutError, ray.exceptions.RayError) as exc:
            self._failed_start(actor, exc)
            return
        if actor.state != "starting":
            return
        actor.node, actor.pid = where["node"], where["pid"]
        actor.state = "ready"
        actor.free = list(range(actor.slots))
        fields: dict[str, Any] = {"env": self.config.key, "actor": actor.name, "slots": actor.slots, **where}
        if actor.replaces is not None and actor.replaces.lost_at is not None:
            restart = time.perf_counter() - actor.replaces.lost_at
            self.restart_s.append(restart)
            fields.update(replaces=actor.replaces.name, restart_s=round(restart, 3))
        if actor.moves_from is not None:
            fields["moved_from"] = actor.moves_from.name
            self.drain(actor.moves_from)
        self.log.write("env_actor_ready", **fields)
        self.changed.set()

    def _failed_start(self, actor: _Actor, exc: BaseException) -> None:
        if actor.moves_from is not None:  # a move that did not happen: the old actor stays
            self.retire(actor, f"did not start on node {actor.target}: {_first_line(exc)}")
            return
        self.lost(actor, f"did not start: {_first_line(exc)}")

    def drain(self, actor: _Actor) -> None:
        """Stop handing out ``actor``'s slots; end it once its running episodes are done."""
        if actor.state != "ready":
            return
        actor.state = "draining"
        actor.free.clear()
        if actor.busy == 0:
            self.retire(actor, "moved")

    def retire(self, actor: _Actor, why: str) -> None:
        if actor.state in ("retired", "lost"):
            return
        actor.state = "retired"
        self._background(_end_actor(actor.handle))
        self.log.write("env_actor_retired", env=self.config.key, actor=actor.name, node=actor.node, why=why)

    def lost(self, actor: _Actor, why: str) -> None:
        """``actor`` died, its node left, or it would not start: replace it (within the budget).
        An actor being moved already has its successor starting, and a draining one had one."""
        if actor.state in ("lost", "retired"):
            return
        draining = actor.state == "draining"
        actor.state, actor.lost_at = "lost", time.perf_counter()
        actor.free.clear()
        _kill(actor.handle)
        if actor.node is not None:
            self.suspect[actor.node] = time.monotonic() + 4 * self.cluster.rebalance_s
        successor = next((a for a in self.actors if a.moves_from is actor and a.state == "starting"), None)
        if successor is not None:  # the move's new actor replaces it
            successor.moves_from, successor.replaces = None, actor
        replace = successor is None and not draining and self.restarts < self.cluster.max_env_restarts
        self.log.write("env_actor_lost", env=self.config.key, actor=actor.name, node=actor.node, pid=actor.pid, why=why,
                       replaced=replace or successor is not None, restarts=self.restarts + int(replace))
        if replace:
            self.restarts += 1
            self.spawn(actor.slots, replaces=actor, target=self._replacement_node(), soft=True)
        self.changed.set()

    def _replacement_node(self) -> str | None:
        """The alive node with the fewest of this env's actors that can hold one, avoiding nodes where
        an actor was just lost (Ray may take a while to call a dead node dead); None: Ray chooses."""
        now = time.monotonic()
        counts = Counter(a.node for a in self.actors if a.state in ("starting", "ready"))
        candidates = [n["node"] for n in self.nodes
                      if fits(self.request, n["resources"]) and self.suspect.get(n["node"], 0.0) < now]
        return min(candidates, key=lambda node: counts[node], default=None)

    # ------------------------------------------------------------------ slots
    def pick(self) -> tuple[_Actor, int] | None:
        """A free slot of the ready actor with the most free slots (spreads episodes over actors)."""
        ready = [a for a in self.actors if a.state == "ready" and a.free]
        if not ready:
            return None
        actor = max(ready, key=lambda a: len(a.free))
        actor.busy += 1
        return actor, actor.free.pop()

    def put_back(self, actor: _Actor, slot: int) -> None:
        actor.busy -= 1
        if actor.state == "ready":
            actor.free.append(slot)
        elif actor.state == "draining" and actor.busy == 0:
            self.retire(actor, "moved")
        self.changed.set()

    def exhausted(self) -> bool:
        """No actor runs or starts for this env any more (the restart budget is spent)."""
        return all(a.state in ("lost", "retired") for a in self.actors)

    # ------------------------------------------------------------------ nodes
    def check_nodes(self, nodes: list[dict[str, Any]]) -> None:
        """Replace actors whose node left; move one actor to a node that has fewer than its share."""
        self.nodes = nodes
        alive = {n["node"] for n in nodes}
        for actor in self.actors:
            if actor.state in ("ready", "draining") and actor.node not in alive:
                self.lost(actor, f"node {actor.node} left the cluster")
        settling = time.perf_counter() - 2 * self.cluster.rebalance_s
        if any(a.state == "starting" and (a.started_at > settling or a.moves_from is not None) for a in self.actors):
            return  # one move at a time, after placement settles (an actor waiting for room does not hold moves back)
        eligible = [n["node"] for n in nodes if fits(self.request, n["resources"])]
        counts = Counter({node: 0 for node in eligible})
        counts.update(a.node for a in self.actors if a.state == "ready" and a.node in counts)
        if len(counts) < 2:
            return
        low, high = min(counts, key=counts.__getitem__), max(counts, key=counts.__getitem__)
        if counts[high] - counts[low] < 2:
            return
        source = max((a for a in self.actors if a.state == "ready" and a.node == high), key=lambda a: len(a.free))
        self.log.write("env_actor_moving", env=self.config.key, actor=source.name, source=high, target=low)
        self.spawn(source.slots, moves_from=source, target=low)

    def close(self) -> tuple[list[Any], list[Any]]:
        """``(actors to close, actors to end)``: every actor not known dead is ended; the running
        ones first close their envs (containers, browsers)."""
        for task in self.tasks:
            task.cancel()
        running = [a.handle for a in self.actors if a.state in ("ready", "draining")]
        ending = [a.handle for a in self.actors if a.state != "lost"]
        for actor in self.actors:
            actor.state = "lost" if actor.state == "lost" else "retired"
        return running, ending

    def summary(self) -> dict[str, Any]:
        return {
            "actors": [{"name": a.name, "state": a.state, "node": a.node, "pid": a.pid, "slots": a.slots, "steps": a.steps}
                       for a in self.actors],
            "restarts": self.restarts,
            "restart_s": [round(s, 3) for s in self.restart_s],
        }


class RayEnvCluster(EnvCluster):
    """:class:`EnvCluster` whose envs live in Ray actors (see the module docstring)."""

    def __init__(self, configs: list[EnvConfig], *, seed: int = 0, failure_window: int = 200,
                 cluster: ClusterConfig, log: ClusterLog, batch_calls: bool = False):
        super().__init__(configs, seed=seed, threads=1, failure_window=failure_window)
        self.cluster = cluster
        self.log = log
        self.batch_calls = batch_calls
        self._batches: dict[str, list[tuple[str, int, tuple, asyncio.Future]]] = {}
        free = _available_resources()  # before the actors take theirs
        self.pools = {c.key: _EnvPool(c, env_placement(cluster, c), cluster, seed, log) for c in configs}
        nodes = alive_nodes()
        for pool in self.pools.values():
            pool.nodes = nodes
        self._nodes = {n["node"] for n in nodes}  # known at the start (cluster.jsonl's driver_connected)
        self._wait_for_actors(free)
        self._watch = asyncio.get_running_loop().create_task(self._watch_nodes())

    def _wait_for_actors(self, free: dict[str, float]) -> None:
        """Block until the first actors that fit in the cluster's free resources run (within
        ``cluster.actor_start_timeout_s``), so training starts with their slots there: in sync mode
        the first batches then do not depend on how fast actors start.  Actors that do not fit wait
        for a node to join (logged)."""
        import ray

        refs: list[Any] = []
        fit = 0
        for pool in self.pools.values():
            room = min((int(free.get(name, 0.0) // amount) for name, amount in pool.request.items()), default=len(pool.actors))
            fit += min(room, len(pool.actors))
            for name, amount in pool.request.items():
                free[name] = free.get(name, 0.0) - amount * min(room, len(pool.actors))
            refs += [a.handle.where.remote() for a in pool.actors]
        if fit < len(refs):
            self.log.write("env_actors_waiting_for_nodes", fit=fit, asked=len(refs))
            print(f"the Ray cluster has room for {fit} of {len(refs)} env actors now; the others start when nodes "
                  f"with free resources join (or ask for less: cluster.env_actors.num_cpus)", flush=True)
        ready, pending = ray.wait(refs, num_returns=max(1, fit), timeout=self.cluster.actor_start_timeout_s)
        if len(ready) < fit:
            self.log.write("env_actors_slow", started=len(ready), pending=len(pending))

    # ------------------------------------------------------------------ pool
    async def acquire(self, key: str) -> RemoteWorker:
        if key not in self.pools:
            raise KeyError(f"unknown env {key!r}; configured: {sorted(self.pools)}")
        pool = self.pools[key]
        while True:
            picked = pool.pick()
            if picked is not None:
                return RemoteWorker(key, *picked)
            if pool.exhausted():
                message = (f"no env actor left for {key}: {pool.restarts} replaced, the restart budget "
                           f"(cluster.max_env_restarts={self.cluster.max_env_restarts}) is spent; the run "
                           f"stopped: run the same command again to resume from its latest checkpoint")
                self._record_failure(key, message)
                raise EnvActorsExhausted(message)
            pool.changed.clear()
            await pool.changed.wait()

    def is_full(self, key: str) -> bool:
        return not any(a.state == "ready" and a.free for a in self.pools[key].actors)

    def release(self, worker: RemoteWorker) -> None:  # type: ignore[override]
        # a failed env was already closed inside its actor (rebuilt on the slot's next reset)
        self.pools[worker.key].put_back(worker.actor, worker.slot)

    # ------------------------------------------------------------------ calls
    async def reset(self, worker: RemoteWorker, *, seed: int | None = None,  # type: ignore[override]
                    options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        return await self._remote(worker, "reset", seed, options)

    async def step(self, worker: RemoteWorker, action: Any) -> tuple[dict, float, bool, bool, dict]:  # type: ignore[override]
        return await self._remote(worker, "step", action)

    async def _remote(self, worker: RemoteWorker, method: str, *args: Any) -> Any:
        import ray

        actor = worker.actor
        if actor.state == "lost":
            message = f"env actor {actor.name} on node {actor.node} was lost"
            self._infra(worker, message)
            raise InfraError(message)
        try:
            result, busy = await self._call(actor, method, worker.slot, args)
        except ray.exceptions.RayError as exc:  # the actor died, or its node went away
            message = f"env actor {actor.name} on node {actor.node} was lost: {type(exc).__name__}: {_first_line(exc)}"
            self._infra(worker, message)
            self.pools[worker.key].lost(actor, message)
            raise InfraError(message) from None
        except Exception as exc:  # noqa: BLE001 - the env failed inside its actor
            message = _first_line(exc)
            self._infra(worker, message)
            raise InfraError(message) from None
        stats = self.stats[worker.key]
        with self._lock:
            stats.busy_s += busy
            if method == "step":
                stats.steps += 1
                actor.steps += 1
            else:
                stats.resets += 1
            self._outcomes[worker.key].append(True)
        return result

    async def _call(self, actor: _Actor, method: str, slot: int, args: tuple) -> Any:
        """One call on ``actor``; an env's exception is raised as itself, a lost actor as Ray's error.

        With ``batch_calls`` the calls made for one actor in the same turn of the event loop go in
        one Ray call (~10x less driver CPU per call than one Ray call each); the batch answers when
        its slowest call is done — free in lockstep, where a wave waits for its slowest env anyway,
        but in async mode it would hold fast envs back (measured: 35% fewer env steps/s)."""
        import ray

        if not self.batch_calls:
            try:
                return await getattr(actor.handle, method).remote(slot, *args)
            except ray.exceptions.RayTaskError as exc:
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
        future = asyncio.get_running_loop().create_future()
        batch = self._batches.setdefault(actor.name, [])
        batch.append((method, slot, args, future))
        if len(batch) == 1:
            asyncio.get_running_loop().call_soon(self._send, actor)
        return await future

    def _send(self, actor: _Actor) -> None:
        batch = self._batches.pop(actor.name)
        ref = actor.handle.calls.remote([(method, slot, args) for method, slot, args, _ in batch])
        asyncio.get_running_loop().create_task(_answer(ref, [future for *_, future in batch]))

    # ------------------------------------------------------------------ nodes
    async def _watch_nodes(self) -> None:
        while True:
            await asyncio.sleep(self.cluster.rebalance_s)
            try:
                nodes = await asyncio.to_thread(alive_nodes)
            except Exception as exc:  # noqa: BLE001 - the GCS is busy or restarting: try again later
                self.log.write("node_check_failed", error=_first_line(exc))
                continue
            current = {n["node"] for n in nodes}
            for node in sorted(current - self._nodes):
                labels = next(n["labels"] for n in nodes if n["node"] == node)
                self.log.write("node_joined", node=node, labels=labels)
            for node in sorted(self._nodes - current):
                self.log.write("node_left", node=node)
            self._nodes = current
            for pool in self.pools.values():
                pool.check_nodes(nodes)

    # ------------------------------------------------------------------ reporting
    def placement_summary(self) -> dict[str, Any]:
        per_node: Counter[str] = Counter()
        for pool in self.pools.values():
            for actor in pool.actors:
                per_node[str(actor.node)] += actor.steps
        return {"envs": {key: pool.summary() for key, pool in self.pools.items()}, "steps_per_node": dict(per_node)}

    def close(self) -> None:
        import ray

        self._watch.cancel()
        running, ending = [], []
        for pool in self.pools.values():
            closing, ended = pool.close()
            running += closing
            ending += ended
        if running:
            ray.wait([h.close.remote() for h in running], num_returns=len(running), timeout=30)
        for handle in ending:
            ray.kill(handle, no_restart=True)
        super().close()


def env_placement(cluster: ClusterConfig, env: EnvConfig) -> EnvActorPlacement:
    """``cluster.env_overrides`` entry for ``env`` (by name or id), else ``cluster.env_actors``."""
    for entry in cluster.env_overrides:
        if entry.env in (env.key, env.id):
            return entry
    return cluster.env_actors


def _kill(handle: Any) -> None:
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # noqa: BLE001 - it is gone already
        pass


def _available_resources() -> dict[str, float]:
    import ray

    return dict(ray.available_resources())


async def _answer(ref: Any, futures: list[asyncio.Future]) -> None:
    """Hand each caller its part of a batch's answer (or the error that ended the whole batch)."""
    try:
        outcomes = await ref
    except BaseException as exc:  # noqa: BLE001 - the actor was lost: every call of the batch fails
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        return
    for future, (ok, value) in zip(futures, outcomes):
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)


@functools.lru_cache(maxsize=None)
def _remote_class(cls: type) -> Any:
    import ray

    return ray.remote(cls)


async def _end_actor(handle: Any) -> None:
    import ray

    try:
        await asyncio.wait_for(_awaitable(handle.close.remote()), 30)
    except Exception:  # noqa: BLE001 - ending it anyway
        pass
    ray.kill(handle, no_restart=True)


async def _awaitable(ref: Any) -> Any:
    return await ref


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
