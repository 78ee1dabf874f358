"""Transport guards of the env server, below every route (envgym's, OpenEnv's, plain HTTP):

* :class:`OriginGuard` — an ASGI middleware refusing any HTTP request or WebSocket handshake whose
  ``Origin`` header the :class:`~envgym.remote.policy.SessionPolicy` does not allow: 403, before any
  route, env or session exists (a web page — the agent's own browser included — cannot drive the
  server, not even blind POSTs);
* :func:`handshake_deadline_protocol` — uvicorn's HTTP protocol with a deadline: a connection that
  has not sent a complete request (headers and body) within ``timeout_s`` of connecting, or of its
  last response, is closed (half-open handshakes and slow-header clients hold no socket forever).
  After a WebSocket upgrade the session's own idle reaping takes over.
"""

from __future__ import annotations

import json
from typing import Any

from envgym.remote.policy import SessionPolicy
from envgym.remote.protocol import ErrorCode


class OriginGuard:
    """ASGI middleware: refuse requests from origins the policy does not allow (see module docstring)."""

    def __init__(self, app: Any, policy: SessionPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            origin = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"origin"), None)
            problem = self.policy.origin_problem(origin)
            if problem is not None:
                await _refuse(scope, receive, send, problem)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, message: str) -> None:
    body = json.dumps({"type": "error", "id": None, "code": ErrorCode.FORBIDDEN, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # pragma: no cover - every uvicorn protocol implements the denial extension
        await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})


def handshake_deadline_protocol(timeout_s: float) -> type:
    """uvicorn's HTTP protocol class (httptools when installed, else h11) with the deadline above."""
    try:
        import httptools  # noqa: F401

        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class DeadlineProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            self._deadline_cycle = self.cycle
            self.loop.call_later(timeout_s, self._deadline)

        def _deadline(self) -> None:
            transport = self.transport
            if transport is None or transport.is_closing() or transport.get_protocol() is not self:
                return  # closed, or upgraded to a WebSocket
            cycle = self.cycle
            stalled = cycle is self._deadline_cycle or (
                cycle is not None and cycle.more_body and not cycle.response_started)
            if stalled:
                transport.close()

    return DeadlineProtocol
