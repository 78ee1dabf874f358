"""From curated groups to training tensors — the agent's own ids, never re-tokenised.

:func:`turn_rows` flattens groups → episodes → turns into one row per agent turn (ids, rollout
logprobs, reward, group / trajectory / turn / anchor ids, policy version, replay flag, switch flag).
:func:`token_batch` pads a selection of rows into tensors:

* ``input_ids [N, L]`` = ``prompt_ids + completion_ids`` exactly as recorded, right-padded;
* ``loss_mask [N, L]`` = 1 exactly on the completion positions that carry a choice (prompt and
  padding are 0; a position where constrained decoding allowed a single id is 0, it is not a
  decision);
* the compact completion view used by the loss: ``comp_index [N, C]`` (position of each completion
  token in ``input_ids``), ``comp_ids``, ``comp_mask``, ``rollout_logp`` (NaN where unknown) and the
  allowed-id lists of constrained positions, so the learner recomputes the *masked* distribution the
  token was sampled from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envgym.trainers.algorithms.hierarchical import PART_ACTION, PART_NONE, PART_PAD, PART_SUBGOAL, PART_SWITCH
from envgym.trainers.data_manager import Group


@dataclass
class TurnRows:
    prompt_ids: list[list[int]] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)
    rollout_logp: list[list[float] | None] = field(default_factory=list)
    allowed: list[list[list[int]] | None] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    group: list[int] = field(default_factory=list)
    traj: list[int] = field(default_factory=list)
    turn: list[int] = field(default_factory=list)
    anchor: list[str] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    replay: list[bool] = field(default_factory=list)
    switch: list[bool] = field(default_factory=list)
    success: list[bool] = field(default_factory=list)
    parts: list[list[int] | None] = field(default_factory=list)  # hierarchical agents: PART_* code per completion token
    step_keep: list[bool] = field(default_factory=list)  # the data manager's step judge (True when ungraded)
    images: list[list[dict[str, Any]] | None] = field(default_factory=list)  # vision turns: the prompt's image refs
    episode: list[str] = field(default_factory=list)  # the episode id of each row

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def arrays(self) -> dict[str, np.ndarray]:
        anchors = np.unique(np.asarray(self.anchor, dtype=object).astype(str), return_inverse=True)[1] if self.anchor else np.zeros(0, int)
        return {
            "reward": np.asarray(self.reward, dtype=np.float64),
            "group": np.asarray(self.group, dtype=np.int64),
            "traj": np.asarray(self.traj, dtype=np.int64),
            "turn": np.asarray(self.turn, dtype=np.int64),
            "anchor": np.asarray(anchors, dtype=np.int64),
            "version": np.asarray(self.version, dtype=np.int64),
            "replay": np.asarray(self.replay, dtype=bool),
            "switch": np.asarray(self.switch, dtype=bool),
            **({"parts": self.part_matrix()} if any(p is not None for p in self.parts) else {}),
        }

    def part_matrix(self) -> np.ndarray:
        """``[N, C]`` part codes (``PART_*`` of :mod:`envgym.trainers.algorithms.hierarchical`), ``C`` the
        longest completion; ``PART_PAD`` past each completion, ``PART_NONE`` on rows without parts."""
        width = max((len(c) for c in self.completion_ids), default=0)
        out = np.full((len(self), width), PART_PAD, dtype=np.int8)
        for i, (codes, completion) in enumerate(zip(self.parts, self.completion_ids)):
            out[i, : len(completion)] = PART_NONE if codes is None else codes
        return out


def turn_rows(groups: list[Group], *, hae_segment_len: int = 4, default_temperature: float = 1.0) -> TurnRows:
    """One row per trained turn of every episode of ``groups``.

    Turns without exact ids (an oracle step without ids, a server that returned only text) get no
    row, but their reward is not lost: it is added to the episode's previous row (the turns before it
    earned it), or — before the episode's first row — to that first row."""
    rows = TurnRows()
    traj_counter = 0
    for g_index, group in enumerate(groups):
        for episode in group.episodes:
            if episode.infra_error:
                continue
            replay = bool(episode.metadata.get("replay"))
            previous_anchor = episode.reset_info.get("anchor")
            previous_subgoal = episode.reset_info.get("subgoal")
            pending_reward = 0.0
            for turn in episode.turns:
                anchor = previous_anchor if previous_anchor is not None else f"row:{traj_counter}:{turn.index}"
                subgoal = turn.info.get("subgoal")
                usable = bool(turn.completion_ids) and turn.prompt_ids is not None and turn.extra.get("ids_exact", True)
                if turn.level is not None:
                    switch = turn.level == "high"
                elif previous_subgoal is not None or subgoal is not None:
                    switch = turn.index == 0 or subgoal != previous_subgoal
                else:
                    switch = turn.index % max(1, hae_segment_len) == 0
                previous_anchor = turn.info.get("anchor")
                previous_subgoal = subgoal
                if not usable:
                    if rows.traj and rows.traj[-1] == traj_counter:
                        rows.reward[-1] += float(turn.reward)
                    else:
                        pending_reward += float(turn.reward)
                    continue
                rows.prompt_ids.append(list(turn.prompt_ids))
                rows.completion_ids.append(list(turn.completion_ids))
                logp = turn.logprobs
                rows.rollout_logp.append(list(logp) if logp is not None and len(logp) == len(turn.completion_ids) else None)
                rows.allowed.append(turn.extra.get("allowed_ids"))
                rows.temperature.append(float(turn.extra.get("temperature", default_temperature)) or 1.0)
                rows.reward.append(float(turn.reward) + pending_reward)
                pending_reward = 0.0
                rows.group.append(g_index)
                rows.traj.append(traj_counter)
                rows.turn.append(turn.index)
                rows.anchor.append(str(anchor))
                rows.version.append(int(turn.policy_version or 0))
                rows.replay.append(replay)
                rows.switch.append(bool(switch))
                rows.success.append(bool(episode.success))
                rows.parts.append(part_codes(turn.extra, len(turn.completion_ids)))
                rows.step_keep.append(bool(turn.extra.get("step_keep", True)))
                rows.images.append(turn.images)
                rows.episode.append(episode.episode_id)
            traj_counter += 1
    return rows


