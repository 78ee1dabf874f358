"""Desktop GUI envs (work in progress)."""
