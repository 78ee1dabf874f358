"""Role prompts of the desktop family of task synthesis (package data)."""
