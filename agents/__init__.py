"""Policies and agent loops: anything that turns observations into actions."""

from agents.base import Agent, Decision
from agents.loop import run_episode, run_episodes
from agents.oracle import OracleAgent
from agents.random_agent import RandomAgent

__all__ = ["Agent", "Decision", "OracleAgent", "RandomAgent", "run_episode", "run_episodes"]


def make_agent(name: str, env=None, **kwargs):
    """Build a built-in agent by name: ``random``, ``oracle``, ``human``, or a model-backed ``llm`` /
    ``hiper`` agent (``backend=`` a :class:`agents.backends.Backend` or a spec string such as
    ``"tiny"``, ``"hf:/path/to/model"``, ``"openai:http://127.0.0.1:8000"``)."""
    if name == "random":
        return RandomAgent(**kwargs)
    if name == "oracle":
        return OracleAgent(env, **kwargs)
    if name == "human":
        from agents.human import HumanAgent

        return HumanAgent(env, **kwargs)
    if name in ("llm", "hiper"):
        from agents.backends import make_backend

        backend = kwargs.pop("backend", "tiny")
        if isinstance(backend, str):
            backend = make_backend(backend, **kwargs.pop("backend_kwargs", {}))
        if name == "llm":
            from agents.llm import LLMAgent

            return LLMAgent(backend, **kwargs)
        from agents.hierarchical import HierarchicalAgent

        return HierarchicalAgent(backend, **kwargs)
    raise ValueError(f"unknown agent {name!r}; choose random, oracle, human, llm or hiper")
