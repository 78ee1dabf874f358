"""Task-synthesis role prompts for Household (a package so the ``.md`` files ship as package data)."""
