"""Write the Maze-v0 task set, deterministically: ``python -m envgym.envs.maze.make_tasks [out.jsonl]``.

Four tasks for every square size from 3x3 to 12x12 (40 in all); every other task of the larger
sizes gets a few extra openings (``loops``) so the maze has cycles.  Each task carries the oracle's
shortest path as ``golden.actions``.
"""

from __future__ import annotations

from pathlib import Path

from envgym.oracle import oracle_actions
from envgym import Golden, Task
from envgym.tasks import write_task_file_main
from envgym.envs.maze.env import ENV_ID, MazeEnv, difficulty_for, maze_instruction

SIZES = range(3, 13)
TASKS_PER_SIZE = 4
DEFAULT_PATH = Path(__file__).with_name("tasks.jsonl")


def build_tasks() -> list[Task]:
    tasks = []
    for size in SIZES:
        for k in range(TASKS_PER_SIZE):
            loops = size // 3 if (size >= 6 and k % 2 == 1) else 0
            task = Task(
                task_id=f"maze-{size}x{size}-{k}",
                env_id=ENV_ID,
                instruction=maze_instruction(size, size),
                seed=1000 * size + k,
                spec={"width": size, "height": size, "loops": loops, "difficulty": difficulty_for(size, size)},
                provenance={"source": "envs/maze/make_tasks.py"},
            )
            tasks.append(task.model_copy(update={"golden": Golden(actions=solve(task))}))
    return tasks


def solve(task: Task) -> list[str]:
    """The oracle's shortest path for ``task``."""
    return oracle_actions(MazeEnv(), task)


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build_tasks, DEFAULT_PATH, argv)


if __name__ == "__main__":
    main()
