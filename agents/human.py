"""A person at the terminal: sees each observation, types the next action.

Type an action as plain text (``north``, ``go to fridge 1``), a function call (``sql("SELECT 1")``,
``click("search-input")``) or a JSON tool call (``{"name": "answer", "arguments": {"text": "42"}}``).
Commands: ``:help``, ``:hint`` (the next move of a solver that starts from the current state, or why
there is none), ``:quit``.  Works under tmux/screen and with piped stdin.

Everything the env or the player wrote is printed verbatim: ``[search-input]`` in a page's
accessibility tree is an element id, never console markup.
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
        env_id: str | None = None,
    ):
        from rich.console import Console

        from envgym.agents.hints import HintSource

        self.env = env
        self.console = console or Console()
        self.read = read or self._read_line
        self.show_tools = show_tools
        self.hints = HintSource(env, env_id) if env is not None else None
        self._pending: Any = None

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        from rich.text import Text

        self._pending = None
        if self.hints is not None:
            self.hints.reset(observation, info)
        self.console.rule(Text(f"task {info.get('task_id', '?')}", style="bold"))

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._pending is not None and self.hints is not None:
            self.hints.record(self._pending, observation, info)
        self.show(observation, info)
        while True:
            line = self.read("action> ").strip()
            if line in (":q", ":quit", ":exit"):
                raise QuitEpisode()
            if line in (":h", ":help", "?"):
                self.console.print(__doc__, markup=False, highlight=False)
                continue
            if line == ":hint":
                self.show_hint()
                continue
            if not line:
                continue
            if line.startswith("{"):
                try:
                    self._pending = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._say("not valid JSON: ", str(exc), style="red")
                    continue
                return self._pending
            self._pending = line
            return line

    def show_hint(self) -> None:
        if self.hints is None:
            self._say("no hint: ", "the agent was made without its env", style="cyan")
            return
        hint = self.hints.hint()
        if hint.action is None:
            self._say("", hint.note, style="cyan")
        else:
            self._say("hint: ", f"{hint.action!r}   ({hint.note})", style="cyan")

    def show(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        from rich.panel import Panel
        from rich.text import Text

        error = observation.get("last_action_error")
        title = f"turn {info.get('turn', 0)}" + (f" — subgoal: {info['subgoal']}" if info.get("subgoal") else "")
        self.console.print(Panel(Text(str(observation.get("text", ""))), title=Text(title),
                                 border_style="red" if error else "blue"))
        if observation.get("admissible_actions"):
            self._say("valid actions: ", " | ".join(map(str, observation["admissible_actions"])), style="dim")
        if self.show_tools and observation.get("tools"):
            names = [str(t.get("function", t).get("name")) for t in observation["tools"]]
            self._say("tools: ", ", ".join(names) + '  (e.g. name("arg") or JSON)', style="dim")

    def _say(self, label: str, text: str, style: str) -> None:
        """``label`` styled, then ``text`` exactly as given (no markup, no highlighting)."""
        from rich.text import Text

        self.console.print(Text.assemble((label, style), text), highlight=False)

    @staticmethod
    def _read_line(prompt: str) -> str:
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # EOF on piped input
            raise QuitEpisode()
        return line
