"""Observation formatters for the compact choice agent: observation dict → short user message.

Short prompts are what make a from-scratch policy trainable on a CPU: every prompt token costs a
forward pass per turn.  A formatter only *reads* the observation (it works the same for local,
remote and containerised envs); when it cannot parse an observation it returns the full text, so it
never hides information by accident.

=================  ===================================================================
``text``           the observation's text as the env wrote it
``maze_compact``   Maze: the ASCII map lines (``#.AG``) + ``r<row> c<col>`` (≈ 50 tokens)
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


FORMATTERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": text_observation,
    "maze_compact": maze_compact,
}


def get_formatter(name: str) -> Callable[[dict[str, Any]], str]:
    try:
        return FORMATTERS[name]
    except KeyError:
        raise ValueError(f"unknown observation formatter {name!r}; known: {sorted(FORMATTERS)}") from None
