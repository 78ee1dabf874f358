"""``envgym/Maze-v0``: a procedurally generated text gridworld maze (see :mod:`envgym.envs.maze.env`)."""

from envgym.envs.maze.env import MazeEnv, maze_instruction, parse_direction
from envgym.envs.maze.layout import DIRECTIONS, carve_maze, distances_from

__all__ = ["DIRECTIONS", "MazeEnv", "carve_maze", "distances_from", "maze_instruction", "parse_direction"]
