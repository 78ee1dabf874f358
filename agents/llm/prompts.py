"""What the LLM agent writes into its prompt: system text (instruction, action format, tools) and one
user message per observation.  Pure functions of their inputs, so prompts are reproducible."""

from __future__ import annotations

import json
from typing import Any

DEFAULT_SYSTEM_PROMPT = "You are an agent acting in an interactive environment. Each turn you see an observation and reply with one action."

FORMAT_INSTRUCTIONS = {
    "tagged": "Think briefly if it helps, then give exactly one action inside <action>...</action>.",
    "function": 'Reply with exactly one action written as a function call on its own line, e.g. name(arg="value").',
    "json": 'Reply with exactly one tool call as JSON: {"name": "<tool>", "arguments": {...}}.',
    "auto": "Think briefly if it helps, then give exactly one action inside <action>...</action>.",
}


def tool_signature(tool: dict[str, Any]) -> str:
    """``- sql(query: string): Run a read-only query`` from an OpenAI function schema."""
    function = tool.get("function", tool)
    params = (function.get("parameters") or {}).get("properties") or {}
    args = ", ".join(f"{name}: {spec.get('type', 'any')}" for name, spec in params.items())
    description = function.get("description") or ""
    return f"- {function.get('name')}({args})" + (f": {description}" if description else "")


def system_text(
    system_prompt: str,
    action_format: str,
    *,
    instruction: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    format_instructions: str | None = None,
    summary: str | None = None,
) -> str:
    """The system message: base prompt, task, tools, action format, summary of dropped turns."""
    parts = [system_prompt.strip()]
    if instruction:
        parts.append(f"Task: {instruction.strip()}")
    if tools:
        lines = ["Tools you can call:"] + [tool_signature(t) for t in tools]
        if action_format == "json":
            lines.append("Schemas: " + json.dumps([t.get("function", t) for t in tools], separators=(",", ":")))
        elif action_format in ("tagged", "auto"):
            lines.append('Call a tool as <action>name(arg="value")</action>.')
        parts.append("\n".join(lines))
    parts.append(format_instructions or FORMAT_INSTRUCTIONS[action_format])
    if summary:
        parts.append(summary)
    return "\n\n".join(p for p in parts if p)


def user_text(observation: dict[str, Any], *, show_admissible: bool = True, extra: str | None = None) -> str:
    """One observation as a user message: its text, then admissible actions if listed."""
    parts = [str(observation.get("text", "")).strip() or "(no observation text)"]
    admissible = observation.get("admissible_actions") or []
    if show_admissible and admissible:
        parts.append("Admissible actions: " + ", ".join(admissible))
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


def action_repr(action: Any) -> str:
    if isinstance(action, dict):
        return json.dumps(action, separators=(",", ":"), ensure_ascii=False)
    return " ".join(str(action).split())


def outcome_of(observation: dict[str, Any], limit: int = 80) -> str:
    """A one-line outcome of the previous action as seen in the next observation."""
    error = observation.get("last_action_error") or ""
    if error:
        return f"invalid ({' '.join(error.split())[:limit]})"
    text = " ".join(str(observation.get("text", "")).split())
    return text[:limit] + ("…" if len(text) > limit else "")


def summary_text(entries: list[tuple[int, str, str]], max_entries: int = 20) -> str:
    """Deterministic summary of dropped turns: ``Earlier turns: 1. north -> You moved. | ...``."""
    if not entries:
        return ""
    shown = entries[-max_entries:]
    omitted = len(entries) - len(shown)
    lines = [f"{index + 1}. {action} -> {outcome}" for index, action, outcome in shown]
    head = f"Summary of earlier turns ({len(entries)} turns" + (f", first {omitted} omitted" if omitted else "") + "):"
    return head + "\n" + "\n".join(lines)