def part_codes(extra: dict[str, Any], length: int) -> list[int] | None:
    """The ``PART_*`` code of each completion token from a hierarchical agent's ``switch_mask``,
    ``subgoal_mask`` and ``action_mask`` (``None`` when the turn has none)."""
    masks = [(extra.get(f"{part}_mask"), code) for part, code in
             (("switch", PART_SWITCH), ("subgoal", PART_SUBGOAL), ("action", PART_ACTION))]
    if any(m is None or len(m) != length for m, _ in masks):
        return None
    codes = [PART_NONE] * length
    for mask, code in masks:
        for j, bit in enumerate(mask):
            if bit:
                codes[j] = code
    return codes


@dataclass
class TokenBatch:
    input_ids: Any  # [N, L] long
    attention_mask: Any  # [N, L] long
    loss_mask: Any  # [N, L] float
    comp_index: Any  # [N, C] long
    comp_ids: Any  # [N, C] long
    comp_mask: Any  # [N, C] float (1 = decision token)
    rollout_logp: Any  # [N, C] float (NaN = unknown)
    prompt_end: Any  # [N] long, index of the last prompt token
    subgoal_end: Any  # [N] long, index of the last subgoal token (hierarchical agents), else prompt_end
    temperature: Any  # [N] float
    constrained: list[tuple[int, int, list[int]]]  # (row, col, allowed ids) with ≥ 2 allowed ids
    rows: np.ndarray  # indices into TurnRows
    images: list[list[dict[str, Any]]] = field(default_factory=list)  # per row: its image refs, in order


def token_batch(rows: TurnRows, index: np.ndarray | list[int], pad_id: int, device: Any = "cpu") -> TokenBatch:
    import torch

    index = np.asarray(index, dtype=np.int64)
    n = len(index)
    seqs = [rows.prompt_ids[i] + rows.completion_ids[i] for i in index]
    width = max(len(s) for s in seqs)
    comp_width = max(len(rows.completion_ids[i]) for i in index)
    input_ids = torch.full((n, width), int(pad_id), dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    loss_mask = torch.zeros((n, width), dtype=torch.float32)
    comp_index = torch.zeros((n, comp_width), dtype=torch.long)
    comp_ids = torch.full((n, comp_width), int(pad_id), dtype=torch.long)
    comp_mask = torch.zeros((n, comp_width), dtype=torch.float32)
    rollout = torch.full((n, comp_width), math.nan, dtype=torch.float32)
    prompt_end = torch.zeros(n, dtype=torch.long)
    subgoal_end = torch.zeros(n, dtype=torch.long)
    constrained: list[tuple[int, int, list[int]]] = []
    for r, i in enumerate(index):
        prompt, completion = rows.prompt_ids[i], rows.completion_ids[i]
        p, c = len(prompt), len(completion)
        input_ids[r, : p + c] = torch.tensor(prompt + completion, dtype=torch.long)
        attention[r, : p + c] = 1
        prompt_end[r] = p - 1
        codes = rows.parts[i] if rows.parts else None
        sub = [j for j, code in enumerate(codes or []) if code == PART_SUBGOAL]
        subgoal_end[r] = p + sub[-1] if sub else p - 1
        comp_index[r, :c] = torch.arange(p, p + c)
        comp_ids[r, :c] = torch.tensor(completion, dtype=torch.long)
        allowed = rows.allowed[i]
        for j in range(c):
            ids = allowed[j] if allowed is not None and j < len(allowed) else None
            decision = ids is None or len(ids) > 1
            if decision:
                comp_mask[r, j] = 1.0
                loss_mask[r, p + j] = 1.0
            if ids is not None and len(ids) > 1:
                constrained.append((r, j, list(ids)))
        if rows.rollout_logp[i] is not None:
            rollout[r, :c] = torch.tensor(rows.rollout_logp[i], dtype=torch.float32)
    temperature = torch.tensor([rows.temperature[i] for i in index], dtype=torch.float32)
    batch = TokenBatch(input_ids, attention, loss_mask, comp_index, comp_ids, comp_mask, rollout, prompt_end, subgoal_end,
                       temperature, constrained, index)
    batch.images = [list(rows.images[i] or []) for i in index] if rows.images else []
    if str(device) != "cpu":
        for name in ("input_ids", "attention_mask", "loss_mask", "comp_index", "comp_ids", "comp_mask", "rollout_logp",
                     "prompt_end", "subgoal_end", "temperature"):
            setattr(batch, name, getattr(batch, name).to(device))
    return batch
