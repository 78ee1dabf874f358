"""``envgym/SQL-v0``: tool use over a real, read-only SQLite database.  See :mod:`envgym.envs.sql.env`."""

from envgym.envs.sql.env import SQLEnv

__all__ = ["SQLEnv"]
