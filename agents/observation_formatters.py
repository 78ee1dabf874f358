"""Observation formatters for the compact choice agent: observation dict → short user message.

Short prompts are what make a from-scratch policy trainable on a CPU: every prompt token costs a
forward pass per turn.  A formatter only *reads* the observation (it works the same for local,
remote and containerised envs); when it cannot parse an observation it returns the full text, so it
never hides information by accident.

=================  ===================================================================
``text``           the observation's text as the env wrote it
``maze_compact``   Maze: the ASCII map lines (``#.AG``) + ``r<row> c<col>`` (≈ 50 tokens)
``maze_relative``  Maze: where the goal lies from here, the open directions and where the agent
                   came from, e.g. ``goal 1 south 2 east\nopen south west\nfrom west`` (≈ 15
                   tokens; the same text in every layout, so a policy can generalise to unseen
                   mazes; "from" is all the memory a no-backtracking walk needs)
``maze_rooms``     ``maze_relative`` plus the quarter the agent is in (``in north-west``), for
                   agents whose subgoals are the maze's quarters
``household``      Household: the task, where the agent is, what it sees there and what it
                   carries, e.g. ``task put a hot apple in fridge.\nat countertop 1\nsee apple 1,
                   mug 2\nhold nothing`` (≈ 25 tokens instead of ≈ 60)
=================  ===================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_MAP_CHARS = set("#.AG")
_POSITION = re.compile(r"row (\d+), column (\d+)")


def text_observation(observation: dict[str, Any]) -> str:
    return str(observation.get("text", "")).strip() or "(no observation text)"


def maze_compact(observation: dict[str, Any]) -> str:
    """The map lines of a Maze observation plus the agent's position, e.g. ``"#.#\\n#A.\\n###\\nr2 c0"``."""
    text = str(observation.get("text", ""))
    grid = [line for line in text.split("\n") if line and set(line) <= _MAP_CHARS]
    match = _POSITION.search(text)
    if not grid or match is None:
        return text_observation(observation)
    return "\n".join(grid) + f"\nr{match.group(1)} c{match.group(2)}"


_GOAL = re.compile(r"goal is at row (\d+), column (\d+)")
_OPEN = re.compile(r"Open directions: ([a-z, ]+)\.")
_MOVED = re.compile(r"^You move (north|south|east|west)")
_OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


def maze_relative(observation: dict[str, Any]) -> str:
    """Goal offset (rows south/north, columns east/west), open directions and the direction the agent
    came from (after a move; ``from none`` at the start or after bumping into a wall)."""
    text = str(observation.get("text", ""))
    here, goal, open_dirs = _POSITION.search(text), _GOAL.search(text), _OPEN.search(text)
    if here is None or goal is None or open_dirs is None:
        return text_observation(observation)
    rows, cols = int(goal.group(1)) - int(here.group(1)), int(goal.group(2)) - int(here.group(2))
    vertical = f"{abs(rows)} {'south' if rows >= 0 else 'north'}"
    horizontal = f"{abs(cols)} {'east' if cols >= 0 else 'west'}"
    moved = _MOVED.match(text)
    came_from = _OPPOSITE[moved.group(1)] if moved else "none"
    return f"goal {vertical} {horizontal}\nopen {open_dirs.group(1).replace(',', '')}\nfrom {came_from}"


_QUARTER = re.compile(r"You are in the ([a-z-]+) quarter\.")


def maze_rooms(observation: dict[str, Any]) -> str:
    """:func:`maze_relative` plus ``in <quarter>``."""
    relative = maze_relative(observation)
    where = _QUARTER.search(str(observation.get("text", "")))
    return relative if where is None else f"{relative}\nin {where.group(1)}"


_TASK = re.compile(r"Your task is to: (.+)")
_STATUS = re.compile(r"Location: (.+?)(?: \([a-z]+\))?\. Carrying: (.+)\.")
_SEEN = re.compile(r"(?:In it|On the [^,]+), you see (.+)\.")


def household(observation: dict[str, Any]) -> str:
    """Task, location, what is seen here (``closed`` for a closed receptacle, nothing in the middle
    of the house) and what is carried, one short line each."""
    text = str(observation.get("text", ""))
    task, status = _TASK.search(text), _STATUS.search(text)
    if task is None or status is None:
        return text_observation(observation)
    seen = _SEEN.search(text)
    if seen is not None:
        things = seen.group(1).replace(", and ", ", ").replace(" and ", ", ")
        see = ", ".join(t.removeprefix("a ").removeprefix("an ") for t in things.split(", "))
    else:
        see = "closed" if "is closed." in text else "-"
    held = status.group(2).removeprefix("a ").removeprefix("an ")
    where = "middle" if status.group(1) == "the middle of the house" else status.group(1)
    return f"task {task.group(1).strip()}\nat {where}\nsee {see}\nhold {held}"


FORMATTERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": text_observation,
    "maze_compact": maze_compact,
    "maze_relative": maze_relative,
    "maze_rooms": maze_rooms,
    "household": household,
}


def get_formatter(name: str) -> Callable[[dict[str, Any]], str]:
    try:
        return FORMATTERS[name]
    except KeyError:
        raise ValueError(f"unknown observation formatter {name!r}; known: {sorted(FORMATTERS)}") from None
