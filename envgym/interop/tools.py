"""An env's actions as named tools with JSON schemas: the common ground of MCP, OpenEnv's tool
messages and TRL's tool methods.

An env that lists function tools in its observation (``obs["tools"]``, OpenAI function schemas:
SQL, PythonSandbox, Maze, Household) exposes exactly those.  An env whose actions are free text or
function-call strings (the web envs: ``click("12")``) exposes one tool, :data:`TEXT_TOOL`, taking
the action text.  :func:`action_for` turns a call of either kind back into the env's action, and
:func:`action_from_text` finds the action in a model's raw text reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: The tool of envs without function tools: ``act(action)`` steps the env with the action text.
TEXT_TOOL = "act"
_TEXT_TOOL_SCHEMA = {
    "type": "object",
    "properties": {"action": {"type": "string", "description": "the action, as the observation describes them"}},
    "required": ["action"],
}


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what it does, and the JSON schema of its arguments (an object schema)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    #: True for :data:`TEXT_TOOL` of an env without function tools: the call's ``action`` is the action.
    text_action: bool = False


def tool_specs(obs: dict[str, Any], env_description: str = "") -> list[ToolSpec]:
    """The tools an observation offers (see the module docstring)."""
    specs = []
    for tool in obs.get("tools") or []:
        function = tool.get("function", tool)
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        specs.append(ToolSpec(function["name"], function.get("description") or "", schema))
    if specs:
        return specs
    description = "Take one action in the environment; the observation lists the actions it accepts."
    if env_description:
        description = f"{description} ({env_description})"
    return [ToolSpec(TEXT_TOOL, description, _TEXT_TOOL_SCHEMA, text_action=True)]


def action_for(name: str, arguments: dict[str, Any] | None, specs: list[ToolSpec]) -> Any:
    """The env action for a call of tool ``name``; raises ``KeyError`` for a tool ``specs`` lacks."""
    arguments = dict(arguments or {})
    spec = next((spec for spec in specs if spec.name == name), None)
    if spec is None:
        raise KeyError(f"unknown tool {name!r}; tools: {', '.join(spec.name for spec in specs)}")
    if spec.text_action:
        action = arguments.get("action")
        if not isinstance(action, str):
            raise ValueError(f"{TEXT_TOOL}() needs a string 'action', got {action!r}")
        return action
    return {"name": name, "arguments": arguments}


def step_outcome(reward: float, terminated: bool, truncated: bool, info: dict[str, Any]) -> dict[str, Any]:
    """What a tool result says about the episode beside the observation text (JSON-able)."""
    outcome = {"reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated)}
    for key in ("success", "action_error", "infra_error", "task_id", "turn"):
        if key in info:
            outcome[key] = info[key]
    return outcome


_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def action_from_text(text: str) -> Any:
    """The env action in a model's raw text reply: the first ``<tool_call>{"name", "arguments"}</tool_call>``
    block (the Hermes/Qwen convention) as a tool call, else the text itself (a function-call string
    such as ``sql(query="...")`` or a plain command, which the env parses)."""
    match = _TOOL_CALL.search(text)
    if match is not None:
        try:
            call = json.loads(match.group(1))
        except json.JSONDecodeError:
            return text
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            return {"name": call["name"], "arguments": call.get("arguments") or {}}
    return text
