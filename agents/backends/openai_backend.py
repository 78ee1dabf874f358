"""Any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, OpenAI itself) over HTTP.

Token-in/token-out where the server allows it:

* a request with ``prompt_ids`` goes to ``POST /v1/completions`` with ``prompt`` as the list of ids
  (vLLM and SGLang accept it), asking for ``logprobs`` plus vLLM's ``return_token_ids`` /
  ``return_tokens_as_token_ids`` so the sampled ids come back exactly;
* in ``mode="auto"``, a server that rejects token-id prompts (4xx) is remembered and sent the decoded
  prompt text instead (needs ``tokenizer``); returned text is then re-tokenised and the
  :class:`Generation` is marked ``ids_exact=False``;
* a request with only ``messages`` goes to ``POST /v1/chat/completions`` (plain chat use; tool calls
  come back in ``Generation.tool_calls``).

Reliability: one shared ``httpx.AsyncClient`` per event loop, at most ``max_concurrency`` requests in
flight, a timeout per request, and up to ``max_retries`` retries with exponential backoff
(``backoff * 2**attempt``, capped at ``max_backoff``; ``Retry-After`` honoured) on connection errors,
timeouts, HTTP 408/409/429/5xx and unparseable replies.  Exhausted retries raise
:class:`BackendTimeout` (last failure a timeout) or :class:`BackendError`.  ``usage`` counts requests,
retries and tokens.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from envgym.agents.backends.base import (
    FINISH_STOP,
    Backend,
    BackendError,
    BackendTimeout,
    Generation,
    GenerationRequest,
)
from envgym.httputil import as_float, error_message

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    def __init__(self, message: str, timeout: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.timeout = timeout
        self.retry_after = retry_after


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
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_concurrency = int(max_concurrency)
        self.top_logprobs = int(top_logprobs)
        self.extra_body = dict(extra_body or {})
        self.headers = dict(headers or {})
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._policy_version = int(policy_version)
        self.token_prompts: bool | None = None if mode == "auto" else mode == "completions"
        self.usage = {"requests": 0, "retries": 0, "failures": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._clients: dict[int, tuple[Any, asyncio.Semaphore, asyncio.AbstractEventLoop]] = {}
        self._state_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public
    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Blocking batch: the requests run concurrently on the backend's own event-loop thread."""
        future = asyncio.run_coroutine_threadsafe(self.agenerate(requests), self._own_loop())
        return future.result()

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
        loop = self._loop
        if loop is not None and loop.is_running():
            for key, (client, _, client_loop) in list(self._clients.items()):
                if client_loop is loop:
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=10)
                    self._clients.pop(key, None)
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10)
            loop.close()
        self._loop = None
        self._loop_thread = None

    async def aclose(self) -> None:
        """Close the client bound to the running loop (for callers that used :meth:`agenerate`)."""
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[0].aclose()

    async def list_models(self) -> list[str]:
        data = await self._request("GET", "/models", None)
        return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]

    # ------------------------------------------------------------------ plumbing
    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._state_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="openai-backend-loop", daemon=True)
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def _client(self) -> tuple[Any, asyncio.Semaphore]:
        import httpx

        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is None or entry[2] is not loop:
            client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self.headers,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency),
            )
            entry = (client, asyncio.Semaphore(self.max_concurrency), loop)
            self._clients[id(loop)] = entry
        return entry[0], entry[1]

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One JSON call with retries; returns the parsed reply."""
        import httpx

        client, semaphore = self._client()
        last: _Retryable | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage["retries"] += 1
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if last is not None and last.retry_after is not None:
                    delay = min(self.max_backoff, max(delay, last.retry_after))
                await asyncio.sleep(delay)
            try:
                async with semaphore:
                    self.usage["requests"] += 1
                    response = await client.request(method, path, json=body)
                if response.status_code in RETRY_STATUSES:
                    retry_after = as_float(response.headers.get("retry-after"))
                    last = _Retryable(f"HTTP {response.status_code}: {error_message(response)}", retry_after=retry_after)
                    continue
                if response.status_code >= 400:
                    raise _Rejected(response.status_code, error_message(response))
                try:
                    data = response.json()
                except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
                    last = _Retryable(f"reply is not valid JSON: {exc}")
                    continue
                if not isinstance(data, dict):
                    last = _Retryable(f"reply is not a JSON object: {str(data)[:100]}")
                    continue
                return data
            except httpx.TimeoutException as exc:
                last = _Retryable(f"timed out after {self.timeout} s ({type(exc).__name__})", timeout=True)
            except httpx.TransportError as exc:
                last = _Retryable(f"connection failed: {type(exc).__name__}: {exc}")
        self.usage["failures"] += 1
        message = f"{method} {self.base_url}{path} failed after {self.max_retries + 1} attempts: {last}"
        if last is not None and last.timeout:
            raise BackendTimeout(message)
        raise BackendError(message)

    async def _model_name(self) -> str:
        if self.model is None:
            models = await self.list_models()
            if not models:
                raise BackendError(f"{self.base_url}/models lists no model; pass model=")
            self.model = models[0]
        return self.model

    # ------------------------------------------------------------------ one request
    async def _generate_one(self, request: GenerationRequest) -> Generation:
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
        self.usage["prompt_tokens"] += prompt_tokens
        self.usage["completion_tokens"] += completion_tokens
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


