"""Building task records for the apps' ``make_tasks.py`` scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envgym.tasks import Task, save_tasks


def difficulty(actions: list[str]) -> str:
    n = len(actions)
    return "easy" if n <= 4 else "medium" if n <= 9 else "hard"


def make_task(env_id: str, task_id: str, instruction: str, params: dict[str, Any], actions: list[str], *,
              seed: int | None = None, initial_state: dict | None = None, answer: Any = None,
              start_path: str = "/", task_type: str = "", side_effects: str = "forbidden") -> Task:
    """A task whose oracle is the scripted ``actions`` (ending with ``answer(...)``)."""
    return Task(
        task_id=task_id, env_id=env_id, instruction=instruction, seed=seed, initial_state=initial_state,
        spec={"difficulty": difficulty(actions), "steps": len(actions), "type": task_type or params.get("type", ""),
              "start_path": start_path, "side_effects": side_effects},
        golden={"actions": actions, "answer": answer},
        reward={"kind": "env", "params": params},
        verification={"oracle": "scripted golden.actions replayed through the browser", "noop_scores_zero": True},
        provenance={"source": "hand-written template", "generator": f"envs/web/{env_id.split('/')[-1]}"},
    )


def write(tasks: list[Task], path: Path) -> None:
    ids = [t.task_id for t in tasks]
    assert len(ids) == len(set(ids)), "duplicate task ids"
    save_tasks(path, tasks)
    print(json.dumps({"written": str(path), "tasks": len(tasks)}))
