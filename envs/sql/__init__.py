"""``envgym/SQL-v0``: tool use over a real, read-only SQLite database.  See :mod:`envs.sql.env`."""

from envs.sql.env import SQLEnv

__all__ = ["SQLEnv"]
