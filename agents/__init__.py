"""Policies and agent loops: anything that turns observations into actions."""

from agents.base import Agent, Decision
from agents.loop import run_episode, run_episodes
from agents.oracle import OracleAgent
from agents.random_agent import RandomAgent

__all__ = ["Agent", "Decision", "OracleAgent", "RandomAgent", "run_episode", "run_episodes"]


def make_agent(name: str, env=None, **kwargs):
    """Build a built-in agent by name: ``random``, ``oracle`` or ``human``."""
    if name == "random":
        return RandomAgent(**kwargs)
    if name == "oracle":
        return OracleAgent(env, **kwargs)
    if name == "human":
        from agents.human import HumanAgent

        return HumanAgent(**kwargs)
    raise ValueError(f"unknown agent {name!r}; choose random, oracle or human")
