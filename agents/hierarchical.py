"""HiPER-style hierarchical agent: a subgoal (high level) and an action (low level) in every turn.

Each completion must read::

    <switch>KEEP|SWITCH</switch><subgoal>…</subgoal><action>…</action>

* ``SWITCH`` adopts the emitted subgoal and opens a new *segment* (``segment_id`` += 1); ``KEEP``
  continues the current subgoal (the emitted subgoal text is ignored).  The first well-formed turn
  always opens segment 0.  The current subgoal is shown in the next prompt ("Current subgoal: …"), and
  so are the env's ``admissible_subgoals`` when it lists them.
* ``Decision.level`` is ``"high"`` on turns that opened a segment, ``"low"`` on turns that kept it.
* ``Decision.extra`` carries ``switch`` (the emitted flag), ``subgoal`` (current after the turn) and
  three 0/1 masks over ``completion_ids`` — ``switch_mask``, ``subgoal_mask``, ``action_mask`` — each
  covering the tokens of its tagged part, tags included.  Token ``i`` spans the characters
  ``[len(decode(ids[:i])), len(decode(ids[:i+1])))`` of the decoded completion (the bytes of one
  multi-byte character share its span, see :func:`token_char_spans`); it is assigned to the
  first part its span overlaps (masks are disjoint; whitespace between parts and special tokens
  belong to none).  A trainer uses switch+subgoal tokens for the high-level policy loss and action
  tokens for the low-level one.
* A malformed completion is an invalid action (raw text sent, ``parse_error=True``); the subgoal and
  segment stay as they were and all masks are 0.

Token-in/token-out prompting, memory and batching are those of :class:`envgym.agents.llm.LLMAgent`.
"""

from __future__ import annotations

import re
from typing import Any

from envgym.agents.backends.base import Generation
from envgym.agents.base import Decision
from envgym.agents.llm.agent import LLMAgent
from envgym.agents.llm.parsing import ParsedAction, action_from_text
from envgym.agents.llm.prompts import user_text

HIPER_INSTRUCTIONS = (
    "Work in subgoals. Reply every turn exactly as "
    "<switch>KEEP|SWITCH</switch><subgoal>...</subgoal><action>...</action>. "
    "Write SWITCH and a new subgoal when there is no current subgoal or it is done or should change; "
    "write KEEP and repeat the current subgoal to continue it. Then give one action for this turn."
)

_HIPER = re.compile(
    r"(<switch>\s*(KEEP|SWITCH)\s*</switch>)\s*(<subgoal>(.*?)</subgoal>)\s*(<action>(.*?)</action>)",
    re.DOTALL | re.IGNORECASE,
)

PARTS = ("switch", "subgoal", "action")


