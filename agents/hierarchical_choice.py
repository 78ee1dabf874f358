"""HiPER's plan-and-act format under constrained decoding: a hierarchical agent a from-scratch model
can be trained as.

Every completion reads ``<switch>KEEP|SWITCH</switch><subgoal>…</subgoal><action>…</action>`` + the
end-of-turn id — the format of :class:`envgym.agents.hierarchical.HierarchicalAgent` — but sampling is
restricted to well-formed completions (a token trie, :mod:`envgym.agents.choice_trie`):

* ``<switch>``: ``KEEP`` (only when there is a current subgoal) or ``SWITCH``;
* ``<subgoal>``: after ``KEEP`` the current subgoal, copied (forced tokens: no decision, nothing to
  train); after ``SWITCH`` one of the env's ``observation["admissible_subgoals"]``;
* ``<action>``: one of ``observation["admissible_actions"]``.

All three decisions are made in one completion; the trie shares the action sub-trie between every
switch/subgoal prefix, so a turn's trie has ``(1 + #subgoals) + #actions`` branches, not their product.
The prompt is the formatted observation plus ``subgoal <current>`` (``subgoal none`` before the
first SWITCH).  The decision records what the trainer needs: ``level`` (``high`` on a turn that
opened a segment), ``segment_id``, ``extra["switch_mask"|"subgoal_mask"|"action_mask"]`` (0/1 over
the completion ids, tags included, as HiPER's ``include_tags_mask``) and ``extra["allowed_ids"]``.
"""

from __future__ import annotations

from typing import Any

from envgym.agents.backends.base import FINISH_STOP, Generation, GenerationRequest
from envgym.agents.base import Decision
from envgym.agents.choice_agent import ChoiceAgent
from envgym.agents.choice_trie import Trie, add_choice, allowed_along, trie_of

PARTS = ("switch", "subgoal", "action")


