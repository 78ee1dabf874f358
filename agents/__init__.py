"""Policies and agent loops: anything that turns observations into actions."""

from envgym.agents.base import Agent, Decision
from envgym.agents.loop import run_episode, run_episodes
from envgym.agents.oracle import OracleAgent
from envgym.agents.random_agent import RandomAgent

__all__ = ["Agent", "Decision", "OracleAgent", "RandomAgent", "run_episode", "run_episodes"]


def make_agent(name: str, env=None, **kwargs):
    """Build a built-in agent by name: ``random``, ``oracle``, ``human``, or a model-backed ``llm`` /
    ``hiper`` agent (``backend=`` a :class:`envgym.agents.backends.Backend` or a spec string such as
    ``"tiny"``, ``"hf:/path/to/model"``, ``"openai:http://127.0.0.1:8000"``); a vision-language backend
    gets the vision LLM agent, which stores what it shows the model in ``image_store`` (default
    ``./images``)."""
    if name == "random":
        return RandomAgent(**kwargs)
    if name == "oracle":
        return OracleAgent(env, **kwargs)
    if name == "human":
        from envgym.agents.human import HumanAgent

        return HumanAgent(env, **kwargs)
    if name in ("llm", "hiper"):
        from envgym.agents.backends import make_backend

        backend = kwargs.pop("backend", "tiny")
        image_store = kwargs.pop("image_store", "images")
        if isinstance(backend, str):
            backend = make_backend(backend, **kwargs.pop("backend_kwargs", {}))
        if name == "llm" and getattr(backend, "sees_images", False):
            from envgym.agents.llm.vision_agent import VisionLLMAgent

            return VisionLLMAgent(backend, image_store=image_store, **kwargs)
        if name == "llm":
            from envgym.agents.llm import LLMAgent

            return LLMAgent(backend, **kwargs)
        from envgym.agents.hierarchical import HierarchicalAgent

        return HierarchicalAgent(backend, **kwargs)
    raise ValueError(f"unknown agent {name!r}; choose random, oracle, human, llm or hiper")
