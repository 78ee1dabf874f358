"""The agent interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Decision:
    """An action plus what the trainer needs to learn from it.

    Agents backed by a model fill the token fields; the loop copies them into the
    :class:`envgym.Turn` so the trainer never re-tokenises a history.
    """

    action: Any
    prompt_ids: list[int] | None = None
    completion_ids: list[int] | None = None
    logprobs: list[float] | None = None
    policy_version: int | None = None
    segment_id: int | None = None
    level: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
