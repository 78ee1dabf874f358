"""Building task records for the desktop apps' ``make_tasks.py`` scripts."""

from __future__ import annotations

from typing import Any

from envgym.tasks import Task


def plan_steps(plan: list[dict[str, Any]]) -> int:
    """How many actions a plan takes (a menu path clicks each entry; waiting for a window takes none)."""
    count = 0
    for step in plan:
        (kind, value), = step.items()
        count += len(value) if kind == "menu" else len(value) - 1 if kind == "popup" else 0 if kind == "await" else 1
    return count


def desktop_task(env_id: str, task_id: str, instruction: str, state: dict[str, Any], params: dict[str, Any],
                 plan: list[dict[str, Any]], *, kind: str, answer: Any = None) -> Task:
    """A task whose oracle is ``plan`` (ending with an ``answer`` step) and whose checker gets ``params``."""
    if not plan or "answer" not in plan[-1]:
        raise ValueError(f"{task_id}: a plan must end with an answer step")
    steps = plan_steps(plan)
    difficulty = "easy" if steps <= 4 else "medium" if steps <= 9 else "hard"
    return Task(
        task_id=task_id, env_id=env_id, instruction=instruction, initial_state=state,
        spec={"difficulty": difficulty, "steps": steps, "type": kind, "plan": plan, "max_turns": max(20, 2 * steps + 10),
              "side_effects": "forbidden", "must_fail": ["random"]},
        golden={"answer": answer},
        reward={"kind": "env", "params": params},
        verification={"oracle": "spec.plan played through pixel and keyboard actions located on the live screen",
                      "noop_scores_zero": True},
        provenance={"source": "hand-written template", "generator": f"envs/desktop/{env_id.split('/')[-1]}"},
    )
