"""An agent backed by a language model, token-in/token-out.

``LLMAgent(backend)`` turns each observation into a user message, asks the backend for a completion
and parses one action from it.  It keeps the **token ids** of the conversation: the prompt of turn
``t+1`` is ``prompt_ids[t] + completion_ids[t] + ids(closing + new user message + assistant header)``
— the sampled ids are never decoded and re-encoded (see :mod:`envgym.agents.llm.conversation`).  So within
one *context* (``Decision.extra["context_id"]``) every prompt extends the previous prompt + completion,
and a trainer can score the whole context as one sequence.

Memory: with ``memory="window"`` and ``window=K`` the prompt holds the last ``K`` completed turns; when
an old turn drops out the prompt is rebuilt from the kept turns' stored ids (a new context,
``extra["prompt_rebuilt"] = True``).  ``memory="summary"`` also puts a deterministic summary line per
dropped turn (action -> outcome) into the system message.  ``window=None`` keeps everything
(``max_prompt_tokens`` still forces a rebuild when the prompt grows past it).

Parsing failures never raise: the action is the raw completion text (the env answers with an
``action_error``) and ``extra["parse_error"] = True``.

For batching across many agents, a rollout service can call :meth:`LLMAgent.prepare` on each agent,
send all requests to the backend in one ``generate`` call, and hand each result to
:meth:`LLMAgent.finish`; :meth:`act` does exactly that for one agent, :meth:`aact` asynchronously.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from envgym.agents.backends.base import FINISH_STOP, Backend, Generation, GenerationRequest
from envgym.agents.base import BatchedAgent, Decision
from envgym.agents.llm.conversation import ChatFormat
from envgym.agents.llm.parsing import ACTION_FORMATS, ParsedAction, find_function_call, parse_completion
from envgym.agents.llm.prompts import (
    DEFAULT_SYSTEM_PROMPT,
    FORMAT_INSTRUCTIONS,
    action_repr,
    outcome_of,
    summary_text,
    system_text,
    user_text,
)

MEMORIES = ("window", "summary")


@dataclass
class Sampling:
    """Sampling parameters of every turn; ``seed`` (if set) is offset by the agent's turn counter."""

    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def coerce(cls, value: Sampling | dict[str, Any] | None) -> Sampling:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown sampling parameters {sorted(unknown)}; known: {sorted(known)}")
        data = dict(value)
        if "stop" in data:
            data["stop"] = (data["stop"],) if isinstance(data["stop"], str) else tuple(data["stop"])
        return cls(**data)


@dataclass
class TurnRecord:
    """What the agent keeps of one completed turn (ids exactly as sampled)."""

    user: str
    completion_ids: list[int]
    text: str
    action: Any
    outcome: str = ""
    continuation_ids: list[int] | None = None  # ids appended after this completion (closing + next user)


