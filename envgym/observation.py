"""Structured observations.

An observation is a plain ``dict`` so that it crosses process and network boundaries unchanged
(JSON, msgpack, pickle) and works with Gymnasium wrappers.  Only ``text`` is required; the env fills
whatever else it has and the agent chooses what to read — the env never decides prompt formatting.

===================== ============================ =====================================================
key                   type                         meaning
===================== ============================ =====================================================
``text``              ``str``                      what a text agent reads (always present)
``image``             ``bytes`` (PNG/JPEG)         a screenshot, for GUI / VLM agents
``axtree``            ``str``                      accessibility tree, one element per line with ``bid``
``url``               ``str``                      current page (web envs)
``tools``             ``list[dict]``               tools callable this turn, OpenAI function schemas
``messages``          ``list[{"role","content"}]`` chat messages when the env speaks in turns
``admissible_actions````list[str]``                actions valid in this state (text worlds)
``admissible_subgoals````list[str]``               subgoals a hierarchical agent may choose among
``instruction``       ``str``                      the task as the agent sees it
``last_action_error`` ``str``                      why the previous action failed ("" if it did not)
===================== ============================ =====================================================
"""

from __future__ import annotations

from typing import Any, TypedDict


class Observation(TypedDict, total=False):
    text: str
    image: bytes
    axtree: str
    url: str
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    admissible_actions: list[str]
    admissible_subgoals: list[str]
    instruction: str
    last_action_error: str


OBSERVATION_KEYS: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "image": (bytes, bytearray),
    "axtree": str,
    "url": str,
    "tools": list,
    "messages": list,
    "admissible_actions": list,
    "admissible_subgoals": list,
    "instruction": str,
    "last_action_error": str,
}


def validate_observation(obs: Any) -> str | None:
    """Return ``None`` when ``obs`` is a well-formed observation, else a message saying what is wrong."""
    if not isinstance(obs, dict):
        return f"observation must be a dict, got {type(obs).__name__}"
    if not isinstance(obs.get("text"), str):
        return "observation needs a 'text' string"
    for key, expected in OBSERVATION_KEYS.items():
        if key in obs and obs[key] is not None and not isinstance(obs[key], expected):
            return f"observation[{key!r}] should be {expected}, got {type(obs[key]).__name__}"
    for tool in obs.get("tools") or []:
        if not isinstance(tool, dict) or "name" not in tool.get("function", tool):
            return f"each tool must be an OpenAI function schema, got {tool!r}"
    for message in obs.get("messages") or []:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            return f"each message needs 'role' and 'content', got {message!r}"
    for key in ("admissible_actions", "admissible_subgoals"):
        if any(not isinstance(a, str) for a in obs.get(key) or []):
            return f"{key} must be strings"
    return None


def function_tool(
    name: str, description: str, parameters: dict[str, Any], required: list[str] | None = None
) -> dict[str, Any]:
    """An OpenAI function-calling tool schema; every parameter is required unless ``required`` says
    which are.

    >>> function_tool("sql", "Run a read-only query", {"query": {"type": "string"}})["function"]["name"]
    'sql'
    """
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": parameters,
                "required": list(parameters) if required is None else list(required),
            },
        },
    }
