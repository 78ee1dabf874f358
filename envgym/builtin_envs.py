"""Registrations of the environments shipped in ``envs/``.  Only strings here: no env code loads
until ``envgym.make`` asks for it."""

from envgym.registration import register

register(
    "envgym/Maze-v0",
    "envgym.envs.maze:MazeEnv",
    description="Text gridworld maze, procedurally generated from the seed; reach the goal.",
    tags=("text", "procedural", "long-horizon"),
)
register(
    "envgym/Household-v0",
    "envgym.envs.household:HouseholdEnv",
    description="ALFWorld-style text household: find, take, clean/heat/cool and place objects.",
    tags=("text", "procedural", "long-horizon", "subgoals"),
)
register(
    "envgym/SQL-v0",
    "envgym.envs.sql:SQLEnv",
    description="Tool use over a real SQLite database: call sql(query), then answer(text).",
    tags=("tools", "sqlite"),
)
register(
    "envgym/PythonSandbox-v0",
    "envgym.envs.python_sandbox:PythonSandboxEnv",
    description="Answer tasks by running Python in a locked-down container (no network, limits).",
    tags=("tools", "code", "container"),
    extras=("containers",),
    image="sandbox",
)

import envgym.envs.web.registration  # noqa: E402,F401  (web envs: registry strings only, no browser code)
