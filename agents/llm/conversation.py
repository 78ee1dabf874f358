"""Token-in/token-out conversation bookkeeping: the prompt of turn t+1 is the exact ids of turn t
(prompt + sampled completion) followed by the tokens of what is new — never a re-tokenised history.

:class:`ChatFormat` probes a tokenizer's chat template once and splits it into the pieces an append
needs.  For a ChatML template (Qwen) they are::

    assistant_suffix = "<|im_end|>\\n"                       # closes an assistant message
    user_prefix      = "<|im_start|>user\\n"                  # opens the next user message
    user_suffix      = "<|im_end|>\\n<|im_start|>assistant\\n"  # closes it + the generation prompt

After a completion, the continuation text is ``assistant_suffix`` minus the end-of-turn token the
model already sampled (``"<|im_end|>"`` when it stopped on it, nothing when it stopped on a stop string
or length) + ``user_prefix + content + user_suffix``; only this text is tokenised.  The probe renders
``[system, user, assistant]`` and ``[system, user, assistant, user]`` with the template and requires
the second to extend the first (append-only templates; one that rewrites history, e.g. strips past
reasoning, is refused with a clear error).
"""

from __future__ import annotations

from typing import Any

_USER_MARK = "ENVGYMUSERMARK7f3a"
_ASSISTANT_MARK = "ENVGYMASSISTANTMARK9c1e"


class TemplateError(ValueError):
    """The tokenizer's chat template cannot be used append-only."""


class ChatFormat:
    """Chat-template pieces of ``tokenizer`` for appending turns as text deltas."""

    def __init__(self, tokenizer: Any, chat_template: str | None = None):
        self.chat_template = chat_template or getattr(tokenizer, "chat_template", None)
        if self.chat_template is None:
            raise TemplateError("the tokenizer has no chat_template; token-in agents need one")
        self.tokenizer = tokenizer
        self.has_system_role = True
        try:
            before, after = self._probe([{"role": "system", "content": "S"}])
        except Exception:  # noqa: BLE001 - templates that refuse a system role raise anything
            self.has_system_role = False
            before, after = self._probe([])
        if not after.startswith(before):
            raise TemplateError(
                "the chat template is not append-only (rendering one more user message changes the "
                "earlier text), so turns cannot be appended as token deltas"
            )
        delta = after[len(before) :]
        if delta.count(_USER_MARK) != 1 or before.count(_ASSISTANT_MARK) != 1:
            raise TemplateError("the chat template rewrites message content; cannot split it into pieces")
        self.user_prefix, self.user_suffix = delta.split(_USER_MARK)
        self.assistant_suffix = before[before.index(_ASSISTANT_MARK) + len(_ASSISTANT_MARK) :]
        suffix_ids = self.encode(self.assistant_suffix)
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        #: the token that ends an assistant turn (``<|im_end|>``), if the template has one
        self.end_of_turn_id: int | None = suffix_ids[0] if suffix_ids and suffix_ids[0] in special else None
        self.end_of_turn_text = (
            tokenizer.decode([self.end_of_turn_id], skip_special_tokens=False) if self.end_of_turn_id is not None else ""
        )

    def _probe(self, head: list[dict[str, str]]) -> tuple[str, str]:
        base = head + [{"role": "user", "content": "U"}, {"role": "assistant", "content": _ASSISTANT_MARK}]
        before = self.render(base, add_generation_prompt=False)
        after = self.render(base + [{"role": "user", "content": _USER_MARK}], add_generation_prompt=True)
        return before, after

    # ------------------------------------------------------------------ rendering
    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def head_messages(self, system: str, user: str) -> list[dict[str, str]]:
        if self.has_system_role:
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]

    def start_ids(self, system: str, user: str) -> list[int]:
        """Ids of a fresh conversation: system + first user message + generation prompt."""
        return self.encode(self.render(self.head_messages(system, user), add_generation_prompt=True))

    def closing_text(self, completion_ids: list[int]) -> str:
        """Text that closes an assistant turn: the template's assistant suffix, minus the end-of-turn
        token when the model already sampled it."""
        closing = self.assistant_suffix
        if (
            self.end_of_turn_id is not None
            and completion_ids
            and completion_ids[-1] == self.end_of_turn_id
            and closing.startswith(self.end_of_turn_text)
        ):
            closing = closing[len(self.end_of_turn_text) :]
        return closing

    def continuation_text(self, completion_ids: list[int], user: str) -> str:
        """Text to append after a completion to close it and open the next user turn."""
        return self.closing_text(completion_ids) + self.user_prefix + user + self.user_suffix

    def continuation_ids(self, completion_ids: list[int], user: str) -> list[int]:
        return self.encode(self.continuation_text(completion_ids, user))
