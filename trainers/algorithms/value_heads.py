"""A three-head critic for hierarchical agents: ``V_high`` (planner), ``V_low`` (executor), ``V_term`` (switch)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["ThreeHeadValue", "ThreeValues"]


class ThreeValues(NamedTuple):
    v_high: torch.Tensor
    v_low: torch.Tensor
    v_term: torch.Tensor


class ThreeHeadValue(nn.Module):
    """Maps a hidden state ``h [..., H]`` to ``(V_high, V_low, V_term)``, each ``[...]``.

    ``V_k(h) = w_k · φ(h) + b_k`` with ``φ`` the identity (``head_hidden=None``) or a shared
    ``Linear → Tanh`` trunk of width ``head_hidden``.  Feed the hidden state of the token that ends
    the turn's prompt (for ``V_high``/``V_term``) or of the subgoal (for ``V_low``) as the trainer sees
    fit; the module is agnostic.
    """

    def __init__(self, hidden_size: int, head_hidden: int | None = None) -> None:
        super().__init__()
        if head_hidden:
            self.trunk: nn.Module = nn.Sequential(nn.Linear(hidden_size, head_hidden), nn.Tanh())
            width = head_hidden
        else:
            self.trunk = nn.Identity()
            width = hidden_size
        self.heads = nn.Linear(width, 3)
        nn.init.zeros_(self.heads.bias)
        nn.init.normal_(self.heads.weight, std=1.0 / (width**0.5))

    def forward(self, hidden: torch.Tensor) -> ThreeValues:
        out = self.heads(self.trunk(hidden))
        return ThreeValues(v_high=out[..., 0], v_low=out[..., 1], v_term=out[..., 2])

    def at_turn(self, hidden: torch.Tensor) -> ThreeValues:
        """Values of turns from ``hidden [N, 2, H]``: position 0 = the turn's prompt end (the state,
        and the subgoal it carries over: ``V_high``, ``V_term``), position 1 = the end of the turn's
        subgoal (state + chosen subgoal: ``V_low``; the prompt end again for turns without one), as
        HiPER's code reads its values."""
        state, with_goal = self(hidden[:, 0]), self(hidden[:, 1])
        return ThreeValues(v_high=state.v_high, v_low=with_goal.v_low, v_term=state.v_term)
