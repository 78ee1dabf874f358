"""Any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, OpenAI itself) over HTTP.

Token-in/token-out where the server allows it:

* a request with ``prompt_ids`` goes to ``POST /v1/completions`` with ``prompt`` as the list of ids
  (vLLM and SGLang accept it), asking for ``logprobs`` plus vLLM's ``return_token_ids`` /
  ``return_tokens_as_token_ids`` so the sampled ids come back exactly;
* in ``mode="auto"``, a server that rejects token-id prompts (4xx) is remembered and sent the decoded
  prompt text instead (needs ``tokenizer``); returned text is then re-tokenised and the
  :class:`Generation` is marked ``ids_exact=False``;
* a request with only ``messages`` goes to ``POST /v1/chat/completions`` (plain chat use; tool calls
  come back in ``Generation.tool_calls``); a vision agent's messages carry screenshots as
  ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` parts, which vision
  servers (vLLM, SGLang, OpenAI) accept — for evaluation: the server renders and resizes itself, so
  such turns are not token-exact.  A request with token ids *and* images is refused (``/v1/completions``
  has no place for images).

Reliability comes from :class:`envgym.llm_http.OpenAICompatibleClient` (one connection pool per event
loop, at most ``max_concurrency`` requests in flight, a timeout per request, retries with exponential
backoff on connection errors, timeouts, retryable statuses and unparseable replies).  Exhausted
retries raise :class:`BackendTimeout` (last failure a timeout) or :class:`BackendError`.  ``usage``
counts requests, retries and tokens.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from envgym.llm_http import HTTPGaveUp, HTTPRejected, OpenAICompatibleClient
from envgym.loop_thread import LoopThread

from envgym.agents.backends.base import (
    FINISH_STOP,
    Backend,
    BackendError,
    BackendTimeout,
    Generation,
    GenerationRequest,
)


class _Rejected(BackendError):
    """The server refused the request (4xx other than the retryable ones)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class OpenAIBackend(Backend):
    """See the module docstring.  ``base_url`` ends in ``/v1`` (``http://127.0.0.1:8000/v1``)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        tokenizer: Any = None,
        mode: str = "auto",
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 64,
        top_logprobs: int = 1,
        extra_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        policy_version: int = 0,
    ):
        super().__init__()
        if mode not in ("auto", "completions", "chat"):
            raise ValueError(f"mode must be auto, completions or chat, got {mode!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._tokenizer = tokenizer
        self.mode = mode
        self.http = OpenAICompatibleClient(base_url, api_key=api_key, headers=headers, timeout=timeout,
                                           connect_timeout=connect_timeout, max_retries=max_retries, backoff=backoff,
                                           max_backoff=max_backoff, max_concurrency=max_concurrency)
        self.top_logprobs = int(top_logprobs)
        self.extra_body = dict(extra_body or {})
        self._policy_version = int(policy_version)
        self.token_prompts: bool | None = None if mode == "auto" else mode == "completions"
        self._tokens = {"prompt_tokens": 0, "completion_tokens": 0}
        self._state_lock = threading.Lock()
        self._loop: LoopThread | None = None

    @property
    def usage(self) -> dict[str, int]:
        """Requests, retries and failures of the HTTP client, tokens of the replies."""
        stats = self.http.stats
        return {"requests": stats.requests, "retries": stats.retries, "failures": stats.failures, **self._tokens}

    # ------------------------------------------------------------------ public
    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Blocking batch: the requests run concurrently on the backend's own event-loop thread."""
        return self._own_loop().run(self.agenerate(requests))

    async def agenerate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return list(await asyncio.gather(*(self._generate_one(r) for r in requests)))

    def update_weights(self, weights: Any = None, version: int | None = None) -> int:
        """The server owns its weights: push them out of band (e.g. a vLLM weight-sync endpoint),
        then call ``update_weights(None, version)`` to stamp later generations with ``version``."""
        if weights is not None:
            raise NotImplementedError(
                "OpenAIBackend cannot upload weights; update the server, then call update_weights(None, version)"
            )
        return self._next_version(version)

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and loop.alive:
            loop.run(self.http.aclose(), timeout=10)
            loop.stop(timeout=10)

    async def aclose(self) -> None:
        """Close the client bound to the running loop (for callers that used :meth:`agenerate`)."""
        await self.http.aclose()

    async def list_models(self) -> list[str]:
        data = await self._request("GET", "/models", None)
        return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]

    # ------------------------------------------------------------------ plumbing
    def _own_loop(self) -> LoopThread:
        with self._state_lock:
            if self._loop is None:
                self._loop = LoopThread("openai-backend-loop")
            return self._loop

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One JSON call with retries; returns the parsed reply."""
        try:
            return await self.http.request(method, path, body)
        except HTTPRejected as exc:
            raise _Rejected(exc.status, exc.message) from None
        except HTTPGaveUp as exc:
            raise (BackendTimeout if exc.timeout else BackendError)(str(exc)) from None

    async def _model_name(self) -> str:
        if self.model is None:
            models = await self.list_models()
            if not models:
                raise BackendError(f"{self.base_url}/models lists no model; pass model=")
            self.model = models[0]
        return self.model

    # ------------------------------------------------------------------ one request
    async def _generate_one(self, request: GenerationRequest) -> Generation:
        if request.images:
            raise BackendError("an OpenAI-compatible server takes images only in chat messages (image_url data "
                               "URLs), not with token-id prompts: evaluate with a chat-only vision agent (no tokenizer)")
        model = await self._model_name()
        if request.prompt_ids and self.mode != "chat":
            if self.token_prompts is not False:
                try:
                    generation = await self._complete(model, request, list(request.prompt_ids))
                    self.token_prompts = True
                    return generation
                except _Rejected as rejected:
                    if self.mode == "completions" or self.token_prompts is True or self._tokenizer is None:
                        raise
                    try:  # maybe this server only takes text prompts
                        generation = await self._complete(model, request, self._prompt_text(request))
                    except _Rejected:
                        raise rejected from None
                    self.token_prompts = False  # it does: send text from now on
                    return generation
            if self._tokenizer is None:
                raise BackendError("the server refuses token-id prompts and no tokenizer was given to decode them")
            return await self._complete(model, request, self._prompt_text(request))
        if request.messages:
            return await self._chat(model, request)
        raise BackendError("chat mode needs GenerationRequest.messages")

    def _prompt_text(self, request: GenerationRequest) -> str:
        return self._tokenizer.decode(request.prompt_ids, skip_special_tokens=False)

    def _sampling_body(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "return_token_ids": True,  # vLLM >= 0.10.2: choices[i].token_ids
            "return_tokens_as_token_ids": True,  # vLLM: logprob tokens as "token_id:N"
        }
        if request.stop:
            body["stop"] = list(request.stop)
            body["include_stop_str_in_output"] = True  # vLLM: keep text == decode(token_ids)
        if request.stop_token_ids:
            body["stop_token_ids"] = list(request.stop_token_ids)
        if request.ignore_eos:
            body["ignore_eos"] = True
        if request.seed is not None:
            body["seed"] = int(request.seed)
        body.update(self.extra_body)
        return body

    async def _complete(self, model: str, request: GenerationRequest, prompt: list[int] | str) -> Generation:
        body = self._sampling_body(model, request)
        body["prompt"] = prompt
        body["logprobs"] = self.top_logprobs
        data = await self._request("POST", "/completions", body)
        choice = _first_choice(data)
        text = choice.get("text") or ""
        logprob_block = choice.get("logprobs") or {}
        ids = _ints(choice.get("token_ids"))
        if ids is None:
            ids = _ids_from_token_strings(logprob_block.get("tokens"))
        logprobs = _floats(logprob_block.get("token_logprobs"))
        return self._finish(request, data, choice, text, ids, logprobs, prompt if isinstance(prompt, list) else None)

    async def _chat(self, model: str, request: GenerationRequest) -> Generation:
        body = self._sampling_body(model, request)
        body["messages"] = request.messages
        body["logprobs"] = True
        if request.tools:
            body["tools"] = request.tools
        data = await self._request("POST", "/chat/completions", body)
        choice = _first_choice(data)
        message = choice.get("message") or {}
        text = message.get("content") or ""
        content = (choice.get("logprobs") or {}).get("content") or []
        ids = _ints(choice.get("token_ids"))
        if ids is None and content:
            ids = _ids_from_token_strings([item.get("token") for item in content])
        logprobs = _floats([item.get("logprob") for item in content]) if content else None
        generation = self._finish(request, data, choice, text, ids, logprobs, None)
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments = function.get("arguments")
            try:
                arguments = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else arguments or {}
            except json.JSONDecodeError:
                pass  # leave the raw string; the env reports it as an invalid tool call
            calls.append({"name": function.get("name"), "arguments": arguments})
        generation.tool_calls = calls or None
        return generation

    def _finish(
        self,
        request: GenerationRequest,
        data: dict[str, Any],
        choice: dict[str, Any],
        text: str,
        ids: list[int] | None,
        logprobs: list[float] | None,
        prompt_ids: list[int] | None,
    ) -> Generation:
        exact = ids is not None
        if ids is None:
            ids = list(self._tokenizer.encode(text, add_special_tokens=False)) if self._tokenizer is not None else []
        if logprobs is not None and len(logprobs) != len(ids):
            logprobs = None  # cannot be aligned with the ids: better none than wrong
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or (len(prompt_ids) if prompt_ids else 0))
        completion_tokens = int(usage.get("completion_tokens") or len(ids))
        self._tokens["prompt_tokens"] += prompt_tokens
        self._tokens["completion_tokens"] += completion_tokens
        return Generation(
            completion_ids=ids,
            logprobs=logprobs if exact else None,
            text=text,
            finish_reason=choice.get("finish_reason") or FINISH_STOP,
            policy_version=self._policy_version,
            prompt_ids=list(request.prompt_ids) or None,
            ids_exact=exact,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        )


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError(f"reply has no choices: {json.dumps(data)[:200]}")
    return choices[0]


def _ints(value: Any) -> list[int] | None:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return [int(v) for v in value]
    return None


def _floats(value: Any) -> list[float] | None:
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return [float(v) for v in value]
    return None


def _ids_from_token_strings(tokens: Any) -> list[int] | None:
    """``["token_id:12", ...]`` (vLLM ``return_tokens_as_token_ids``) -> ``[12, ...]``, else None."""
    if not isinstance(tokens, list) or not tokens:
        return None
    ids = []
    for token in tokens:
        if not isinstance(token, str) or not token.startswith("token_id:"):
            return None
        try:
            ids.append(int(token[len("token_id:"):]))
        except ValueError:
            return None
    return ids


