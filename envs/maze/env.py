"""``envgym/Maze-v0``: reach the goal of a text gridworld maze.

**World.**  A maze of ``width x height`` cells carved from the task seed by randomized depth-first
search (a perfect maze: one path between any two cells), plus ``loops`` extra openings that create
cycles.  Start and goal are the two ends of a longest shortest path (found by two BFS sweeps from a
random cell), so a 12x12 maze takes dozens of moves.

**Actions.**  ``north`` / ``south`` / ``east`` / ``west`` (also ``n/s/e/w``, ``up/down/right/left``,
``go north``, ``move("north")``, ``move(direction="north")`` and the tool call
``{"name": "move", "arguments": {"direction": "north"}}``).  Walking into a wall is a legal move that
leaves the agent where it is ("You bump into a wall.").  Anything else is an invalid action whose
message lists the valid moves.

**Observations.**  ``text``: the feedback of the last move, an ASCII map (``#`` wall, ``.`` floor,
``A`` agent, ``G`` goal; ``view="local"`` draws only ``view_radius`` cells around the agent and hides
the goal's position), the agent's position and open directions, and the instruction.
``admissible_actions``: the four moves.  ``instruction``: the task.  ``tools``: the ``move`` schema.

**Rewards.**  ``1.0`` on reaching the goal (``terminated``, ``success=True``); every other move costs
``step_penalty`` (default ``0``).  Episodes truncate after ``max_turns`` (default ``4 * width *
height``, or the task's ``spec["max_turns"]``).

**Subgoals for planners.**  The maze is split into four quarters (north-west, north-east, south-west,
south-east; the middle row/column goes south/east); the text says which quarter the agent is in and
``admissible_subgoals`` lists ``reach the goal`` and ``reach the <quarter> quarter`` for each quarter;
``info["subgoal"]`` (at reset and after every move) is the one a shortest path pursues now: the next
quarter it enters, or the goal once it stays in this quarter (demonstrations of hierarchical agents
switch where it changes).

**Step grade.**  ``info["step_grade"]`` after every move: ``1.0`` when it brought the agent closer to
the goal (shortest-path distance), else ``0.0`` (a step judge for step filtering).

**State.**  ``get_state()`` holds the maze rows, position, goal and turn; ``anchor()`` depends only
on the maze layout and the agent's position, so the same state recurs across episodes of a task.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from envgym import Env, InvalidAction, Task, Transition, function_tool
from envgym.tasks import TaskSet, check_split, split_of
from envgym.actions import Call
from envgym.observation import Observation

from envgym.envs.maze import layout
from envgym.envs.maze.layout import DIRECTIONS

ENV_ID = "envgym/Maze-v0"
MIN_SIZE, MAX_SIZE = 2, 64
#: Sizes drawn by ``sample_task`` when the constructor fixes none.
SAMPLE_SIZE_RANGE = (4, 10)

ALIASES: dict[str, str] = {
    "north": "north", "n": "north", "up": "north", "u": "north",
    "south": "south", "s": "south", "down": "south", "d": "south",
    "east": "east", "e": "east", "right": "east", "r": "east",
    "west": "west", "w": "west", "left": "west", "l": "west",
}
VERBS = ("go", "move", "walk", "step", "head")
VALID_MOVES_HINT = (
    "Valid moves: north, south, east, west (or n/s/e/w, up/down/right/left, "
    'move("north"), or the tool move with {"direction": "north"}).'
)
MOVE_TOOL = function_tool(
    "move",
    "Move one cell in a direction.",
    {"direction": {"type": "string", "enum": list(DIRECTIONS)}},
)


def maze_instruction(width: int, height: int) -> str:
    return (
        f"Reach the goal G in this {width}x{height} maze. "
        "Move one cell at a time with north, south, east or west."
    )


def difficulty_for(width: int, height: int) -> str:
    cells = width * height
    return "easy" if cells <= 25 else "medium" if cells <= 64 else "hard"


def parse_direction(call: Call) -> str:
    """The direction an action asks for, or :class:`InvalidAction` explaining the valid moves."""
    if call.is_call:
        if call.name.lower() in ALIASES and not call.args and not call.kwargs:
            return ALIASES[call.name.lower()]  # north()
        if call.name.lower() != "move":
            raise InvalidAction(f"unknown tool {call.name[:40]!r}. {VALID_MOVES_HINT}")
        unexpected = set(call.kwargs) - {"direction"}
        if unexpected:
            raise InvalidAction(f"move() takes only 'direction', got {sorted(unexpected)[:3]}. {VALID_MOVES_HINT}")
        direction = call.argument(0, "direction")
        if not isinstance(direction, str):
            raise InvalidAction(f"move() needs a direction string, got {type(direction).__name__}. {VALID_MOVES_HINT}")
        return _lookup(direction)
    words = call.text.lower().strip().rstrip(".!").split()
    if len(words) == 2 and words[0] in VERBS:
        words = words[1:]
    return _lookup(" ".join(words) if words else call.text)


def _lookup(word: str) -> str:
    key = word.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    shown = word if len(word) <= 60 else word[:60] + "..."
    raise InvalidAction(f"unknown move {shown!r}. {VALID_MOVES_HINT}")


class MazeEnv(Env):
    """Text gridworld maze; see the module docstring."""

    default_task_file = "tasks.jsonl"
    default_max_turns = 4 * 8 * 8  # the real limit is set per maze by ``max_turns_for``

    def __init__(
        self,
        *,
        width: int | None = None,
        height: int | None = None,
        loops: int = 0,
        view: str = "full",
        view_radius: int = 2,
        step_penalty: float = 0.0,
        max_turns: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(max_turns=max_turns, **kwargs)
        for name, value in (("width", width), ("height", height)):
            if value is not None and not MIN_SIZE <= int(value) <= MAX_SIZE:
                raise ValueError(f"{name} must be in [{MIN_SIZE}, {MAX_SIZE}], got {value}")
        if view not in ("full", "local"):
            raise ValueError(f"view must be 'full' or 'local', got {view!r}")
        if view_radius < 1:
            raise ValueError(f"view_radius must be >= 1, got {view_radius}")
        self.width, self.height = width, height
        self.loops = int(loops)
        self.view = view
        self.view_radius = int(view_radius)
        self.step_penalty = float(step_penalty)
        self.rows: list[str] = []
        self.pos: tuple[int, int] = (0, 0)
        self.goal: tuple[int, int] = (0, 0)
        self.instruction = ""
        self._layout_id = ""
        self._dist_to_goal: dict[tuple[int, int], int] = {}
        self._subgoals: dict[tuple[int, int], str] = {}  # planned_subgoal by cell, for the loaded maze

    # ------------------------------------------------------------------ tasks
    def sample_task(self) -> Task:
        """A fresh procedural task drawn with ``np_random`` (so ``reset(seed=s)`` is deterministic)."""
        rng = self.np_random
        low, high = SAMPLE_SIZE_RANGE
        width = self.width or int(rng.integers(low, high + 1))
        height = self.height or int(rng.integers(low, high + 1))
        seed = int(rng.integers(2**31))
        return Task(
            task_id=f"maze-{width}x{height}-seed{seed}",
            env_id=ENV_ID,
            instruction=maze_instruction(width, height),
            seed=seed,
            spec={"width": width, "height": height, "loops": self.loops, "difficulty": difficulty_for(width, height)},
        )

    def task_split(self, name: str, limit: int | None = None) -> TaskSet:
        """Procedural split ``name``: mazes whose *layout* falls in that split (by a hash of its walls,
        so a test layout is never a training layout), distinct within the split, sizes interleaved
        (the env's ``width``/``height`` if set, else 3x3 … 12x12).  ``limit`` = total tasks
        (default 100 per size).  Ids ``maze-3x3-test-s<seed>`` resolve anywhere (:meth:`task_from_id`)."""
        check_split(name)
        sizes = [(self.width or self.height, self.height or self.width)] if (self.width or self.height) else [(n, n) for n in SPLIT_SIZES]
        total = limit or 100 * len(sizes)
        streams = [_split_stream(w, h, name) for w, h in sizes]
        tasks: list[Task] = []
        while len(tasks) < total and streams:
            for stream in list(streams):
                task = next(stream, None)
                if task is None:
                    streams.remove(stream)  # every layout of this size is used up
                elif len(tasks) < total:
                    tasks.append(task)
        return TaskSet(tasks, source=f"{ENV_ID} [{name}]")

    def task_from_id(self, task_id: str) -> Task:
        match = _SPLIT_ID.match(task_id)
        if match is None:
            return super().task_from_id(task_id)
        width, height, split, seed = int(match[1]), int(match[2]), match[3], int(match[4])
        task = split_task(width, height, split, seed)
        if layout_split(task) != split:
            raise KeyError(f"no task {task_id!r}: the layout of seed {seed} belongs to the other split")
        return task

    def tool_names(self) -> list[str]:
        return ["move"]

    # ------------------------------------------------------------------ hooks
    def _reset(self, task: Task) -> dict[str, Any]:
        if task.initial_state is not None:
            self._load_state(task.initial_state)
            return {"subgoal": self.planned_subgoal()}
        width = int(task.spec.get("width") or self.width or 8)
        height = int(task.spec.get("height") or self.height or 8)
        if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
            raise ValueError(f"task {task.task_id!r}: maze size {width}x{height} is outside [{MIN_SIZE}, {MAX_SIZE}]")
        loops = int(task.spec.get("loops", self.loops))
        rng = _task_rng(task)
        rows = layout.carve_maze(width, height, rng, loops=loops)
        probe = (int(rng.integers(height)), int(rng.integers(width)))
        start = layout.farthest_cell(rows, probe)  # two BFS sweeps: start and goal ~ the maze's diameter
        self._load(rows, start, layout.farthest_cell(rows, start), task.instruction)
        return {"subgoal": self.planned_subgoal()}

    def _step(self, call: Call) -> Transition:
        direction = parse_direction(call)
        if not layout.can_move(self.rows, self.pos, direction):
            return Transition(reward=self._move_reward(), feedback="You bump into a wall.",
                              info={"step_grade": 0.0, "subgoal": self.planned_subgoal()})
        before = self._dist_to_goal.get(self.pos, -1)
        self.pos = layout.neighbour(self.pos, direction)
        grade = {"step_grade": 1.0 if self._dist_to_goal.get(self.pos, -1) < before else 0.0,
                 "subgoal": self.planned_subgoal()}
        if self.pos == self.goal:
            return Transition(reward=1.0, terminated=True, success=True, feedback=f"You move {direction} and reach the goal!", info=grade)
        return Transition(reward=self._move_reward(), feedback=f"You move {direction}.", info=grade)

    def _move_reward(self) -> float:
        return -self.step_penalty if self.step_penalty else 0.0

    def _observe(self) -> Observation:
        return {
            "text": self._describe(),
            "admissible_actions": list(DIRECTIONS),
            "admissible_subgoals": list(SUBGOALS),
            "instruction": self.instruction,
            "tools": [MOVE_TOOL],
        }

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        return {
            "rows": list(self.rows),
            "pos": list(self.pos),
            "goal": list(self.goal),
            "turn": self.turn,
            "instruction": self.instruction,
            "task_id": self.task.task_id if self.task is not None else None,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Load a state from :meth:`get_state`.  On an env without a task (or with another task), a
        task is made from the state, so the env can step right away."""
        self._load_state(state)
        width, height = layout.maze_size(self.rows)
        if self.task is None or (state.get("task_id") and state["task_id"] != self.task.task_id):
            self.task = Task(
                task_id=str(state.get("task_id") or f"maze-state-{self._layout_id}"),
                env_id=ENV_ID,
                instruction=self.instruction,
                spec={"width": width, "height": height, "difficulty": difficulty_for(width, height)},
            )
        self._set_progress(turn=int(state.get("turn", 0)), episode_over=self.pos == self.goal)

    def max_turns_for(self, task: Task) -> int:
        """``4 * width * height`` of the loaded maze."""
        width, height = layout.maze_size(self.rows)
        return 4 * width * height

    def anchor(self) -> str:
        """``maze:<layout hash>:<row>,<col>`` — the same string whenever the agent stands on the same cell."""
        return f"maze:{self._layout_id}:{self.pos[0]},{self.pos[1]}"

    def oracle_action(self) -> str | None:
        """The first move of a shortest path to the goal (BFS), or ``None`` at the goal."""
        return layout.next_move(self._dist_to_goal, self.rows, self.pos)

    def planned_subgoal(self) -> str:
        """The subgoal of a planner on a shortest path: ``reach the <quarter> quarter`` for the next
        quarter the path enters, ``reach the goal`` once the path stays in this quarter (remembered
        per cell until another maze is loaded: every step reports it)."""
        if (known := self._subgoals.get(self.pos)) is not None:
            return known
        width, height = layout.maze_size(self.rows)
        here, cell, subgoal = quarter(self.pos, width, height), self.pos, "reach the goal"
        while (move := layout.next_move(self._dist_to_goal, self.rows, cell)) is not None:
            cell = layout.neighbour(cell, move)
            if (there := quarter(cell, width, height)) != here:
                subgoal = f"reach the {there} quarter"
                break
        self._subgoals[self.pos] = subgoal
        return subgoal

    def shortest_path_length(self) -> int:
        """Number of moves from the current position to the goal."""
        return self._dist_to_goal.get(self.pos, -1)

    # ------------------------------------------------------------------ helpers
    def _load_state(self, state: dict[str, Any]) -> None:
        rows = [str(row) for row in state["rows"]]
        _check_rows(rows)
        width, height = layout.maze_size(rows)
        instruction = str(state.get("instruction") or maze_instruction(width, height))
        self._load(rows, _cell(state["pos"], rows), _cell(state["goal"], rows), instruction)

    def _load(self, rows: list[str], pos: tuple[int, int], goal: tuple[int, int], instruction: str) -> None:
        self.rows, self.pos, self.goal, self.instruction = rows, pos, goal, instruction
        self._layout_id = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
        self._dist_to_goal = layout.distances_from(rows, goal)
        self._subgoals = {}

    def _describe(self) -> str:
        width, height = layout.maze_size(self.rows)
        local = self.view == "local"
        grid = layout.render(self.rows, self.pos, self.goal, radius=self.view_radius if local else None)
        title = f"Map of the {self.view_radius} cells around you" if local else "Map"
        row, col = self.pos
        lines = [
            f"{title} (# wall, . floor, A you, G goal; north is up):",
            *grid,
            f"You are at row {row}, column {col} of the {width}x{height} maze (row 0 is the top, column 0 the left).",
        ]
        lines.append(f"You are in the {quarter(self.pos, width, height)} quarter.")
        if not local:
            lines.append(f"The goal is at row {self.goal[0]}, column {self.goal[1]}.")
        lines.append(f"Open directions: {', '.join(layout.open_directions(self.rows, self.pos)) or 'none'}.")
        lines.append(f"Task: {self.instruction}")
        return "\n".join(lines)


QUARTERS = ("north-west", "north-east", "south-west", "south-east")
SUBGOALS = ("reach the goal", *(f"reach the {q} quarter" for q in QUARTERS))


def quarter(pos: tuple[int, int], width: int, height: int) -> str:
    """The quarter of the maze a cell lies in (the middle row/column of an odd size counts as south/east)."""
    row, col = pos
    return f"{'north' if row < height // 2 else 'south'}-{'west' if col < width // 2 else 'east'}"


SPLIT_SIZES = range(3, 13)
_SPLIT_ID = re.compile(r"maze-(\d+)x(\d+)-(train|test)-s(\d+)$")


def split_task(width: int, height: int, split: str, seed: int) -> Task:
    return Task(
        task_id=f"maze-{width}x{height}-{split}-s{seed}", env_id=ENV_ID, instruction=maze_instruction(width, height),
        seed=seed, spec={"width": width, "height": height, "loops": 0, "difficulty": difficulty_for(width, height), "split": split},
    )


def layout_split(task: Task) -> str:
    """The split of a task's wall layout (start and goal aside)."""
    rows = layout.carve_maze(int(task.spec["width"]), int(task.spec["height"]), _task_rng(task), loops=0)
    return split_of("\n".join(rows))


def _split_stream(width: int, height: int, split: str, max_misses: int = 2000):
    """Tasks of ``split`` at one size, each a layout not seen before in the stream, in seed order;
    ends after ``max_misses`` seeds in a row gave nothing new (small sizes have few layouts)."""
    seen: set[str] = set()
    seed, misses = 1_000_000 * width + 1000 * height, 0
    while misses < max_misses:
        task = split_task(width, height, split, seed)
        seed += 1
        rows = "\n".join(layout.carve_maze(width, height, _task_rng(task), loops=0))
        if rows in seen or split_of(rows) != split:
            misses += 1
            continue
        seen.add(rows)
        misses = 0
        yield task


def _task_rng(task: Task) -> np.random.Generator:
    """The generator that builds a task's maze: seeded by ``task.seed``, else by a hash of its id."""
    seed = task.seed if task.seed is not None else int(hashlib.sha256(task.task_id.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed)


def _check_rows(rows: list[str]) -> None:
    if len(rows) < 3 or len(rows) % 2 == 0 or any(len(row) != len(rows[0]) for row in rows) or len(rows[0]) % 2 == 0:
        raise ValueError("maze rows must form an odd-sized rectangle (2*height+1 rows of 2*width+1 characters)")
    if set("".join(rows)) - {layout.WALL, layout.FLOOR}:
        raise ValueError("maze rows may only contain '#' and '.'")


def _cell(value: Any, rows: list[str]) -> tuple[int, int]:
    width, height = layout.maze_size(rows)
    row, col = int(value[0]), int(value[1])
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"cell {value!r} is outside the {width}x{height} maze")
    return row, col
