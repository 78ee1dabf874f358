"""LLM-backed agents: token-in/token-out prompting, memory, action parsing."""

from envgym.agents.llm.agent import LLMAgent, Sampling, TurnRecord
from envgym.agents.llm.conversation import ChatFormat, TemplateError
from envgym.agents.llm.parsing import ACTION_FORMATS, ParsedAction, parse_completion

__all__ = [
    "ACTION_FORMATS", "ChatFormat", "LLMAgent", "ParsedAction", "Sampling", "TemplateError", "TurnRecord",
    "parse_completion",
]
