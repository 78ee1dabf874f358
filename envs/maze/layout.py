"""Pure maze algorithms: carving, shortest paths and rendering.

A maze of ``width x height`` cells is stored as a *block grid* of ``2*height+1`` rows of
``2*width+1`` characters: ``#`` is wall, ``.`` is open floor.  Cell ``(row, col)`` sits at grid
position ``(2*row+1, 2*col+1)``; the wall between two neighbouring cells sits half-way between them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

WALL = "#"
FLOOR = "."

#: direction name -> (row delta, column delta); north is up (row - 1).
DIRECTIONS: dict[str, tuple[int, int]] = {
    "north": (-1, 0),
    "south": (1, 0),
    "east": (0, 1),
    "west": (0, -1),
}

Cell = tuple[int, int]


def carve_maze(width: int, height: int, rng: np.random.Generator, loops: int = 0) -> list[str]:
    """A perfect maze by randomized depth-first search, then ``loops`` extra openings.

    Depth-first backtracking: start at a random cell; repeatedly step to a random unvisited
    neighbour, knocking down the wall between, and backtrack when there is none.  Every cell is
    visited once, so the result is a spanning tree of the cell graph (exactly one path between any
    two cells).  Each extra opening removes one more interior wall between two cells and closes a
    cycle.
    """
    grid = [[WALL] * (2 * width + 1) for _ in range(2 * height + 1)]
    visited = np.zeros((height, width), dtype=bool)
    start = (int(rng.integers(height)), int(rng.integers(width)))
    visited[start] = True
    grid[2 * start[0] + 1][2 * start[1] + 1] = FLOOR
    stack = [start]
    while stack:
        row, col = stack[-1]
        options = [
            (dr, dc)
            for dr, dc in DIRECTIONS.values()
            if 0 <= row + dr < height and 0 <= col + dc < width and not visited[row + dr, col + dc]
        ]
        if not options:
            stack.pop()
            continue
        dr, dc = options[int(rng.integers(len(options)))]
        nxt = (row + dr, col + dc)
        grid[2 * row + 1 + dr][2 * col + 1 + dc] = FLOOR
        grid[2 * nxt[0] + 1][2 * nxt[1] + 1] = FLOOR
        visited[nxt] = True
        stack.append(nxt)
    _open_loops(grid, width, height, rng, loops)
    return ["".join(row) for row in grid]


def _open_loops(grid: list[list[str]], width: int, height: int, rng: np.random.Generator, loops: int) -> None:
    """Remove ``loops`` randomly chosen interior walls that separate two cells."""
    if loops <= 0:
        return
    candidates = [
        (r, c)
        for r in range(1, 2 * height)
        for c in range(1, 2 * width)
        if grid[r][c] == WALL and (r % 2) != (c % 2)  # between two cells, not a corner post
    ]
    for index in rng.permutation(len(candidates))[:loops]:
        r, c = candidates[int(index)]
        grid[r][c] = FLOOR


def maze_size(rows: Sequence[str]) -> tuple[int, int]:
    """``(width, height)`` in cells of a block grid."""
    return (len(rows[0]) - 1) // 2, (len(rows) - 1) // 2


def can_move(rows: Sequence[str], cell: Cell, direction: str) -> bool:
    """True when no wall separates ``cell`` from its neighbour in ``direction``."""
    dr, dc = DIRECTIONS[direction]
    width, height = maze_size(rows)
    row, col = cell[0] + dr, cell[1] + dc
    if not (0 <= row < height and 0 <= col < width):
        return False
    return rows[2 * cell[0] + 1 + dr][2 * cell[1] + 1 + dc] != WALL


def neighbour(cell: Cell, direction: str) -> Cell:
    dr, dc = DIRECTIONS[direction]
    return cell[0] + dr, cell[1] + dc


def open_directions(rows: Sequence[str], cell: Cell) -> list[str]:
    """Directions the agent can move from ``cell``, in :data:`DIRECTIONS` order."""
    return [d for d in DIRECTIONS if can_move(rows, cell, d)]


def distances_from(rows: Sequence[str], source: Cell) -> dict[Cell, int]:
    """Breadth-first search: ``{cell: number of moves from source}`` for every reachable cell."""
    dist = {source: 0}
    queue = deque([source])
    while queue:
        cell = queue.popleft()
        for direction in open_directions(rows, cell):
            nxt = neighbour(cell, direction)
            if nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist


def farthest_cell(rows: Sequence[str], source: Cell) -> Cell:
    """The reachable cell with the largest BFS distance from ``source`` (first in row-major order on ties)."""
    dist = distances_from(rows, source)
    return max(sorted(dist), key=lambda cell: dist[cell])


def next_move(dist_to_goal: dict[Cell, int], rows: Sequence[str], cell: Cell) -> str | None:
    """First step of a shortest path: the open direction whose neighbour is one move closer to the goal.

    ``dist_to_goal`` is :func:`distances_from` the goal.  ``None`` at the goal or when it is unreachable.
    """
    here = dist_to_goal.get(cell)
    if not here:
        return None
    for direction in open_directions(rows, cell):
        if dist_to_goal.get(neighbour(cell, direction)) == here - 1:
            return direction
    return None


def render(rows: Sequence[str], agent: Cell, goal: Cell, radius: int | None = None) -> list[str]:
    """The block grid with ``A`` for the agent and ``G`` for the goal.

    With ``radius`` (in cells) only the window of grid rows/columns within ``2*radius+1`` characters of
    the agent is drawn (clipped at the border), so the goal shows only when it is near.
    """
    grid = [list(row) for row in rows]
    grid[2 * goal[0] + 1][2 * goal[1] + 1] = "G"
    grid[2 * agent[0] + 1][2 * agent[1] + 1] = "A"
    if radius is None:
        return ["".join(row) for row in grid]
    reach = 2 * radius + 1
    center_r, center_c = 2 * agent[0] + 1, 2 * agent[1] + 1
    r0, r1 = max(0, center_r - reach), min(len(grid), center_r + reach + 1)
    c0, c1 = max(0, center_c - reach), min(len(grid[0]), center_c + reach + 1)
    return ["".join(row[c0:c1]) for row in grid[r0:r1]]
