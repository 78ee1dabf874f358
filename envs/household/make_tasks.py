"""Write the Household-v0 task set, deterministically: ``python -m envgym.envs.household.make_tasks [out.jsonl]``.

Seven tasks for each of the six goal types (42 in all), difficulties cycling easy / medium / hard.
Goals are drawn from each task's seed; every task carries the reference planner's solution as
``golden.actions``.
"""

from __future__ import annotations

from pathlib import Path

from envgym.oracle import oracle_actions
from envgym import Golden, Task
from envgym.tasks import write_task_file_main
from envgym.envs.household.env import ENV_ID, HouseholdEnv
from envgym.envs.household.generate import DIFFICULTIES, choose_goal, spec_for
from envgym.envs.household.goals import GOAL_TYPES

TASKS_PER_TYPE = 7
DEFAULT_PATH = Path(__file__).with_name("tasks.jsonl")


def build_tasks() -> list[Task]:
    tasks = []
    for type_index, goal_type in enumerate(GOAL_TYPES):
        for k in range(TASKS_PER_TYPE):
            seed = 100 * (type_index + 1) + k
            goal = choose_goal(seed, goal_type)
            task = Task(
                task_id=f"household-{goal_type}-{k}",
                env_id=ENV_ID,
                instruction=goal.instruction(),
                seed=seed,
                spec=spec_for(goal, DIFFICULTIES[k % len(DIFFICULTIES)]),
                provenance={"source": "envs/household/make_tasks.py"},
            )
            tasks.append(task.model_copy(update={"golden": Golden(actions=solve(task))}))
    return tasks


def solve(task: Task) -> list[str]:
    """The reference planner's commands for ``task``."""
    return oracle_actions(HouseholdEnv(), task)


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build_tasks, DEFAULT_PATH, argv)


if __name__ == "__main__":
    main()
