"""The agent interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envgym.agents.backends.base import Generation, GenerationRequest
from envgym.trajectory import TokenFields


@dataclass
class Decision(TokenFields):
    """An action plus what the trainer needs to learn from it.

    Agents backed by a model fill the token fields (:class:`envgym.trajectory.TokenFields`); the
    loop copies them into the :class:`envgym.Turn` so the trainer never re-tokenises a history.
    """

    action: Any


class Agent:
    """``reset`` at the start of an episode, then ``act`` once per turn.

    ``act`` may return a bare action (text or tool call) or a :class:`Decision`.
    """

    name: str = "agent"

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        """Start a new episode; ``observation``/``info`` are what ``env.reset`` returned."""

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (model servers, terminals)."""


class BatchedAgent(Agent):
    """An agent the trainer drives turn by turn, many episodes sharing one backend call.

    Per turn: ``request = agent.prepare(observation, info)``; the caller sends the requests of many
    agents to ``backend.generate`` in one batch; ``decision = agent.finish(generation)``.
    ``force(action)`` answers the pending request with a given action instead of a sample (the
    :class:`Generation` that would have produced it, ``logprobs=None``), so an oracle demonstration
    is recorded with the agent's own prompt and completion ids.
    """

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        raise NotImplementedError

    def finish(self, generation: Generation) -> Decision:
        raise NotImplementedError

    def force(self, action: Any, policy_version: int = 0) -> Generation:
        raise NotImplementedError
