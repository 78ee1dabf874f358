"""A person at the terminal: sees each observation, types the next action.

Type an action as plain text (``north``, ``go to fridge 1``), a function call (``sql("SELECT 1")``)
or a JSON tool call (``{"name": "answer", "arguments": {"text": "42"}}``).  Commands:
``:help``, ``:hint`` (the oracle's next move, when the env has one), ``:quit``.
Works under tmux/screen and with piped stdin.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from envgym.agents.base import Agent


class QuitEpisode(Exception):
    """The person asked to stop."""


class HumanAgent(Agent):
    name = "human"

    def __init__(
        self,
        env: Any = None,
        read: Callable[[str], str] | None = None,
        console: Any = None,
        show_tools: bool = True,
    ):
        from rich.console import Console

        self.env = env.unwrapped if env is not None and hasattr(env, "unwrapped") else env
        self.console = console or Console()
        self.read = read or self._read_line
        self.show_tools = show_tools

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self.console.rule(f"[bold]task {info.get('task_id', '?')}")

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        self.show(observation, info)
        while True:
            line = self.read("action> ").strip()
            if line in (":q", ":quit", ":exit"):
                raise QuitEpisode()
            if line in (":h", ":help", "?"):
                self.console.print(__doc__)
                continue
            if line == ":hint":
                hint = self.env.oracle_action() if self.env is not None else None
                self.console.print(f"[cyan]hint:[/] {hint!r}" if hint is not None else "[cyan]no hint available")
                continue
            if not line:
                continue
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError as exc:
                    self.console.print(f"[red]not valid JSON:[/] {exc}")
                    continue
            return line

    def show(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        from rich.panel import Panel

        error = observation.get("last_action_error")
        title = f"turn {info.get('turn', 0)}" + (f" — subgoal: {info['subgoal']}" if info.get("subgoal") else "")
        self.console.print(Panel(observation.get("text", ""), title=title, border_style="red" if error else "blue"))
        if observation.get("admissible_actions"):
            self.console.print("[dim]valid actions:[/] " + " | ".join(observation["admissible_actions"]))
        if self.show_tools and observation.get("tools"):
            names = [t.get("function", t).get("name") for t in observation["tools"]]
            self.console.print("[dim]tools:[/] " + ", ".join(names) + '  [dim](e.g. name("arg") or JSON)[/]')

    @staticmethod
    def _read_line(prompt: str) -> str:
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # EOF on piped input
            raise QuitEpisode()
        return line
