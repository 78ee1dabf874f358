"""One async chat-completions client for task synthesis (OpenAI-compatible HTTP: vLLM, SGLang, OpenAI).

* Retries, backoff, timeouts and the connection pool are :class:`envgym.llm_http.OpenAICompatibleClient`'s
  (the same client the model backend uses).
* JSON mode: requests carry ``response_format={"type": "json_object"}``; a server that rejects the
  field (HTTP 400/422 naming it) is asked again without it and remembered as not supporting it.
  Replies are parsed with :func:`extract_json`, which also finds the first JSON object in prose or a
  fenced code block, so models without JSON mode work too.
* Usage: ``prompt_tokens``/``completion_tokens`` from each reply's ``usage`` are counted overall and
  per role; ``cost = prompt_tokens / 1000 * price_prompt_per_1k + completion_tokens / 1000 *
  price_completion_per_1k``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from envgym.llm_http import HTTPGaveUp, HTTPRejected, OpenAICompatibleClient, RequestStats


class LLMError(RuntimeError):
    """The endpoint could not give a usable reply (after retries): an infrastructure failure."""


class LLMBadJSON(ValueError):
    """The reply holds no JSON object; ``text`` is the reply."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


@dataclass
class Usage(RequestStats):
    """Token, request and cost counters."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def cost(self, price_prompt_per_1k: float, price_completion_per_1k: float) -> float:
        return self.prompt_tokens / 1000 * price_prompt_per_1k + self.completion_tokens / 1000 * price_completion_per_1k

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "retries": self.retries, "failures": self.failures,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class ChatReply:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


class ChatClient:
    """Async OpenAI-style ``/chat/completions`` client.  ``base_url`` ends in ``/v1`` (or the
    server's equivalent).  Use as ``async with ChatClient(...) as llm`` or call :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 16,
        json_mode: bool = True,
        temperature: float = 0.7,
        max_tokens: int | None = 4096,
        price_prompt_per_1k: float = 0.0,
        price_completion_per_1k: float = 0.0,
        extra_body: dict[str, Any] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.http = OpenAICompatibleClient(base_url, api_key=api_key, timeout=timeout, connect_timeout=connect_timeout,
                                           max_retries=max_retries, backoff=backoff, max_backoff=max_backoff,
                                           max_concurrency=max_concurrency)
        self.json_mode_supported = bool(json_mode)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.price_prompt_per_1k = float(price_prompt_per_1k)
        self.price_completion_per_1k = float(price_completion_per_1k)
        self.extra_body = dict(extra_body or {})
        self.usage = Usage()
        self.by_role: dict[str, Usage] = {}

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ accounting
    def cost(self) -> float:
        return self.usage.cost(self.price_prompt_per_1k, self.price_completion_per_1k)

    def report(self) -> dict[str, Any]:
        """Usage overall and per role, with costs."""
        return {
            **self.usage.to_dict(),
            "cost": round(self.cost(), 6),
            "by_role": {
                role: {**u.to_dict(), "cost": round(u.cost(self.price_prompt_per_1k, self.price_completion_per_1k), 6)}
                for role, u in sorted(self.by_role.items())
            },
        }

    # ------------------------------------------------------------------ calls
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str = "",
        json_mode: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """One chat completion (with retries).  Raises :class:`LLMError` when none succeeds."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature if temperature is None else float(temperature),
        }
        limit = self.max_tokens if max_tokens is None else max_tokens
        if limit is not None:
            body["max_tokens"] = int(limit)
        body.update(self.extra_body)
        if json_mode and self.json_mode_supported:
            body["response_format"] = {"type": "json_object"}
        counter = self.by_role.setdefault(role or "-", Usage())
        start = time.perf_counter()
        try:
            data = await self._post(body, counter)
        finally:
            elapsed = time.perf_counter() - start
            self.usage.seconds += elapsed
            counter.seconds += elapsed
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            self.usage.failures += 1
            counter.failures += 1
            raise LLMError(f"reply has no choices: {json.dumps(data)[:200]}")
        message = choices[0].get("message") or {}
        text = message.get("content") or ""
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        for target in (self.usage, counter):
            target.prompt_tokens += prompt_tokens
            target.completion_tokens += completion_tokens
        return ChatReply(text, choices[0].get("finish_reason"), prompt_tokens, completion_tokens, data)

    async def chat_json(self, messages: list[dict[str, Any]], *, role: str = "", **kwargs: Any) -> tuple[dict[str, Any], ChatReply]:
        """A chat completion in JSON mode, parsed.  Raises :class:`LLMBadJSON` (with the text) when the
        reply holds no JSON object, :class:`LLMError` when the endpoint fails."""
        reply = await self.chat(messages, role=role, json_mode=True, **kwargs)
        value = extract_json(reply.text)
        if value is None:
            raise LLMBadJSON(f"the reply holds no JSON object: {reply.text[:200]!r}", reply.text)
        return value, reply

    async def _post(self, body: dict[str, Any], counter: Usage) -> dict[str, Any]:
        """The reply of ``POST /chat/completions``; a server without JSON mode (HTTP 400/422 naming
        it) is asked again without ``response_format`` and remembered."""
        try:
            return await self.http.request("POST", "/chat/completions", body, counters=(self.usage, counter))
        except HTTPRejected as exc:
            if exc.status in (400, 422) and "response_format" in body and _mentions_json_mode(exc.message):
                self.json_mode_supported = False
                return await self._post({k: v for k, v in body.items() if k != "response_format"}, counter)
            for target in (self.usage, counter):
                target.failures += 1
            raise LLMError(str(exc)) from None
        except HTTPGaveUp as exc:  # the client counted the failure
            raise LLMError(str(exc)) from None


def extract_json(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``: the whole text if it parses as an object, else the first
    ``{...}`` that parses (inside a fenced block or prose), else ``None``."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    try:
        value = json.loads(stripped)
        if isinstance(value, dict):
            return value
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    index = stripped.find("{")
    while index >= 0:
        try:
            value, _ = decoder.raw_decode(stripped, index)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        index = stripped.find("{", index + 1)
    return None


def _mentions_json_mode(message: str) -> bool:
    message = message.lower()
    return "response_format" in message or "json_object" in message or "json mode" in message