@dataclass
class _Pending:
    observation: dict[str, Any]
    user: str
    prompt_ids: list[int] | None
    rebuilt: bool
    request: GenerationRequest | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LLMAgent(BatchedAgent):
    """See the module docstring."""

    name = "llm"

    def __init__(
        self,
        backend: Backend,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        *,
        memory: str = "window",
        window: int | None = 8,
        action_format: str = "auto",
        sampling: Sampling | dict[str, Any] | None = None,
        max_prompt_tokens: int | None = None,
        show_admissible: bool = True,
        name: str | None = None,
    ):
        if memory not in MEMORIES:
            raise ValueError(f"memory must be one of {MEMORIES}, got {memory!r}")
        if window is not None and window < 0:
            raise ValueError(f"window must be >= 0 or None, got {window}")
        if action_format not in ACTION_FORMATS:
            raise ValueError(f"action_format must be one of {ACTION_FORMATS}, got {action_format!r}")
        self.backend = backend
        self.system_prompt = system_prompt
        self.memory = memory
        self.window = window
        self.action_format = action_format
        self.sampling = Sampling.coerce(sampling)
        self.max_prompt_tokens = max_prompt_tokens
        self.show_admissible = show_admissible
        if name:
            self.name = name
        tokenizer = backend.tokenizer
        self.tokenizer = tokenizer
        self.format = self.chat_format(tokenizer) if tokenizer is not None else None
        self._stop_ids: list[int] = []
        if self.format is not None:
            ids = {self.format.end_of_turn_id, getattr(tokenizer, "eos_token_id", None)}
            self._stop_ids = sorted(int(i) for i in ids if isinstance(i, int))
        self._turn_counter = 0
        self._clear()

    # ------------------------------------------------------------------ episode state
    def _clear(self) -> None:
        self.records: list[TurnRecord] = []
        self._instruction: str | None = None
        self._tools: list[dict[str, Any]] | None = None
        self._context_ids: list[int] = []
        self._context_start = 0
        self._context_id = 0
        self._pending: _Pending | None = None
        self._started = False

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._clear()
        self._instruction = observation.get("instruction") or None
        self._tools = observation.get("tools") or None
        self._started = True

    # ------------------------------------------------------------------ hooks for subclasses
    def chat_format(self, tokenizer: Any) -> ChatFormat:
        """The token-in chat format (a vision agent renders and encodes images too)."""
        return ChatFormat(tokenizer)

    def format_instructions(self) -> str:
        return FORMAT_INSTRUCTIONS[self.action_format]

    def user_content(self, observation: dict[str, Any]) -> str:
        return user_text(observation, show_admissible=self.show_admissible)

    def parse(self, text: str, observation: dict[str, Any]) -> ParsedAction:
        return parse_completion(text, self.action_format, admissible=observation.get("admissible_actions"))

    def annotate(self, decision: Decision, parsed: ParsedAction, text: str, generation: Generation) -> None:
        """Add fields to ``decision`` (hierarchical agents record segments here)."""

    # ------------------------------------------------------------------ acting
    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Decision:
        request = self.prepare(observation, info)
        return self.finish(self.backend.generate([request])[0])

    async def aact(self, observation: dict[str, Any], info: dict[str, Any]) -> Decision:
        request = self.prepare(observation, info)
        return self.finish((await self.backend.agenerate([request]))[0])

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        """Build this turn's :class:`GenerationRequest` (and remember it for :meth:`finish`)."""
        if not self._started:
            self.reset(observation, info or {})
        user = self.user_content(observation)
        if self.records:
            self.records[-1].outcome = outcome_of(observation)
        rebuilt = False
        prompt_ids: list[int] | None = None
        messages = None
        if self.format is not None:
            prompt_ids, rebuilt = self._next_prompt_ids(user)
        else:
            messages = self._messages(user)
        request = GenerationRequest(
            prompt_ids=prompt_ids or [],
            messages=messages,
            tools=self._tools if messages is not None else None,
            max_new_tokens=self.sampling.max_new_tokens,
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            stop=list(self.sampling.stop),
            stop_token_ids=list(self._stop_ids),
            seed=None if self.sampling.seed is None else self.sampling.seed + self._turn_counter,
        )
        self._turn_counter += 1
        self._pending = _Pending(observation, user, prompt_ids, rebuilt, request)
        return request

    def finish(self, generation: Generation) -> Decision:
        """Turn the backend's answer to :meth:`prepare`'s request into a :class:`Decision`."""
        pending = self._pending
        if pending is None:
            raise RuntimeError("finish() without a prepare()")
        self._pending = None
        ids = list(generation.completion_ids)
        if self.tokenizer is not None and ids:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        else:
            text = generation.text
        if generation.tool_calls:
            call = generation.tool_calls[0]
            parsed = ParsedAction({"name": call.get("name"), "arguments": call.get("arguments") or {}}, "tool_call")
        else:
            parsed = self.parse(text, pending.observation)
        self.records.append(TurnRecord(user=pending.user, completion_ids=ids, text=text, action=parsed.action))
        if pending.prompt_ids is not None:
            self._context_ids = pending.prompt_ids + ids
        decision = Decision(
            action=parsed.action,
            prompt_ids=list(pending.prompt_ids) if pending.prompt_ids is not None else None,
            completion_ids=ids,
            logprobs=list(generation.logprobs) if generation.logprobs is not None else None,
            policy_version=generation.policy_version,
            extra={
                "parse_error": not parsed.ok,
                "action_format": parsed.format,
                "response": text,
                "finish_reason": generation.finish_reason,
                "context_id": self._context_id,
                "prompt_rebuilt": pending.rebuilt,
                "ids_exact": generation.ids_exact,
            },
        )
        if not parsed.ok:
            decision.extra["parse_message"] = parsed.error
        self.annotate(decision, parsed, text, generation)
        return decision

    def force(self, action: Any, policy_version: int = 0) -> Generation:
        """The :class:`Generation` that answers the pending request with ``action``: the ids of
        :meth:`demonstration_text` plus the end-of-turn id, ``logprobs=None`` (an oracle demonstration
        recorded with this agent's own prompt ids)."""
        if self._pending is None:
            raise RuntimeError("force() without a prepare()")
        if self.format is None:
            raise ValueError("force() needs a backend with a tokenizer (token-in); this one is chat-only")
        text = self.demonstration_text(action)
        ids = self.format.encode(text) + list(self._stop_ids[:1] if self.format.end_of_turn_id is None else [self.format.end_of_turn_id])
        return Generation(completion_ids=ids, logprobs=None, text=text, finish_reason=FINISH_STOP,
                          policy_version=policy_version, prompt_ids=list(self._pending.prompt_ids or []))

    def demonstration_text(self, action: Any) -> str:
        """A reply in this agent's action format that parses back to ``action``."""
        if self.action_format == "json":
            if not isinstance(action, dict):
                raise ValueError(f"action_format 'json' cannot express the text action {action!r}; use 'auto' or 'tagged'")
            return json.dumps(action, ensure_ascii=False)
        if self.action_format == "function":
            if isinstance(action, dict) or find_function_call(str(action)) is None:
                raise ValueError(f"action_format 'function' cannot express the action {action!r}; use 'auto' or 'tagged'")
            return str(action)
        return f"<action>{action_repr(action)}</action>"

    # ------------------------------------------------------------------ prompts
    def _system(self, summary: str | None) -> str:
        return system_text(
            self.system_prompt,
            self.action_format,
            instruction=self._instruction,
            tools=self._tools,
            format_instructions=self.format_instructions(),
            summary=summary,
        )

    def _summary(self, dropped: int) -> str | None:
        if self.memory != "summary" or dropped == 0:
            return None
        entries = [(i, action_repr(r.action), r.outcome) for i, r in enumerate(self.records[:dropped])]
        return summary_text(entries)

    def _next_prompt_ids(self, user: str) -> tuple[list[int], bool]:
        assert self.format is not None
        turn = len(self.records)
        if turn == 0:
            self._context_start = 0
            return self.format.start_ids(self._system(None), user), False
        last = self.records[-1]
        if last.continuation_ids is None:
            last.continuation_ids = self.format.continuation_ids(last.completion_ids, user)
        start = self._context_start
        if self.window is not None and turn - start > self.window:
            start = turn - self.window
        if start == self._context_start:
            ids = self._context_ids + last.continuation_ids
            if self.max_prompt_tokens is None or len(ids) <= self.max_prompt_tokens:
                return ids, False
        return self._rebuild(user, start), True

    def _rebuild(self, user: str, start: int) -> list[int]:
        """A new context holding turns ``start..`` (their stored ids) and the current user message."""
        assert self.format is not None
        turn = len(self.records)
        while True:
            system = self._system(self._summary(start))
            if start >= turn:
                ids = self.format.start_ids(system, user)
            else:
                ids = self.format.start_ids(system, self.records[start].user)
                for record in self.records[start:]:
                    ids += record.completion_ids
                    ids += record.continuation_ids or []
            if self.max_prompt_tokens is None or len(ids) <= self.max_prompt_tokens or start >= turn:
                break
            start += 1
        self._context_start = start
        self._context_id += 1
        return ids

    def _messages(self, user: str) -> list[dict[str, Any]]:
        """Chat messages for backends without a tokenizer (chat-only servers)."""
        turn = len(self.records)
        start = 0 if self.window is None else max(0, turn - self.window)
        messages: list[dict[str, Any]] = [{"role": "system", "content": self._system(self._summary(start))}]
        for record in self.records[start:]:
            messages.append({"role": "user", "content": record.user})
            messages.append({"role": "assistant", "content": record.text})
        messages.append({"role": "user", "content": user})
        return messages
