"""The one HTTP client for OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp, OpenAI itself),
shared by the model backend (:mod:`envgym.agents.backends.openai_backend`) and task synthesis
(:mod:`envgym.synth.llm`).

:class:`OpenAICompatibleClient` sends JSON requests and returns JSON objects:

* one ``httpx.AsyncClient`` per event loop (callers on different loops never share a connection
  pool), at most ``max_concurrency`` requests in flight per loop, a timeout per request;
* retries with exponential backoff on connection errors, timeouts, the statuses in
  :data:`RETRY_STATUSES` and unreadable replies:
  ``delay(attempt) = min(max_backoff, backoff * 2 ** (attempt - 1))``, raised to the server's
  ``Retry-After`` (still capped) when it sends one;
* any other 4xx/5xx raises :class:`HTTPRejected` at once (not counted as a failure: the caller may
  change the request and try again); exhausted retries raise :class:`HTTPGaveUp` (``timeout`` says
  whether the last failure was a timeout).

Counters (``requests``, ``retries``, ``failures``) go to :attr:`OpenAICompatibleClient.stats` and to
any extra counters a call passes (objects with those three integer attributes).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

#: Statuses worth another attempt: timeouts, conflicts, rate limits, server errors.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class HTTPRejected(RuntimeError):
    """The server refused the request (a status not worth retrying)."""

    def __init__(self, method: str, url: str, status: int, message: str):
        super().__init__(f"{method} {url}: HTTP {status}: {message}")
        self.status = status
        self.message = message


class HTTPGaveUp(RuntimeError):
    """Every attempt failed; ``last`` is the last failure, ``timeout`` whether it was a timeout."""

    def __init__(self, message: str, last: str, timeout: bool):
        super().__init__(message)
        self.last = last
        self.timeout = timeout


@dataclass
class RequestStats:
    """HTTP requests sent, retries among them, calls that failed."""

    requests: int = 0
    retries: int = 0
    failures: int = 0


class _Retry(Exception):
    def __init__(self, message: str, *, timeout: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.timeout = timeout
        self.retry_after = retry_after


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    from urllib.parse import urlsplit

    from envgym.remote.policy import is_loopback as is_loopback_host

    return is_loopback_host(urlsplit(url).hostname or "")


class OpenAICompatibleClient:
    """See the module docstring.  ``base_url`` ends in ``/v1`` (``http://127.0.0.1:8000/v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 16,
    ):
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_concurrency = int(max_concurrency)
        self.stats = RequestStats()
        self._clients: dict[int, tuple[Any, asyncio.Semaphore, asyncio.AbstractEventLoop]] = {}

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before ``attempt`` (1 = the first retry)."""
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return delay if retry_after is None else min(self.max_backoff, max(delay, retry_after))

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      counters: tuple[Any, ...] = ()) -> dict[str, Any]:
        """One JSON call with retries; the reply's JSON object."""
        counters = (self.stats, *counters)
        last: _Retry | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                _count(counters, "retries")
                await asyncio.sleep(self.delay(attempt, last.retry_after if last is not None else None))
            try:
                return await self._attempt(method, path, body, counters)
            except _Retry as retry:
                last = retry
        _count(counters, "failures")
        raise HTTPGaveUp(f"{method} {self.base_url}{path} failed after {self.max_retries + 1} attempts: {last}",
                         str(last), bool(last is not None and last.timeout))

    async def _attempt(self, method: str, path: str, body: dict[str, Any] | None, counters: tuple[Any, ...]) -> dict[str, Any]:
        import httpx

        client, semaphore = self._client()
        try:
            async with semaphore:
                _count(counters, "requests")
                response = await client.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out after {self.timeout} s ({type(exc).__name__})", timeout=True) from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed: {type(exc).__name__}: {exc}") from None
        if response.status_code in RETRY_STATUSES:
            raise _Retry(f"HTTP {response.status_code}: {error_message(response)}",
                         retry_after=as_float(response.headers.get("retry-after")))
        if response.status_code >= 400:
            raise HTTPRejected(method, f"{self.base_url}{path}", response.status_code, error_message(response))
        try:
            data = response.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _Retry(f"reply is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _Retry(f"reply is not a JSON object: {str(data)[:100]}")
        return data

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
                trust_env=not is_loopback(self.base_url),  # a proxy from the environment never serves loopback
            )
            entry = (client, asyncio.Semaphore(self.max_concurrency), loop)
            self._clients[id(loop)] = entry
        return entry[0], entry[1]

    async def aclose(self) -> None:
        """Close the connection pool of the running loop."""
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[0].aclose()


def _count(counters: tuple[Any, ...], name: str) -> None:
    for counter in counters:
        setattr(counter, name, getattr(counter, name) + 1)


def error_message(response: Any) -> str:
    """The human-readable error of an HTTP reply: OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``, else the start of the body."""
    try:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("message", error))
        if isinstance(data, dict) and "detail" in data:
            return str(data["detail"])
        return str(data)[:300]
    except Exception:  # noqa: BLE001 - any unreadable body: show its start
        return response.text[:300]


def as_float(value: Any) -> float | None:
    """``float(value)``, or ``None`` for ``None`` and unparsable values."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
