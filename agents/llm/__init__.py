"""LLM-backed agents: token-in/token-out prompting, memory, action parsing."""

from agents.llm.agent import LLMAgent, Sampling, TurnRecord
from agents.llm.conversation import ChatFormat, TemplateError
from agents.llm.parsing import ACTION_FORMATS, ParsedAction, parse_completion

__all__ = [
    "ACTION_FORMATS", "ChatFormat", "LLMAgent", "ParsedAction", "Sampling", "TemplateError", "TurnRecord",
    "parse_completion",
]
