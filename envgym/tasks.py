"""Tasks: what the agent must do, how success is checked, and how to get there.

A task is one JSON object; a task set is a JSONL file of them.  Fields:

``task_id``        unique id within the set
``env_id``         the registered env it runs in, e.g. ``envgym/SQL-v0``
``instruction``    what the agent sees
``spec``           hidden from the agent: success criteria, constraints, ``difficulty``
``seed``           for procedural envs: the seed that builds the initial state
``initial_state``  a state to load with ``env.set_state`` (``None``: the env builds it from ``seed``)
``golden``         a target ``state``, a replayable ``actions`` list, and/or the expected ``answer``
``reward``         how the env scores the final state: ``kind="env"`` uses the env's own checker with
                   ``params``; ``kind="python"`` carries reward code (synthesised tasks)
``verification``   which checks the task passed, and when
``provenance``     where it came from (hand-written, generator model, prompt version…)

Tasks enter an episode through ``env.reset(options={"task": task_or_id})``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envgym.errors import TaskFileError, UnknownTaskError
from envgym.fileio import atomic_write
from envgym.hashing import state_hash


class Golden(BaseModel):
    """The reference solution: any of a target state, a replayable action list, an answer."""

    model_config = ConfigDict(extra="forbid")

    state: dict[str, Any] | None = None
    actions: list[Any] | None = None
    answer: Any = None


class RewardSpec(BaseModel):
    """How the final state is scored.  ``kind="env"``: the env's checker, configured by ``params``.
    ``kind="python"``: ``code`` defines ``reward(initial, final, trajectory=None) -> float | dict``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["env", "python"] = "env"
    params: dict[str, Any] = Field(default_factory=dict)
    code: str | None = None


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1)
    env_id: str = Field(min_length=1)
    instruction: str
    spec: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    initial_state: dict[str, Any] | None = None
    golden: Golden = Field(default_factory=Golden)
    reward: RewardSpec = Field(default_factory=RewardSpec)
    verification: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    @property
    def difficulty(self) -> Any:
        return self.spec.get("difficulty")

    def initial_state_hash(self) -> str | None:
        return None if self.initial_state is None else state_hash(self.initial_state)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=False)


SPLITS = ("train", "test")


def split_of(key: str, test_fraction: float = 0.25) -> str:
    """The split a split key belongs to: ``"test"`` for a fixed ``test_fraction`` of keys (by the
    key's sha256), else ``"train"`` — deterministic, so a key is never in both."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_fraction else "train"


def check_split(name: str) -> None:
    if name not in SPLITS:
        raise ValueError(f"unknown task split {name!r}; splits: {', '.join(SPLITS)}")


class TaskSet(Sequence[Task]):
    """An ordered, id-indexed collection of tasks."""

    def __init__(self, tasks: Iterable[Task] = (), source: str | None = None):
        self._tasks: list[Task] = []
        self._by_id: dict[str, Task] = {}
        self.source = source
        for task in tasks:
            self.add(task)

    def add(self, task: Task) -> None:
        if task.task_id in self._by_id:
            raise ValueError(f"duplicate task_id {task.task_id!r}")
        self._tasks.append(task)
        self._by_id[task.task_id] = task

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, str):
            return self.get(index)
        return self._tasks[index]

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_id
        return item in self._tasks

    def ids(self) -> list[str]:
        return list(self._by_id)

    def get(self, task_id: str) -> Task:
        try:
            return self._by_id[task_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(task_id, self._by_id, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            where = f" in {self.source}" if self.source else ""
            raise UnknownTaskError(f"no task {task_id!r}{where}{hint}") from None

    def sample(self, rng: np.random.Generator) -> Task:
        if not self._tasks:
            raise ValueError("cannot sample from an empty task set")
        return self._tasks[int(rng.integers(len(self._tasks)))]

    def filter(self, **spec_equals: Any) -> TaskSet:
        """Tasks whose ``spec`` has all the given key/value pairs."""
        keep = [t for t in self._tasks if all(t.spec.get(k) == v for k, v in spec_equals.items())]
        return TaskSet(keep, source=self.source)

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSONL, atomically."""
        save_tasks(path, self._tasks)

    def __repr__(self) -> str:
        return f"TaskSet({len(self)} tasks from {self.source or 'memory'})"


def parse_task(data: Any, where: str = "task") -> Task:
    """Validate one task object; errors name ``where`` (e.g. ``tasks.jsonl:12``) and the bad field."""
    if isinstance(data, Task):
        return data
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: a task must be a JSON object, got {type(data).__name__}")
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(task)'}: {err['msg']}" for err in exc.errors()
        )
        raise TaskFileError(f"{where}: invalid task: {problems}") from None


def load_tasks(path: str | os.PathLike) -> TaskSet:
    """Load a JSONL task file.  Blank lines and lines starting with ``#`` are skipped.

    Raises :class:`TaskFileError` naming ``file:line`` for unreadable JSON, schema violations and
    duplicate ids.
    """
    path = Path(path)
    if not path.exists():
        raise TaskFileError(f"{path}: no such task file")
    tasks = TaskSet(source=str(path))
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise TaskFileError(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
            task = parse_task(data, where)
            if task.task_id in tasks:
                raise TaskFileError(f"{where}: duplicate task_id {task.task_id!r}")
            tasks.add(task)
    return tasks


def save_tasks(path: str | os.PathLike, tasks: Iterable[Task]) -> None:
    """Write tasks as JSONL atomically."""
    lines = [task.model_dump_json() + "\n" for task in tasks]
    atomic_write(path, "".join(lines))


def write_task_file_main(build_tasks: Callable[[], list[Task]], default_path: str | os.PathLike,
                         argv: list[str] | None = None) -> None:
    """Body of a ``make_tasks.py`` script: build the tasks, write them to ``argv[0]`` (default
    ``default_path``) atomically, say how many."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(default_path)
    tasks = build_tasks()
    save_tasks(path, tasks)
    print(f"wrote {len(tasks)} tasks to {path}")