class HierarchicalChoiceAgent(ChoiceAgent):
    """See the module docstring; arguments are those of :class:`ChoiceAgent`."""

    name = "hierarchical_choice"

    def __init__(self, tokenizer: Any, **kwargs: Any):
        super().__init__(tokenizer, **kwargs)
        self._piece_cache: dict[tuple[str, str], list[int]] = {}
        self._clear()

    def _clear(self) -> None:
        self.subgoal: str | None = None
        self.segment_id = -1
        self._hint: str | None = None
        self._pending_h: tuple[list[int], list[str], list[str], Trie] | None = None

    # ------------------------------------------------------------------ pieces
    def piece(self, part: str, text: str) -> list[int]:
        """Token ids of ``<part>text</part>`` (encoded piecewise, cached)."""
        key = (part, text)
        ids = self._piece_cache.get(key)
        if ids is None:
            ids = self._encode(f"<{part}>") + self._encode(text) + self._encode(f"</{part}>")
            if len(self._piece_cache) < 100_000:
                self._piece_cache[key] = ids
        return ids

    def user_text(self, observation: dict[str, Any]) -> str:
        return f"{self.format(observation)}\nsubgoal {self.subgoal or 'none'}"

    def choice_trie(self, subgoals: list[str], actions: list[str]) -> Trie:
        """The trie of every well-formed completion for this turn."""
        tail = trie_of(self.piece("action", a) + [self.end_id] for a in actions)
        trie: Trie = {}
        if self.subgoal is not None:
            add_choice(trie, self.piece("switch", "KEEP") + self.piece("subgoal", self.subgoal), tail)
        for goal in subgoals:
            add_choice(trie, self.piece("switch", "SWITCH") + self.piece("subgoal", goal), tail)
        return trie

    # ------------------------------------------------------------------ agent protocol
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        super().reset(observation, info)
        self._clear()

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        subgoals = [str(g) for g in observation.get("admissible_subgoals") or []]
        actions = [str(a) for a in observation.get("admissible_actions") or []]
        if not subgoals or not actions:
            raise ValueError("the hierarchical choice agent needs observations with admissible_subgoals and "
                             "admissible_actions (Household, Maze); use agent.kind=choice or hierarchical for other envs")
        prompt = self.prompt_ids(observation)
        trie = self.choice_trie(subgoals, actions)
        self._hint = (info or {}).get("subgoal")
        self._pending_h = (prompt, subgoals, actions, trie)
        request = GenerationRequest(
            prompt_ids=prompt, max_new_tokens=512, temperature=self.temperature, stop_token_ids=[self.end_id],
            seed=None if self.seed is None else self.seed + self._turn, metadata={"choice_trie": trie},
        )
        self._turn += 1
        return request

    def finish(self, generation: Generation) -> Decision:
        if self._pending_h is None:
            raise RuntimeError("finish() without prepare()")
        prompt, subgoals, actions, trie = self._pending_h
        self._pending_h = None
        ids = list(generation.completion_ids)
        allowed = allowed_along(trie, ids)  # raises when the backend ignored the trie
        switch, goal, action, lengths = self._split(ids, subgoals, actions)
        opens = switch or self.subgoal is None
        if opens:
            self.segment_id += 1
            self.subgoal = goal
        masks = _masks(lengths, len(ids))
        extra = {"temperature": self.temperature, "ids_exact": generation.ids_exact, "allowed_ids": allowed,
                 "response": action, "switch": switch, "subgoal": self.subgoal, **masks}
        return Decision(action=action, prompt_ids=prompt, completion_ids=ids,
                        logprobs=list(generation.logprobs) if generation.logprobs is not None else None,
                        policy_version=generation.policy_version, segment_id=self.segment_id,
                        level="high" if opens else "low", extra=extra)

    def _split(self, ids: list[int], subgoals: list[str], actions: list[str]) -> tuple[bool, str, str, list[int]]:
        """``(switch, subgoal, action, [switch, subgoal, action] piece lengths)`` of a completion."""
        keep = self.piece("switch", "KEEP")
        switch = ids[: len(keep)] != keep
        head = len(self.piece("switch", "SWITCH" if switch else "KEEP"))
        options = subgoals if switch else [self.subgoal or ""]
        goal = next(g for g in options if ids[head : head + len(self.piece("subgoal", g))] == self.piece("subgoal", g))
        middle = head + len(self.piece("subgoal", goal))
        action = next(a for a in actions if ids[middle:-1] == self.piece("action", a))
        return switch, goal, action, [head, middle - head, len(ids) - 1 - middle]

    def force(self, action: str, policy_version: int = 0) -> Generation:
        """The completion that plays ``action`` (no logprobs): KEEP the current subgoal, or SWITCH to the
        env's current subgoal (``info["subgoal"]`` when it is a candidate) when it differs or there is none."""
        if self._pending_h is None:
            raise RuntimeError("force() without prepare()")
        prompt, subgoals, _actions, _trie = self._pending_h
        target = self._hint if self._hint in subgoals else (self.subgoal or subgoals[0])
        if self.subgoal is not None and target == self.subgoal:
            head = self.piece("switch", "KEEP") + self.piece("subgoal", self.subgoal)
        else:
            head = self.piece("switch", "SWITCH") + self.piece("subgoal", target)
        ids = head + self.piece("action", str(action)) + [self.end_id]
        return Generation(completion_ids=ids, logprobs=None, text=str(action), finish_reason=FINISH_STOP,
                          policy_version=policy_version, prompt_ids=list(prompt))


def _masks(lengths: list[int], total: int) -> dict[str, list[int]]:
    """0/1 masks of the switch, subgoal and action pieces (consecutive, from the start); the
    end-of-turn id belongs to none."""
    out: dict[str, list[int]] = {}
    start = 0
    for part, length in zip(PARTS, lengths):
        mask = [0] * total
        mask[start : start + length] = [1] * length
        out[f"{part}_mask"] = mask
        start += length
    return out
