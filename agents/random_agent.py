"""A uniformly random agent: picks among ``admissible_actions`` when the env lists them, calls a
random tool with random arguments when the env offers tools, else sends random text."""

from __future__ import annotations

from typing import Any

import numpy as np

from envgym.agents.base import Agent

_WORDS = ["north", "south", "east", "west", "look", "help", "yes", "no", "42", "SELECT 1", "done"]


class RandomAgent(Agent):
    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        admissible = observation.get("admissible_actions") or []
        if admissible:
            return admissible[int(self.rng.integers(len(admissible)))]
        tools = observation.get("tools") or []
        if tools:
            tool = tools[int(self.rng.integers(len(tools)))]
            function = tool.get("function", tool)
            properties = function.get("parameters", {}).get("properties", {})
            arguments = {key: self._word() for key in properties}
            return {"name": function["name"], "arguments": arguments}
        return self._word()

    def _word(self) -> str:
        return _WORDS[int(self.rng.integers(len(_WORDS)))]