class HierarchicalAgent(LLMAgent):
    """See the module docstring.  Arguments are those of :class:`LLMAgent` (``action_format`` is the
    format expected *inside* ``<action>``; ``auto`` accepts text, function calls and JSON calls)."""

    name = "hiper"

    def __init__(self, backend: Any, system_prompt: str | None = None, **kwargs: Any):
        if system_prompt is None:
            from envgym.agents.llm.prompts import DEFAULT_SYSTEM_PROMPT

            system_prompt = DEFAULT_SYSTEM_PROMPT
        super().__init__(backend, system_prompt, **kwargs)
        self._parsed: dict[str, Any] | None = None

    def _clear(self) -> None:
        super()._clear()
        self.subgoal: str | None = None
        self.segment_id = -1
        self._parsed = None
        self._hint: str | None = None

    # ------------------------------------------------------------------ hooks
    def format_instructions(self) -> str:
        return HIPER_INSTRUCTIONS

    def user_content(self, observation: dict[str, Any]) -> str:
        current = (
            f"Current subgoal: {self.subgoal}"
            if self.subgoal
            else "Current subgoal: none yet (choose one with SWITCH)."
        )
        candidates = observation.get("admissible_subgoals")
        if candidates:  # the env's subgoal candidates (Household, Maze): a SWITCH picks one of them
            current += "\nSubgoals to choose from: " + "; ".join(str(c) for c in candidates)
        return user_text(observation, show_admissible=self.show_admissible, extra=current)

    def parse(self, text: str, observation: dict[str, Any]) -> ParsedAction:
        self._parsed = None
        match = _HIPER.search(text or "")
        if match is None:
            return ParsedAction((text or "").strip(), "raw", "expected <switch>KEEP|SWITCH</switch><subgoal>...</subgoal><action>...</action>")
        switch = match.group(2).upper() == "SWITCH"
        subgoal = " ".join(match.group(4).split())
        if (switch or self.subgoal is None) and not subgoal:
            return ParsedAction((text or "").strip(), "raw", "a new subgoal must not be empty")
        action = action_from_text(match.group(6), "hiper")
        if not action.ok:
            return ParsedAction((text or "").strip(), "raw", action.error)
        self._parsed = {
            "switch": switch,
            "subgoal": subgoal,
            "spans": {"switch": match.span(1), "subgoal": match.span(3), "action": match.span(5)},
        }
        return action

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> Any:
        self._hint = (info or {}).get("subgoal")  # the env's current subgoal: what a demonstration switches to
        return super().prepare(observation, info)

    def demonstration_text(self, action: Any) -> str:
        """Play ``action`` under the env's current subgoal (``info["subgoal"]``): KEEP it when it is
        already current, SWITCH to it otherwise; without one, keep the current subgoal (or open one
        named after the demonstration)."""
        inner = super().demonstration_text(action)
        target = self._hint or self.subgoal or "follow the demonstration"
        if target == self.subgoal:
            return f"<switch>KEEP</switch><subgoal>{self.subgoal}</subgoal>{inner}"
        return f"<switch>SWITCH</switch><subgoal>{target}</subgoal>{inner}"

    def annotate(self, decision: Decision, parsed: ParsedAction, text: str, generation: Generation) -> None:
        ids = decision.completion_ids or []
        info = self._parsed
        self._parsed = None
        if info is None:
            decision.segment_id = max(self.segment_id, 0)
            decision.level = None
            decision.extra.update({"switch": None, "subgoal": self.subgoal})
            if self.tokenizer is not None:
                zeros = [0] * len(ids)
                decision.extra.update({f"{part}_mask": list(zeros) for part in PARTS})
            return
        opens = info["switch"] or self.subgoal is None
        if opens:
            self.segment_id += 1
            self.subgoal = info["subgoal"]
        decision.segment_id = self.segment_id
        decision.level = "high" if opens else "low"
        decision.extra.update({"switch": info["switch"], "subgoal": self.subgoal})
        if self.tokenizer is not None:
            decision.extra.update(part_masks(self.tokenizer, ids, info["spans"]))


def token_char_spans(tokenizer: Any, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each token in ``decode(ids)`` (special tokens skipped).

    Token ``i`` ends at ``len(decode(ids[:i+1]))``.  Tokens holding only part of a multi-byte
    character (the prefix decodes to a trailing U+FFFD) are grouped with the following tokens until
    the character is complete; every token of the group gets the group's span.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    pending = 0
    for i in range(len(ids)):
        text = tokenizer.decode(ids[: i + 1], skip_special_tokens=True)
        pending += 1
        if text.endswith("\ufffd") and i + 1 < len(ids):
            continue  # an incomplete character: wait for the rest of its bytes
        end = max(start, len(text))
        spans.extend([(start, end)] * pending)
        pending = 0
        start = end
    return spans


def part_masks(tokenizer: Any, ids: list[int], spans: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    """0/1 masks over ``ids`` for each part's character span (see the module docstring)."""
    masks = {f"{part}_mask": [0] * len(ids) for part in spans}
    for i, (start, end) in enumerate(token_char_spans(tokenizer, ids)):
        if end <= start:
            continue  # special tokens and other zero-width tokens belong to no part
        for part, (lo, hi) in spans.items():  # in text order: first overlap wins
            if start < hi and end > lo:
                masks[f"{part}_mask"][i] = 1
                break
    return masks
