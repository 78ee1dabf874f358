"""Data manager: trajectory store, grouping, curation and admission control.

**Store.**  Every finished episode is appended to ``trajectories.jsonl`` with
:class:`envgym.EpisodeWriter` (one fsynced line per episode; a killed process leaves only complete
lines).  A checkpoint records the store's byte offset; on resume everything after it is moved to
``trajectories.orphaned.jsonl`` (those episodes are regenerated), so the store holds every training
episode exactly once.

**Grouping.**  Work is admitted a group at a time: a *slot* = ``G`` episodes of one task, reset to the
same task (and seed).  Slot ids are deterministic (``g<seq>``, a resample of ``g7`` is ``g7r1``), and so
are the seeds derived from them, so a lockstep (sync) run is reproducible whatever order envs finish
in.

**Curation** when a slot's ``G`` episodes are in:

* infra-failed episodes (``episode.infra_error``) are excluded and counted; the member is re-run
  (up to ``max_infra_retries``), so groups keep their size;
* no member succeeded and the *success bank* holds a success for the task (a pre-collected oracle
  episode or the policy's own earlier success) → the bank's newest success replaces one failure
  (``episode.metadata["replayed_from"]``), so the group has a positive example;
* all returns equal (nothing to learn from a group-relative advantage) → the group is dropped and
  the slot resampled with a freshly drawn task, up to ``max_resamples`` times, then accepted;
* successes of the group go to the bank (the ``success_bank_size`` newest per task).

**Adaptive tasks.**  Each task keeps an EMA of its success rate ``s``; new slots draw tasks with
weight ``max(min_task_weight, 1 − s)`` (solved tasks are rehearsed rarely, hard ones often).  The
EMA and the weights are updated at version boundaries (in task order), and a replay draws only on
successes banked by earlier versions, so nothing depends on the order episodes finish in.

**Admission** (AReaL): a new group may start only while
``accepted + running + G ≤ (η + version + 1) · B`` (counted in episodes; ``accepted`` is cumulative,
``running`` = the places of admitted groups not yet curated — an episode that finished before the rest
of its group still holds its place, so lockstep stays lockstep whatever order episodes finish in;
``η`` the allowed staleness: 0 = lockstep).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envgym.trajectory import Episode, EpisodeWriter
from envgym.trainers.config import DataConfig
from envgym.trainers.step_judge import make_step_judge


def admission_open(accepted: int, running: int, version: int, batch: int, staleness: int, incoming: int = 1) -> bool:
    """AReaL admission rule: ``accepted + running + incoming ≤ (η + version + 1) · B``
    (with ``incoming = 1`` this is the strict form ``accepted + running < (η + version + 1) · B``)."""
    return accepted + running + incoming <= (staleness + version + 1) * batch


def stable_seed(*parts: Any) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass(frozen=True)
class TaskRef:
    env_key: str
    task_id: str

    @property
    def key(self) -> str:
        return f"{self.env_key}::{self.task_id}"


@dataclass
class WorkItem:
    """One episode to run: member ``member`` of slot ``slot_id``."""

    slot_id: str
    member: int
    task: TaskRef
    seed: int
    oracle: bool = False


@dataclass
class Group:
    """A curated group, ready for the learner."""

    slot_id: str
    order: tuple[int, int]
    task: TaskRef
    episodes: list[Episode]
    admitted_version: int
    replayed: int = 0


@dataclass
class _Slot:
    slot_id: str
    order: tuple[int, int]
    task: TaskRef
    size: int
    attempt: int
    admitted_version: int
    episodes: dict[int, Episode] = field(default_factory=dict)
    outstanding: set[int] = field(default_factory=set)
    retries: int = 0
    next_member: int = 0


class DataManager:
    def __init__(
        self,
        config: DataConfig,
        tasks: list[TaskRef],
        *,
        group_size: int,
        batch_episodes: int,
        staleness: int,
        store_dir: str | os.PathLike,
        seed: int = 0,
        max_infra_retries: int = 2,
    ):
        if not tasks:
            raise ValueError("the task pool is empty")
        self.config = config
        self.tasks = list(tasks)
        self.G = int(group_size)
        self.B = int(batch_episodes)
        self.staleness = int(staleness)
        self.seed = int(seed)
        self.max_infra_retries = int(max_infra_retries)
        self.store_path = Path(store_dir) / "trajectories.jsonl"
        self._writer: EpisodeWriter | None = None
        self._lock = threading.Condition()
        # counters
        self.version = 0
        self.accepted = 0
        self.running = 0
        self.seq = 0
        self.counts: dict[str, int] = defaultdict(int)
        # state
        self._slots: dict[str, _Slot] = {}
        self._queue: deque[WorkItem] = deque()  # work that bypasses admission (retries, relaunches)
        self._resample: deque[_Slot] = deque()  # dropped slots waiting for a replacement
        self._ready: list[Group] = []
        self.task_success: dict[str, float] = {t.key: 0.0 for t in self.tasks}
        self._task_window: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # successes, episodes
        self._weights = self._compute_weights()
        self.bank: dict[str, list[Episode]] = defaultdict(list)
        self.closed = False
        self._window = [0, 0, 0.0]  # finished episodes, successes, return sum since the last pop_window()
        self.judge = make_step_judge(config.step_judge)
        self.judge_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ store
    def open_store(self, offset: int | None = None) -> None:
        """Open the store for appending; with ``offset``, first cut it back to that size (the tail
        goes to ``trajectories.orphaned.jsonl``)."""
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        if offset is not None and self.store_path.exists() and self.store_path.stat().st_size > offset:
            with open(self.store_path, "rb+") as handle:
                handle.seek(offset)
                tail = handle.read()
                orphan = self.store_path.with_name("trajectories.orphaned.jsonl")
                with open(orphan, "ab") as out:
                    out.write(tail if tail.endswith(b"\n") or not tail else tail + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
            self.counts["orphaned_bytes"] += len(tail)
        elif offset is None and self.store_path.exists():
            self.store_path.unlink()  # fresh run
        self._writer = EpisodeWriter(self.store_path, fsync=self.config.fsync)

    def store_offset(self) -> int:
        return self.store_path.stat().st_size if self.store_path.exists() else 0

    def _record(self, episode: Episode) -> None:
        if self._writer is not None:
            self._writer.write(episode)

    # ------------------------------------------------------------------ tasks
    def _compute_weights(self) -> np.ndarray:
        if not self.config.adaptive_tasks:
            return np.ones(len(self.tasks)) / len(self.tasks)
        w = np.array([max(self.config.min_task_weight, 1.0 - self.task_success[t.key]) for t in self.tasks])
        return w / w.sum()

    def _draw_task(self, slot_id: str) -> TaskRef:
        rng = np.random.default_rng(stable_seed(self.seed, "task", slot_id))
        return self.tasks[int(rng.choice(len(self.tasks), p=self._weights))]

    # ------------------------------------------------------------------ admission
    def admit(self) -> list[WorkItem]:
        """Work that may start now (call whenever something changed)."""
        with self._lock:
            out: list[WorkItem] = []
            while self._queue:
                item = self._queue.popleft()
                self.running += 1
                out.append(item)
            while not self.closed and admission_open(self.accepted, self._places_held(), self.version, self.B, self.staleness, self.G):
                if self._resample:
                    parent = self._resample.popleft()
                    slot_id = f"{parent.slot_id.split('r')[0]}r{parent.attempt + 1}"
                    slot = self._new_slot(slot_id, parent.order[0], parent.attempt + 1)
                else:
                    slot_id = f"g{self.seq}"
                    slot = self._new_slot(slot_id, self.seq, 0)
                    self.seq += 1
                for member in range(slot.size):
                    out.append(self._work(slot, member))
                    self.running += 1
            return out

    def _places_held(self) -> int:
        """Episodes admitted and not yet curated: every open slot holds its ``G`` places."""
        return sum(slot.size for slot in self._slots.values())

    def _new_slot(self, slot_id: str, root: int, attempt: int) -> _Slot:
        slot = _Slot(slot_id, (root, attempt), self._draw_task(slot_id), self.G, attempt, self.version)
        slot.next_member = slot.size
        slot.outstanding = set(range(slot.size))
        self._slots[slot_id] = slot
        self.counts["groups_started"] += 1
        return slot

    def _work(self, slot: _Slot, member: int) -> WorkItem:
        # every member of a slot resets to the same task with the same env seed
        return WorkItem(slot.slot_id, member, slot.task, stable_seed(self.seed, "env", slot.slot_id))

    # ------------------------------------------------------------------ results
    def add_episode(self, item: WorkItem, episode: Episode) -> None:
        """Record a finished episode; curate its group when complete."""
        with self._lock:
            self.running -= 1
            episode.metadata.update({"slot_id": item.slot_id, "member": item.member, "task_key": item.task.key})
            self._record(episode)
            self.counts["episodes"] += 1
            slot = self._slots.get(item.slot_id)
            if slot is None:  # slot of a run we no longer track
                self._lock.notify_all()
                return
            slot.outstanding.discard(item.member)
            if not episode.infra_error:
                self._window[0] += 1
                self._window[1] += int(episode.success)
                self._window[2] += episode.total_return
            if episode.infra_error:
                self.counts["infra_excluded"] += 1
                if slot.retries < self.max_infra_retries:
                    slot.retries += 1
                    member = slot.next_member
                    slot.next_member += 1
                    slot.outstanding.add(member)
                    self._queue.append(self._work(slot, member))
            else:
                slot.episodes[item.member] = episode
            if not slot.outstanding:
                self._curate(slot)
            self._lock.notify_all()

    def _curate(self, slot: _Slot) -> None:
        del self._slots[slot.slot_id]
        members = [slot.episodes[k] for k in sorted(slot.episodes)]
        task_key = slot.task.key
        if members:  # folded into the EMA at the next version boundary (order-independent)
            window = self._task_window[task_key]
            window[0] += sum(float(ep.success) for ep in members)
            window[1] += len(members)
        if len(members) < min(2, slot.size):
            self.counts["groups_dropped_infra"] += 1
            self.accepted += slot.size  # counted as consumed so admission moves on
            self._ready.append(Group(slot.slot_id, slot.order, slot.task, [], slot.admitted_version))
            return
        replayed = 0
        # only successes banked by earlier versions: independent of the order groups finish in
        usable = [ep for ep in self.bank.get(task_key, []) if ep.metadata["bank_key"][0] < slot.admitted_version]
        if self.config.replay_successes and not any(ep.success for ep in members) and usable:
            source = usable[-1]
            copy = Episode.from_dict(source.to_dict())
            copy.metadata = {**copy.metadata, "replayed_from": source.episode_id, "replay": True}
            members[-1] = copy
            replayed = 1
            self.counts["groups_replayed"] += 1
        for ep in members:
            if ep.success and not ep.metadata.get("replay"):
                self.add_success(task_key, ep, (slot.admitted_version, *slot.order, ep.metadata.get("member", 0)))
        returns = [ep.total_return for ep in members]
        uniform = len(members) > 1 and max(returns) - min(returns) < 1e-9
        if uniform and self.config.drop_uniform_groups and slot.attempt < self.config.max_resamples:
            self.counts["groups_dropped_uniform"] += 1
            self._resample.append(slot)
            return
        if uniform:
            self.counts["groups_uniform_accepted"] += 1
        self.counts["groups_accepted"] += 1
        self.accepted += slot.size
        self._ready.append(Group(slot.slot_id, slot.order, slot.task, members, slot.admitted_version, replayed))

    def add_success(self, task_key: str, episode: Episode, key: tuple = (-1,)) -> None:
        """Keep a successful episode (own or pre-collected) for replay on this task.  ``key`` orders
        the bank (``(version, slot, attempt, member)``; pre-collected ones ``(-1, ...)``); the newest
        ``success_bank_size`` are kept."""
        episode.metadata["bank_key"] = list(key)
        bank = self.bank[task_key]
        bank.append(episode)
        bank.sort(key=lambda ep: tuple(ep.metadata["bank_key"]))
        del bank[: -self.config.success_bank_size]

    def oracle_work(self, per_task: int = 1) -> list[WorkItem]:
        """Work items that record oracle demonstrations into the bank (not admission-counted)."""
        return [
            WorkItem(f"oracle-{i}-{k}", 0, task, stable_seed(self.seed, "oracle", i, k), oracle=True)
            for i, task in enumerate(self.tasks)
            for k in range(per_task)
        ]

    def add_oracle_episode(self, item: WorkItem, episode: Episode) -> None:
        with self._lock:
            episode.metadata.update({"slot_id": item.slot_id, "oracle": True, "task_key": item.task.key})
            if episode.success and not episode.infra_error:
                self.add_success(item.task.key, episode, (-1, item.slot_id))
                self.counts["oracle_successes"] += 1

    # ------------------------------------------------------------------ learner side
    def ready_groups(self) -> int:
        with self._lock:
            return len(self._ready)

    def take_batch(self, timeout: float | None = None, stop: threading.Event | None = None) -> list[Group] | None:
        """Block until ``B / G`` curated groups are ready; return them (oldest slots first), their
        turns graded by the step judge when one is configured (outside the lock: rollouts go on)."""
        need = self.B // self.G
        with self._lock:
            while len(self._ready) < need:
                if self.closed or (stop is not None and stop.is_set()):
                    return None
                self._lock.wait(timeout=0.1 if timeout is None else min(timeout, 0.1))
            self._ready.sort(key=lambda g: g.order)
            batch, self._ready = self._ready[:need], self._ready[need:]
        if self.judge is not None:
            self.judge_metrics = self.judge.annotate([ep for g in batch for ep in g.episodes if not ep.infra_error])
        return batch

    def set_version(self, version: int) -> None:
        """The learner published ``version``: refresh task weights and open admission."""
        with self._lock:
            self.version = int(version)
            for task in self.tasks:  # fixed order: the EMA does not depend on finishing order
                wins, n = self._task_window.pop(task.key, (0.0, 0.0))
                if n:
                    self.task_success[task.key] = 0.7 * self.task_success[task.key] + 0.3 * wins / n
            self._weights = self._compute_weights()
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()
        if self.judge is not None:
            self.judge.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: counters, task stats, bank, curated-but-unused
        groups and in-flight slots (their unfinished members are re-run on resume)."""
        with self._lock:
            def eps(episodes: list[Episode]) -> list[str]:
                return [ep.to_json() for ep in episodes]

            return {
                "version": self.version,
                "accepted": self.accepted,
                "in_flight_episodes": self.running,
                "seq": self.seq,
                "counts": dict(self.counts),
                "task_success": dict(self.task_success),
                "task_window": {k: list(v) for k, v in self._task_window.items()},
                "bank": {k: eps(v) for k, v in self.bank.items()},
                "ready": [
                    {"slot_id": g.slot_id, "order": list(g.order), "task": [g.task.env_key, g.task.task_id],
                     "episodes": eps(g.episodes), "admitted_version": g.admitted_version, "replayed": g.replayed}
                    for g in self._ready
                ],
                "slots": [
                    {"slot_id": s.slot_id, "order": list(s.order), "task": [s.task.env_key, s.task.task_id], "size": s.size,
                     "attempt": s.attempt, "admitted_version": s.admitted_version, "retries": s.retries,
                     "next_member": s.next_member, "episodes": {str(k): e.to_json() for k, e in s.episodes.items()},
                     "outstanding": sorted(s.outstanding)}
                    for s in self._slots.values()
                ],
                "resample": [s.slot_id for s in self._resample],
                "resample_slots": [
                    {"slot_id": s.slot_id, "order": list(s.order), "task": [s.task.env_key, s.task.task_id], "size": s.size,
                     "attempt": s.attempt, "admitted_version": s.admitted_version}
                    for s in self._resample
                ],
                "queue": [[w.slot_id, w.member, w.task.env_key, w.task.task_id, w.seed, w.oracle] for w in self._queue],
                "store_offset": self.store_offset(),
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def eps(items: list[str]) -> list[Episode]:
            return [Episode.from_dict(json.loads(x)) for x in items]

        with self._lock:
            self.version = int(state["version"])
            self.accepted = int(state["accepted"])
            self.seq = int(state["seq"])
            self.counts = defaultdict(int, state["counts"])
            self.task_success.update(state["task_success"])
            self._task_window = defaultdict(lambda: [0.0, 0.0], {k: list(v) for k, v in state.get("task_window", {}).items()})
            self.bank = defaultdict(list, {k: eps(v) for k, v in state["bank"].items()})
            self._ready = [
                Group(g["slot_id"], tuple(g["order"]), TaskRef(*g["task"]), eps(g["episodes"]), g["admitted_version"], g["replayed"])
                for g in state["ready"]
            ]
            self._slots = {}
            self._queue = deque(WorkItem(s, m, TaskRef(e, t), seed, oracle) for s, m, e, t, seed, oracle in state["queue"])
            self.running = 0
            for s in state["slots"]:
                slot = _Slot(s["slot_id"], tuple(s["order"]), TaskRef(*s["task"]), s["size"], s["attempt"], s["admitted_version"])
                slot.retries, slot.next_member = s["retries"], s["next_member"]
                slot.episodes = {int(k): Episode.from_dict(json.loads(v)) for k, v in s["episodes"].items()}
                slot.outstanding = set(s["outstanding"])
                self._slots[slot.slot_id] = slot
                for member in sorted(slot.outstanding):  # unfinished when the checkpoint was taken: re-run
                    self._queue.append(self._work(slot, member))
            self._resample = deque(
                _Slot(s["slot_id"], tuple(s["order"]), TaskRef(*s["task"]), s["size"], s["attempt"], s["admitted_version"])
                for s in state["resample_slots"]
            )
            self._weights = self._compute_weights()

    # ------------------------------------------------------------------ reporting
    def pop_window(self) -> dict[str, float]:
        """Success and return over *every* episode finished since the last call (curated away or not)."""
        with self._lock:
            n, wins, total = self._window
            self._window = [0, 0, 0.0]
        if n == 0:
            return {}
        return {"rollout/success": wins / n, "rollout/return": total / n, "rollout/finished": float(n)}

    def metrics(self) -> dict[str, float]:
        with self._lock:
            out = {f"data/{k}": float(v) for k, v in self.counts.items()}
            out["data/accepted"] = float(self.accepted)
            out["data/running"] = float(self.running)
            out["data/ready_groups"] = float(len(self._ready))
            out["data/bank_tasks"] = float(sum(1 for v in self.bank.values() if v))
            out.update({f"data/{k}": v for k, v in self.judge_metrics.items()})
            return out
