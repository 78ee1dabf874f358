"""A real OpenAI-compatible HTTP server on 127.0.0.1 that serves scripted replies.

For tests and dry runs of anything that talks to an OpenAI-style endpoint (the OpenAI backend, task
synthesis, judges)::

    with ScriptedOpenAIServer(["north", "south"], tokenizer=tok) as server:
        backend = OpenAIBackend(server.base_url, tokenizer=tok)
        ...
        server.add_fault("http_500")          # the next request gets HTTP 500
        server.add_fault("slow", seconds=5)   # the next request waits 5 s before answering

Endpoints: ``GET /v1/models``, ``POST /v1/completions`` (``prompt`` as text or, like vLLM, as a
list of token ids; ``logprobs``, ``return_token_ids`` and ``return_tokens_as_token_ids`` honoured),
``POST /v1/chat/completions`` (``logprobs`` honoured, tool calls passed through), ``GET /health``.

A reply is a string, a dict ``{"text", "token_ids", "logprobs", "finish_reason", "tool_calls"}``
(every key optional) or — when ``replies`` is a callable — whatever ``replies(endpoint, body)``
returns of those.  With a ``tokenizer``, text is tokenised to provide ids and logprobs; without one
only replies that carry ``token_ids`` have them.  Logprobs default to a deterministic pattern
``-(0.1 + 0.01 * (i % 10))``.

The server runs uvicorn in a background thread on a socket bound before the thread starts (port 0:
a free port); ``start`` returns once the app's startup hook has run.  Every request body is recorded
in ``server.requests`` as ``(endpoint, body)``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

FAULT_KINDS = ("http_500", "http_429", "malformed_json", "slow", "drop_ids")


@dataclass
class Fault:
    """One injected misbehaviour, consumed by one request.  ``slow`` waits ``seconds`` then replies
    normally; ``drop_ids`` replies without token ids/logprobs (a server that has none)."""

    kind: str
    seconds: float = 0.0


class ScriptedOpenAIServer:
    """See the module docstring."""

    def __init__(
        self,
        replies: Sequence[Any] | Callable[[str, dict[str, Any]], Any],
        *,
        tokenizer: Any = None,
        model: str = "stub-model",
        cycle: bool = False,
        token_prompts: bool = True,
        faults: Sequence[Fault | str] = (),
        host: str = "127.0.0.1",
    ):
        self.replies = replies
        self.tokenizer = tokenizer
        self.model = model
        self.cycle = cycle
        self.token_prompts = token_prompts
        self.host = host
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        for fault in faults:
            if isinstance(fault, str):
                self.add_fault(fault)
            else:
                self._faults.append(fault)
        self._cursor = 0
        self._ready = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ control
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    def add_fault(self, kind: str, *, times: int = 1, seconds: float = 0.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {FAULT_KINDS}")
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind, seconds))

    def start(self, timeout: float = 30.0) -> ScriptedOpenAIServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._build_app(), log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"openai-stub-{self.port}", daemon=True
        )
        self._sock = sock
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"stub server on port {self.port} did not start within {timeout} s")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._loop is not None and self._stopping is not None:
                try:
                    self._loop.call_soon_threadsafe(self._stopping.set)
                except RuntimeError:  # loop already closed
                    pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if getattr(self, "_sock", None) is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ app
    def _build_app(self) -> Any:
        @asynccontextmanager
        async def lifespan(app: Any):
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            self._ready.set()
            yield

        app = FastAPI(lifespan=lifespan)

        def error(status: int, message: str, kind: str = "invalid_request_error") -> Any:
            return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

        async def handle(endpoint: str, request: Request) -> Any:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return error(400, "request body is not valid JSON")
            if not isinstance(body, dict):
                return error(400, "request body must be a JSON object")
            with self._lock:
                self.requests.append((endpoint, body))
                fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                if fault.kind == "http_500":
                    return error(500, "injected internal error", "server_error")
                if fault.kind == "http_429":
                    return error(429, "injected rate limit", "rate_limit_error")
                if fault.kind == "malformed_json":
                    return Response(content=b'{"choices": [{"text": "unterminated', media_type="application/json")
                if fault.kind == "slow":
                    try:
                        await asyncio.wait_for(self._stopping.wait(), timeout=fault.seconds)  # type: ignore[union-attr]
                    except asyncio.TimeoutError:
                        pass
            try:
                if endpoint == "completions":
                    payload = self._completions(body, drop_ids=fault is not None and fault.kind == "drop_ids")
                else:
                    payload = self._chat(body, drop_ids=fault is not None and fault.kind == "drop_ids")
            except _BadRequest as exc:
                return error(400, str(exc))
            except IndexError as exc:
                return error(500, str(exc), "server_error")
            return JSONResponse(payload)

        @app.post("/v1/completions")
        async def completions(request: Request) -> Any:
            return await handle("completions", request)

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            return await handle("chat", request)

        @app.get("/v1/models")
        async def models() -> Any:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "envgym"}]}

        @app.get("/health")
        async def health() -> Any:
            return {"ok": True}

        return app

    # ------------------------------------------------------------------ replies
    def _next_reply(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        if callable(self.replies):
            reply = self.replies(endpoint, body)
        else:
            with self._lock:
                if self._cursor >= len(self.replies):
                    if not self.cycle or not self.replies:
                        raise IndexError(f"no scripted reply left (served {self._cursor})")
                    self._cursor = 0
                reply = self.replies[self._cursor]
                self._cursor += 1
        if isinstance(reply, str):
            return {"text": reply}
        if isinstance(reply, dict):
            return dict(reply)
        raise TypeError(f"a scripted reply must be a str or dict, got {type(reply).__name__}")

    def _tokens(self, reply: dict[str, Any], max_tokens: int | None) -> tuple[str, list[int] | None, list[float] | None, str]:
        text = reply.get("text")
        ids = reply.get("token_ids")
        if ids is None and text is not None and self.tokenizer is not None:
            ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        if text is None:
            text = self.tokenizer.decode(ids, skip_special_tokens=True) if ids is not None and self.tokenizer else ""
        finish = reply.get("finish_reason", "stop")
        logprobs = reply.get("logprobs")
        if ids is not None:
            ids = [int(t) for t in ids]
            if max_tokens is not None and len(ids) > max_tokens:
                ids, finish = ids[:max_tokens], "length"
                if self.tokenizer is not None:
                    text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if logprobs is None:
                logprobs = [-(0.1 + 0.01 * (i % 10)) for i in range(len(ids))]
            logprobs = [float(x) for x in logprobs[: len(ids)]]
        return text, ids, logprobs, finish

    def _token_strings(self, ids: list[int], as_ids: bool) -> list[str]:
        if as_ids or self.tokenizer is None:
            return [f"token_id:{t}" for t in ids]
        return [self.tokenizer.decode([t]) for t in ids]

    def _prompt_ids(self, prompt: Any) -> list[int] | None:
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return [int(t) for t in prompt]
        if isinstance(prompt, str) and self.tokenizer is not None:
            return list(self.tokenizer.encode(prompt, add_special_tokens=False))
        return None

    def _completions(self, body: dict[str, Any], drop_ids: bool) -> dict[str, Any]:
        prompt = body.get("prompt")
        if prompt is None:
            raise _BadRequest("'prompt' is required")
        prompts = prompt if isinstance(prompt, list) and prompt and isinstance(prompt[0], (list, str)) else [prompt]
        for one in prompts:
            if isinstance(one, list) and not self.token_prompts:
                raise _BadRequest("prompt must be a string (token-id prompts are not supported)")
            if not isinstance(one, (str, list)):
                raise _BadRequest("prompt must be a string or a list of token ids")
        choices, prompt_total, completion_total = [], 0, 0
        for index, one in enumerate(prompts):
            prompt_ids = self._prompt_ids(one)
            text, ids, logprobs, finish = self._tokens(self._next_reply("completions", body), body.get("max_tokens"))
            if drop_ids:
                ids = logprobs = None
            choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": finish, "logprobs": None}
            if ids is not None and body.get("logprobs") is not None:
                tokens = self._token_strings(ids, bool(body.get("return_tokens_as_token_ids")))
                offsets, at = [], 0
                for token in tokens:
                    offsets.append(at)
                    at += len(token)
                choice["logprobs"] = {
                    "tokens": tokens,
                    "token_logprobs": logprobs,
                    "top_logprobs": [{tok: lp} for tok, lp in zip(tokens, logprobs or [])],
                    "text_offset": offsets,
                }
            if body.get("return_token_ids"):
                choice["token_ids"] = ids
                choice["prompt_token_ids"] = prompt_ids
            choices.append(choice)
            prompt_total += len(prompt_ids) if prompt_ids is not None else len(str(one).split())
            completion_total += len(ids) if ids is not None else len(text.split())
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model") or self.model, "choices": choices,
            "usage": {"prompt_tokens": prompt_total, "completion_tokens": completion_total,
                      "total_tokens": prompt_total + completion_total},
        }

    def _chat(self, body: dict[str, Any], drop_ids: bool) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("'messages' must be a non-empty list")
        reply = self._next_reply("chat", body)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        text, ids, logprobs, finish = self._tokens(reply, max_tokens)
        if drop_ids:
            ids = logprobs = None
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reply.get("tool_calls"):
            message["tool_calls"] = [
                {"id": call.get("id", f"call_{i}"), "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))}}
                for i, call in enumerate(reply["tool_calls"])
            ]
            finish = "tool_calls"
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        if ids is not None and body.get("logprobs"):
            tokens = self._token_strings(ids, bool(body.get("return_tokens_as_token_ids")))
            choice["logprobs"] = {
                "content": [
                    {"token": tok, "logprob": lp, "bytes": list(tok.encode()), "top_logprobs": []}
                    for tok, lp in zip(tokens, logprobs or [])
                ]
            }
        if body.get("return_token_ids"):
            choice["token_ids"] = ids
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        if self.tokenizer is not None:
            prompt_tokens = sum(len(self.tokenizer.encode(str(m.get("content", "")), add_special_tokens=False)) for m in messages)
        completion_tokens = len(ids) if ids is not None else len(text.split())
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or self.model, "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


class _BadRequest(ValueError):
    pass
