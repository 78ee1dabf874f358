"""A backend that returns scripted completions instantly — for tests, benchmarks of agent overhead
and dry runs.  It speaks real token ids: text replies are encoded with the given tokenizer, id
replies are returned exactly as given (so a test can hand the agent ids that are *not* the canonical
tokenisation of their text)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from envgym.agents.backends.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    Generation,
    GenerationRequest,
)

Reply = str | Sequence[int] | Generation
Script = Sequence[Reply] | Callable[[GenerationRequest], Reply]


class ScriptedBackend(Backend):
    """Replies in order from ``script`` (a list, cycled when ``cycle``) or from ``script(request)``.

    ``append_eos`` adds the tokenizer's eos id to text replies (as a model ending its turn would);
    each token gets logprob ``logprob``.  ``requests`` keeps every request seen.
    """

    name = "scripted"

    def __init__(
        self,
        tokenizer: Any,
        script: Script,
        *,
        cycle: bool = False,
        append_eos: bool = True,
        logprob: float = -0.5,
        policy_version: int = 0,
    ):
        super().__init__()
        self._tokenizer = tokenizer
        self.script = script
        self.cycle = cycle
        self.append_eos = append_eos
        self.logprob = float(logprob)
        self._policy_version = policy_version
        self._cursor = 0
        self.requests: list[GenerationRequest] = []
        self._encoded: dict[str, list[int]] = {}

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._one(request) for request in requests]

    def update_weights(self, weights: Any, version: int | None = None) -> int:
        return self._next_version(version)

    def _next_reply(self, request: GenerationRequest) -> Reply:
        if callable(self.script):
            return self.script(request)
        if self._cursor >= len(self.script):
            if not self.cycle or not self.script:
                raise IndexError(f"scripted backend ran out of replies after {self._cursor}")
            self._cursor = 0
        reply = self.script[self._cursor]
        self._cursor += 1
        return reply

    def _one(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        reply = self._next_reply(request)
        if isinstance(reply, Generation):
            return reply
        if isinstance(reply, str):
            ids = self._encoded.get(reply)
            if ids is None:
                ids = list(self._tokenizer.encode(reply, add_special_tokens=False))
                if self.append_eos and self._tokenizer.eos_token_id is not None:
                    ids.append(int(self._tokenizer.eos_token_id))
                self._encoded[reply] = ids
            ids = list(ids)
        else:
            ids = [int(t) for t in reply]
        finish = FINISH_STOP
        if len(ids) > request.max_new_tokens:
            ids, finish = ids[: request.max_new_tokens], FINISH_LENGTH
        return Generation(
            completion_ids=ids,
            logprobs=[self.logprob] * len(ids),
            text=self._tokenizer.decode(ids, skip_special_tokens=False),
            finish_reason=finish,
            policy_version=self._policy_version,
            prompt_ids=list(request.prompt_ids),
            usage={"prompt_tokens": len(request.prompt_ids), "completion_tokens": len(ids)},
        )
