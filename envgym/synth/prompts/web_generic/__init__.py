"""Prompt files of task synthesis (a package so the ``.md`` files ship as package data)."""
