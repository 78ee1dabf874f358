"""The env server: one registered env served over WebSocket, one env instance per session.

>>> app = create_app("envgym/Maze-v0")                  # an ASGI app (Starlette) # doctest: +SKIP
>>> serve("envgym/Maze-v0", port=8000)                  # blocking, uvicorn       # doctest: +SKIP

Routes:

* ``WS /ws`` — one connection = one session = one env instance; protocol in :mod:`envgym.remote.protocol`.
* ``GET /health`` — ``{"status": "ok", "sessions": n, "busy": k, ...}``; never needs the token, so
  container health checks can poll it; it stays responsive while envs work (envs run off the loop).
* ``GET /schema`` — JSON schemas of the protocol messages and a description of actions/observations.
* ``GET /metadata`` — env id, description, tags, envgym and protocol versions.

How sessions run: every session owns a single-thread executor; everything a request does with the
env — building it, ``reset``/``step``/state calls, encoding the reply — runs on that thread, so the
env only ever sees one thread and a slow env never blocks the event loop, ``/health`` or other
sessions.  Requests of one session are handled in order, one at a time.

Limits: at most ``max_sessions`` sessions (the next one gets ``capacity_reached`` and close code
1013); sessions idle (no request in flight) longer than ``idle_timeout_s`` are reaped — their env is
closed, then they get ``session_expired`` and close code 4001; requests above ``max_message_bytes``
characters get ``message_too_large`` (the session stays usable; frames above twice that limit are
cut by the transport with close code 1009).  With ``token`` set, ``/ws``, ``/schema`` and
``/metadata`` need ``Authorization: Bearer <token>`` (or ``?token=<token>``); a bad handshake gets
HTTP 401 and never reaches the env.

Policy (:class:`~envgym.remote.policy.SessionPolicy`, the operator's): env kwargs from clients are
refused unless allow-listed one by one, tasks whose reward is code unless allowed, and any request
carrying a browser ``Origin`` unless that origin is allowed (403, :mod:`envgym.remote.guards`, for
every route); a server bound beyond loopback must have a token.  Connections that do not complete a
request within ``handshake_timeout_s`` are closed; a malformed frame gets a typed ``error`` reply.

An env that raises produces an ``env_exception`` error reply (exception type, message, traceback) —
``env_infra_error`` when it raised :class:`envgym.InfraError`; the session and its env stay usable,
and the client decides whether to ``reset``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import itertools
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import envgym
from envgym.errors import Forbidden, InfraError
from envgym.observation import OBSERVATION_KEYS
from envgym.remote.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_NESTING,
    PROTOCOL_VERSION,
    REQUEST_ADAPTER,
    REQUEST_TYPES,
    CloseCode,
    ErrorCode,
    decode_values,
    dumps,
    message_schemas,
    nesting_exceeds,
    parse,
)
from envgym.remote.guards import OriginGuard, handshake_deadline_protocol
from envgym.remote.policy import SessionPolicy, check_bind

logger = logging.getLogger(__name__)

#: The uvicorn WebSocket implementation the server uses (least CPU per message measured with
#: bench/remote.py); ``$ENVGYM_UVICORN_WS`` overrides it ("websockets", "websockets-sansio", "wsproto").
WS_IMPLEMENTATION = os.environ.get("ENVGYM_UVICORN_WS") or "websockets-sansio"


def transport_limit(max_message_bytes: int) -> int:
    """Frame size the transport accepts: above the app cap, so the app can answer ``message_too_large``."""
    return 2 * max_message_bytes + 65536


def error_reply(
    request_id: Any, code: str, message: str, **extra: Any
) -> str:
    """An ``error`` reply as JSON text."""
    reply = {"type": "error", "id": request_id, "code": code, "message": message}
    reply.update({k: v for k, v in extra.items() if v is not None})
    return dumps(reply)


def _env_exception_reply(request_id: Any, exc: BaseException) -> str:
    """``env_exception``, or ``env_infra_error`` for an env's own infrastructure failure."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return error_reply(
        request_id,
        ErrorCode.ENV_INFRA_ERROR if isinstance(exc, InfraError) else ErrorCode.ENV_EXCEPTION,
        str(exc) or type(exc).__name__,
        exc_type=type(exc).__name__,
        exc_module=type(exc).__module__,
        traceback=tb[-8000:],
    )


class _SessionWorker:
    """The one thread that runs a session's env calls: a single-thread executor that hands results
    straight to an asyncio future (half the CPU of ``ThreadPoolExecutor`` + ``wrap_future``).
    ``prelude`` runs first (a spare env's build, before any event loop may exist: ``adopt`` names the
    loop later)."""

    __slots__ = ("_loop", "_prelude", "_queue", "_stopped", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop | None, name: str, prelude: Any = None):
        self._loop = loop
        self._prelude = prelude
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def adopt(self, loop: asyncio.AbstractEventLoop) -> _SessionWorker:
        """Hand results to ``loop`` from now on."""
        self._loop = loop
        return self

    def submit(self, fn: Any, *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` on the session thread; the future holds its result or exception."""
        if self._stopped:
            raise RuntimeError("session worker is stopped")
        future = self._loop.create_future()
        self._queue.put((future, fn, args))
        return future

    def call_on_loop(self, fn: Any) -> None:
        """Run ``fn()`` on the event loop (from this thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
            self._loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        """Let the thread exit once the work already queued is done."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)

    def _run(self) -> None:
        if self._prelude is not None:
            self._prelude()
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            future, fn, args = item
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine
                _hand_over(self._loop, _set_exception, future, exc)
            else:
                _hand_over(self._loop, _set_result, future, result)


class _SpareEnv:
    """An env built ahead of demand with the server's kwargs, on the thread (``worker``) that will
    serve the session that takes it, so the env only ever sees that one thread.  ``env`` is ``None``
    until it is built, or when building it failed (the session then builds its own and reports why)."""

    __slots__ = ("env", "worker")

    def __init__(self, build: Any, name: str):
        self.env: Any = None
        self.worker = _SessionWorker(None, name, prelude=lambda: self._build(build))

    def _build(self, build: Any) -> None:
        try:
            self.env = build()
        except Exception:  # noqa: BLE001 - the session that takes it builds its own env and sees why
            logger.warning("building a spare env failed", exc_info=True)

    def close_env(self) -> None:
        """Close the env (on its thread) when no session used it."""
        env, self.env = self.env, None
        if env is not None:
            with contextlib.suppress(Exception):
                env.close()


def _hand_over(loop: asyncio.AbstractEventLoop, setter: Any, future: asyncio.Future, value: Any) -> None:
    try:
        loop.call_soon_threadsafe(setter, future, value)
    except RuntimeError:  # the loop is closed: the server is gone, nobody is waiting
        pass


def _set_result(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _Session:
    """One connection's state.  ``env`` is touched only on ``worker``'s thread."""

    __slots__ = ("session_id", "websocket", "worker", "env", "last_active", "busy", "expired", "env_closed", "protocol",
                 "spare", "refill")

    def __init__(self, session_id: str, websocket: Any, worker: _SessionWorker | None, protocol: Any = None):
        self.session_id = session_id
        self.websocket = websocket
        self.worker = worker
        self.env: Any = None
        self.last_active = time.monotonic()
        self.busy = False
        self.expired = False
        self.env_closed = False
        #: Another protocol spoken on this session (``handle(session, text)`` and ``error_text(code,
        #: message)``, e.g. :class:`envgym.interop.openenv_server.OpenEnvSession`); ``None``: envgym's.
        self.protocol = protocol
        #: The spare env this session's thread built, until the session's env is made.
        self.spare: _SpareEnv | None = None
        #: Whether the server owes a new spare for the one this session took (built after its first reset).
        self.refill = False

    def error_text(self, code: str, message: str) -> str:
        """A session-level error (capacity, expiry, size) in this session's protocol."""
        if self.protocol is not None:
            return self.protocol.error_text(code, message)
        return error_reply(None, code, message)


class EnvServer:
    """The state behind one app: the env id, settings, and the live sessions.

    ``spare_envs``: envs kept built ahead of demand with the server's kwargs (a session whose
    ``make`` asks for nothing else gets one without waiting for its construction — a desktop's X
    display, a browser); a session's spare is replaced after that session's first reset, when the env
    usually waits for its agent."""

    def __init__(
        self,
        env_id: str,
        *,
        max_sessions: int = 256,
        token: str | None = None,
        idle_timeout_s: float = 600.0,
        env_kwargs: dict[str, Any] | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        policy: SessionPolicy | None = None,
        handshake_timeout_s: float = 10.0,
        spare_envs: int = 0,
    ):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        if not 0 < idle_timeout_s < float("inf"):
            raise ValueError(f"idle_timeout_s must be a positive number of seconds, got {idle_timeout_s}")
        if not 0 < handshake_timeout_s <= 300:
            raise ValueError(f"handshake_timeout_s must lie in (0, 300], got {handshake_timeout_s}")
        self.env_spec = envgym.spec(env_id)  # fail fast on an unknown id
        self.env_id = env_id
        self.max_sessions = int(max_sessions)
        self.token = token or None
        self.idle_timeout_s = float(idle_timeout_s)
        self.env_kwargs = dict(env_kwargs or {})
        self.max_message_bytes = int(max_message_bytes)
        self.policy = policy or SessionPolicy()
        self.handshake_timeout_s = float(handshake_timeout_s)
        self.sessions: dict[str, _Session] = {}
        self.started_at = time.time()
        self.total_sessions = 0
        self.reaped_sessions = 0
        self.refused_sessions = 0
        self._counter = itertools.count(1)
        self._schema_tools: Any = None
        self._tasks: set[asyncio.Task] = set()
        self.spare_envs = int(spare_envs)
        self._spares: collections.deque[_SpareEnv] = collections.deque()
        self._refill_spares()

    # ------------------------------------------------------------------ auth
    def authorized(self, headers: Any, query_params: Any) -> bool:
        if self.token is None:
            return True
        expected = self.token.encode()
        header = headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return True
        query = query_params.get("token")
        return query is not None and hmac.compare_digest(query.encode(), expected)

    # ------------------------------------------------------------------ request handling (session thread)
    def handle(self, session: _Session, text: str) -> tuple[str, bool]:
        """Handle one request on the session's thread: ``(reply_text, close_session_after)``.  Never
        raises: whatever a client sends gets a typed ``error`` reply and the session goes on."""
        try:
            request = self._parse_request(text)
            if isinstance(request, str):
                return request, False
        except Exception:  # noqa: BLE001 - a bug in the server's own parsing must not drop the session
            logger.exception("parsing a request failed")
            return error_reply(None, ErrorCode.INTERNAL_ERROR, "the server failed to read this message"), False
        try:
            return self._dispatch(session, request)
        except Forbidden as exc:
            return error_reply(request.id, ErrorCode.FORBIDDEN, str(exc)), False
        except Exception as exc:  # the env raised (a server bug would be caught the same way)
            logger.debug("env %s raised in session %s", self.env_id, session.session_id, exc_info=True)
            return _env_exception_reply(request.id, exc), False

    def _parse_request(self, text: str) -> Any:
        """The validated request, or the text of the ``error`` reply that refuses it."""
        try:
            raw = parse(text)
        except ValueError as exc:
            return error_reply(None, ErrorCode.INVALID_JSON, f"message is not valid JSON: {exc}")
        if not isinstance(raw, dict):
            return error_reply(None, ErrorCode.VALIDATION_ERROR, f"message must be a JSON object, got {type(raw).__name__}")
        request_id = raw.get("id")
        if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
            request_id = None
        kind = raw.get("type")
        if kind is None:
            return error_reply(request_id, ErrorCode.VALIDATION_ERROR, "message needs a 'type'")
        if not isinstance(kind, str) or kind not in REQUEST_TYPES:
            known = ", ".join(sorted(REQUEST_TYPES))
            return error_reply(request_id, ErrorCode.UNKNOWN_TYPE, f"unknown message type {str(kind)[:100]!r}; known: {known}")
        if nesting_exceeds(raw, MAX_NESTING):
            return error_reply(request_id, ErrorCode.VALIDATION_ERROR, f"message nests deeper than {MAX_NESTING} levels")
        try:
            return REQUEST_ADAPTER.validate_python(decode_values(raw))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or kind}: {e['msg']}" for e in errors)
            return error_reply(request_id, ErrorCode.VALIDATION_ERROR, f"invalid {kind!r} message: {summary}", errors=errors)
        except (ValueError, TypeError) as exc:  # a malformed {"$bytes": ...}
            return error_reply(request_id, ErrorCode.VALIDATION_ERROR, f"invalid {kind!r} message: bad $bytes value ({exc})")

    def _dispatch(self, session: _Session, request: Any) -> tuple[str, bool]:
        """The reply to one request and whether the session ends with it."""
        kind = request.type
        rid = request.id
        if kind == "ping":
            return dumps({"type": "pong", "id": rid, "server_time": time.time()}), False
        if kind == "close":
            self.close_env(session)
            return dumps({"type": "closed", "id": rid}), True
        if kind == "make":
            return self._make(session, request), False
        handler = _ENV_REQUESTS.get(kind)
        if handler is None:  # pragma: no cover - the protocol parser admits no other type
            raise AssertionError(f"unhandled request type {kind!r}")
        env = session.env if session.env is not None else self._make_env(session, {})
        reply = dumps({"type": kind, "id": rid, **handler(env, request)})
        if kind == "reset" and session.refill:
            session.refill = False
            session.worker.call_on_loop(self._refill_spares)
        return reply, False

    def _make(self, session: _Session, request: Any) -> str:
        """``make``: the session's first request builds its env with the client's (allowed) kwargs."""
        rid = request.id
        if session.env is not None:
            return error_reply(rid, ErrorCode.VALIDATION_ERROR, "'make' must be the session's first request; the env already exists")
        if request.env_id is not None and request.env_id != self.env_id:
            return error_reply(rid, ErrorCode.VALIDATION_ERROR, f"this server serves {self.env_id!r}, not {request.env_id!r}")
        problem = self.policy.kwargs_problem(request.kwargs)
        if problem:
            return error_reply(rid, ErrorCode.FORBIDDEN, problem)
        env = self._make_env(session, request.kwargs)
        return dumps(self._made_reply(session, env, rid))

    def make_session_env(self, session: _Session) -> Any:
        """Build the session's env with the server's kwargs (on the session thread)."""
        return self._make_env(session, {})

    def _make_env(self, session: _Session, kwargs: dict[str, Any]) -> Any:
        spare, session.spare = session.spare, None
        if spare is not None and spare.env is not None and {**self.env_kwargs, **kwargs} == self.env_kwargs:
            env, spare.env = spare.env, None
        else:
            if spare is not None:
                spare.close_env()
            env = self.new_env(kwargs)
        session.env = env
        return env

    def new_env(self, client_kwargs: dict[str, Any] | None = None) -> Any:
        """An env for a client: the server's kwargs under ``client_kwargs`` (which the caller has
        checked with ``policy.kwargs_problem``), marked with the policy (reward code of outside tasks)."""
        return self.policy.prepare_env(envgym.make(self.env_id, **{**self.env_kwargs, **(client_kwargs or {})}))

    def _made_reply(self, session: _Session, env: Any, rid: Any) -> dict[str, Any]:
        tool_names = list(getattr(env, "tool_names", lambda: [])())
        return {
            "type": "made",
            "id": rid,
            "env_id": self.env_id,
            "session_id": session.session_id,
            "tool_names": tool_names,
            "max_turns": getattr(env, "max_turns", None),
            "render_mode": getattr(env, "render_mode", None),
            "metadata": dict(getattr(env, "metadata", {}) or {}),
            "protocol_version": PROTOCOL_VERSION,
        }

    @staticmethod
    def close_env(session: _Session) -> None:
        """Close the session's env (on the session thread); safe to call twice."""
        if session.env_closed:
            return
        session.env_closed = True
        if session.spare is not None:
            session.spare.close_env()
            session.spare = None
        env, session.env = session.env, None
        if env is not None:
            try:
                env.close()
            except Exception:
                logger.warning("closing env of session %s raised", session.session_id, exc_info=True)

    # ------------------------------------------------------------------ sessions (event loop)
    async def run_session(self, websocket: Any, protocol: Any = None) -> None:
        """Serve one WebSocket connection until it closes; ``protocol``: see :attr:`_Session.protocol`."""
        if not self.authorized(websocket.headers, websocket.query_params):
            self.refused_sessions += 1
            await _deny(websocket, 401, ErrorCode.UNAUTHORIZED, "missing or wrong bearer token")
            return
        session = self.open_session(websocket, protocol)
        if session is None:
            await websocket.accept()
            with contextlib.suppress(Exception):
                await websocket.send_text(_Session("", websocket, None, protocol).error_text(
                    ErrorCode.CAPACITY_REACHED,
                    f"server holds its maximum of {self.max_sessions} sessions; try again later",
                ))
                await websocket.close(code=CloseCode.TRY_AGAIN_LATER, reason="capacity reached")
            return
        close_normally = False
        try:
            await websocket.accept()
            close_normally = await self._serve_requests(session)
        except Exception:  # the connection broke mid-send; nothing to tell the client
            logger.debug("session %s ended by a connection error", session.session_id, exc_info=True)
        finally:
            await self.close_session(session)
            if close_normally:
                with contextlib.suppress(Exception):
                    await websocket.close(code=CloseCode.NORMAL)

    def open_session(self, websocket: Any, protocol: Any = None) -> _Session | None:
        """Register a new session with its own thread; ``None`` when the server is full."""
        if len(self.sessions) >= self.max_sessions:
            self.refused_sessions += 1
            return None
        loop = asyncio.get_running_loop()
        spare = self._spares.popleft() if self._spares else None
        worker = spare.worker.adopt(loop) if spare is not None else _SessionWorker(loop, f"envgym-session-{next(self._counter)}")
        session = _Session(uuid.uuid4().hex, websocket, worker, protocol)
        session.spare, session.refill = spare, spare is not None
        self.sessions[session.session_id] = session  # registered before any await: the cap is exact
        self.total_sessions += 1
        return session

    def _refill_spares(self) -> None:
        """Start building spare envs until ``spare_envs`` are built or being built."""
        while len(self._spares) < self.spare_envs:
            self._spares.append(_SpareEnv(self.new_env, f"envgym-session-{next(self._counter)}"))

    async def close_session(self, session: _Session) -> None:
        """Unregister a session, close its env on its thread and let the thread end (idempotent)."""
        if self.sessions.pop(session.session_id, None) is None:
            return
        with contextlib.suppress(RuntimeError):
            session.worker.submit(self.close_env, session)
        session.worker.stop()
        if session.refill:  # it never reset: its spare is replaced now
            session.refill = False
            self._refill_spares()

    async def _serve_requests(self, session: _Session) -> bool:
        """The request loop; True when the client asked to close (the server closes the socket)."""
        websocket = session.websocket
        receive = websocket.receive
        send = websocket.send
        submit = session.worker.submit
        handle = self.handle if session.protocol is None else session.protocol.handle
        limit = self.max_message_bytes
        while True:
            session.busy = False
            session.last_active = time.monotonic()
            message = await receive()
            session.busy = True
            if message["type"] == "websocket.disconnect":
                return False
            if session.expired:
                await websocket.send_text(session.error_text(ErrorCode.SESSION_EXPIRED, "session expired"))
                return False
            text = message.get("text")
            if text is None:
                reply = session.error_text(ErrorCode.INVALID_JSON, "binary frames are not accepted; send JSON as text frames")
                close_after = False
            elif len(text) > limit:
                reply = session.error_text(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"message of {len(text)} characters exceeds the limit of {limit}",
                )
                close_after = False
            else:
                try:
                    reply, close_after = await submit(handle, session, text)
                except Exception:  # a protocol handler's bug: answer it, keep the session
                    logger.exception("session %s: the request handler raised", session.session_id)
                    reply, close_after = session.error_text(ErrorCode.INTERNAL_ERROR, "the server failed on this message"), False
            if reply is not None:
                await send({"type": "websocket.send", "text": reply})
            if close_after:
                return True

    async def reap_idle(self) -> None:
        """Close sessions idle longer than ``idle_timeout_s`` (runs for the app's lifetime)."""
        interval = max(0.02, min(self.idle_timeout_s / 4.0, 5.0))
        while True:
            await asyncio.sleep(interval)
            deadline = time.monotonic() - self.idle_timeout_s
            for session in list(self.sessions.values()):
                if session.busy or session.expired or session.last_active > deadline:
                    continue
                session.expired = True
                self.reaped_sessions += 1
                task = asyncio.get_running_loop().create_task(self._expire(session))
                self._tasks.add(task)  # a reference, so the task is not garbage-collected mid-run
                task.add_done_callback(self._tasks.discard)

    async def _expire(self, session: _Session) -> None:
        with contextlib.suppress(Exception):
            await session.worker.submit(self.close_env, session)
        with contextlib.suppress(Exception):
            await session.websocket.send_text(session.error_text(
                ErrorCode.SESSION_EXPIRED,
                f"session idle for more than {self.idle_timeout_s:g} s; its env was closed",
            ))
            await session.websocket.close(code=CloseCode.SESSION_EXPIRED, reason="session expired")

    async def shutdown(self) -> None:
        """Close every remaining env, spares too (server shutdown)."""
        futures = []
        self.spare_envs = 0
        while self._spares:
            spare = self._spares.popleft()
            futures.append(spare.worker.adopt(asyncio.get_running_loop()).submit(spare.close_env))
            spare.worker.stop()
        for session in list(self.sessions.values()):
            with contextlib.suppress(RuntimeError):
                futures.append(session.worker.submit(self.close_env, session))
        if futures:
            await asyncio.wait(futures, timeout=5.0)

    # ------------------------------------------------------------------ HTTP views
    def health(self) -> dict[str, Any]:
        sessions = list(self.sessions.values())
        return {
            "status": "ok",
            "env_id": self.env_id,
            "sessions": len(sessions),
            "busy": sum(1 for s in sessions if s.busy),
            "max_sessions": self.max_sessions,
            "total_sessions": self.total_sessions,
            "reaped_sessions": self.reaped_sessions,
            "refused_sessions": self.refused_sessions,
            "uptime_s": round(time.time() - self.started_at, 3),
            "protocol_version": PROTOCOL_VERSION,
        }

    def metadata(self) -> dict[str, Any]:
        spec = self.env_spec
        return {
            "env_id": self.env_id,
            "description": spec.description,
            "tags": list(spec.tags),
            "max_turns": spec.max_turns,
            "image": spec.image,
            "extras": list(spec.extras),
            "envgym_version": getattr(envgym, "__version__", "unknown"),
            "protocol_version": PROTOCOL_VERSION,
            "max_sessions": self.max_sessions,
            "idle_timeout_s": self.idle_timeout_s,
            "max_message_bytes": self.max_message_bytes,
            "policy": self.policy.describe(),
        }

    async def schema(self) -> dict[str, Any]:
        if self._schema_tools is None:
            self._schema_tools = await asyncio.get_running_loop().run_in_executor(None, self._probe_tools)
        return {
            "env_id": self.env_id,
            "protocol_version": PROTOCOL_VERSION,
            "error_codes": list(ErrorCode.ALL),
            "close_codes": {k: v for k, v in vars(CloseCode).items() if k.isupper()},
            **message_schemas(),
            "action": _action_schema(self._schema_tools.get("tool_names")),
            "observation": _observation_schema(),
            "state": self._schema_tools.get("state_schema"),
            **({"probe_error": self._schema_tools["error"]} if "error" in self._schema_tools else {}),
        }

    def _probe_tools(self) -> dict[str, Any]:
        try:
            env = envgym.make(self.env_id, **self.env_kwargs)
        except Exception as exc:
            return {"tool_names": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            schema = getattr(env, "state_schema", lambda: None)()
            return {"tool_names": list(env.tool_names()), "state_schema": schema}
        finally:
            with contextlib.suppress(Exception):
                env.close()


async def _deny(websocket: Any, status: int, code: str, message: str) -> None:
    """Refuse a handshake: HTTP ``status`` where the server supports it, else close code 1008."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = {"type": "error", "id": None, "code": code, "message": message}
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:  # pragma: no cover - every uvicorn protocol implements the denial extension
        await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=message)


def _step(env: Any, request: Any) -> dict[str, Any]:
    obs, reward, terminated, truncated, info = env.step(request.action)
    return {"obs": obs, "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated), "info": info}


def _reset(env: Any, request: Any) -> dict[str, Any]:
    obs, info = env.reset(seed=request.seed, options=request.options)
    return {"obs": obs, "info": info}


def _set_state(env: Any, request: Any) -> dict[str, Any]:
    env.set_state(request.state)
    return {}


#: request type -> the env call it makes, returning the reply's fields (beside ``type`` and ``id``)
_ENV_REQUESTS: dict[str, Any] = {
    "step": _step,
    "reset": _reset,
    "state": lambda env, request: {"state": env.get_state()},
    "set_state": _set_state,
    "render": lambda env, request: {"frame": env.render()},
    "observe": lambda env, request: {"obs": env.observe()},
    "load_state": lambda env, request: {"obs": env.load_state(request.state, request.task)},
    "oracle_action": lambda env, request: {"action": env.oracle_action()},
}


def _action_schema(tool_names: list[str] | None) -> dict[str, Any]:
    return {
        "description": "text (free form or a function-call string such as click(\"12\")), or a tool call",
        "oneOf": [
            {"type": "string", "maxLength": 100_000},
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", **({"enum": tool_names} if tool_names else {})},
                    "arguments": {"oneOf": [{"type": "object"}, {"type": "string"}]},
                },
                "required": ["name"],
            },
        ],
        "tool_names": tool_names,
    }


_JSON_TYPES = {str: "string", list: "array", dict: "object", int: "integer", float: "number", bool: "boolean"}


def _observation_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, expected in OBSERVATION_KEYS.items():
        types = expected if isinstance(expected, tuple) else (expected,)
        if bytes in types:
            properties[key] = {
                "type": "object",
                "properties": {"$bytes": {"type": "string", "contentEncoding": "base64"}},
                "required": ["$bytes"],
                "description": "bytes (PNG/JPEG), base64-encoded",
            }
        else:
            properties[key] = {"type": _JSON_TYPES.get(types[0], "object")}
    return {
        "type": "object",
        "required": ["text"],
        "properties": properties,
        "additionalProperties": True,
        "description": "see envgym.observation; bytes anywhere travel as {\"$bytes\": base64}",
    }


def create_app(
    env_id: str,
    *,
    max_sessions: int = 256,
    token: str | None = None,
    idle_timeout_s: float = 600.0,
    env_kwargs: dict | None = None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    policy: SessionPolicy | None = None,
    handshake_timeout_s: float = 10.0,
    openenv_prefix: str | None = "/openenv",
    spare_envs: int = 0,
) -> Any:
    """A Starlette (ASGI) app serving ``env_id`` (see the module docstring).  ``app.state.env_server`` holds
    the :class:`EnvServer`.  Run it with :func:`serve`, or any ASGI server with a WebSocket frame limit
    of :func:`transport_limit` ``(max_message_bytes)``.  OpenEnv's protocol is served under
    ``openenv_prefix`` too (:mod:`envgym.interop.openenv`; ``None``: not at all).  ``policy``: what
    clients may do (:class:`~envgym.remote.policy.SessionPolicy`; default: no client kwargs, no
    tasks with reward code, no browser origins).  ``spare_envs``: envs kept built ahead of demand
    (:class:`EnvServer`)."""
    server = EnvServer(
        env_id,
        max_sessions=max_sessions,
        token=token,
        idle_timeout_s=idle_timeout_s,
        env_kwargs=env_kwargs,
        max_message_bytes=max_message_bytes,
        policy=policy,
        handshake_timeout_s=handshake_timeout_s,
        spare_envs=spare_envs,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reaper = asyncio.get_running_loop().create_task(server.reap_idle())
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await server.shutdown()

    def _unauthorized() -> JSONResponse:
        return JSONResponse(
            {"type": "error", "id": None, "code": ErrorCode.UNAUTHORIZED, "message": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(server.health())

    async def metadata(request: Request) -> JSONResponse:
        if not server.authorized(request.headers, request.query_params):
            return _unauthorized()
        return JSONResponse(server.metadata())

    async def schema(request: Request) -> JSONResponse:
        if not server.authorized(request.headers, request.query_params):
            return _unauthorized()
        return JSONResponse(await server.schema())

    async def websocket_endpoint(websocket: WebSocket) -> None:
        await server.run_session(websocket)

    # Starlette, not FastAPI: the routes need no request models, and an env server in a container
    # starts without FastAPI's imports (OpenEnv's routes bring it along when mounted).
    app = Starlette(routes=[
        Route("/health", health, methods=["GET"]), Route("/metadata", metadata, methods=["GET"]),
        Route("/schema", schema, methods=["GET"]), WebSocketRoute("/ws", websocket_endpoint),
    ], lifespan=lifespan)
    app.state.env_server = server
    app.add_middleware(OriginGuard, policy=server.policy)
    app.state.origin_guarded = True

    if openenv_prefix is not None:
        from envgym.interop.openenv_server import mount_openenv

        mount_openenv(app, prefix=openenv_prefix)
    return app


def uvicorn_config(
    app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning"
) -> Any:
    """The uvicorn configuration the server runs with (frame limit, no compression, keepalive pings)."""
    import uvicorn

    _quiet_denial_log()
    server: EnvServer = app.state.env_server
    if not getattr(app.state, "origin_guarded", False):  # an app of another route set (OpenEnv at the root)
        app = OriginGuard(app, server.policy)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=handshake_deadline_protocol(server.handshake_timeout_s),
        ws=_ws_protocol(),
        ws_max_size=transport_limit(server.max_message_bytes),
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        lifespan="on",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=5,
    )


def _ws_protocol() -> Any:
    """uvicorn's WebSocket protocol, tuned: the stock websockets-sansio protocol stops reading the
    socket after *every* message and resumes when the app takes it (two ``epoll_ctl`` syscalls per
    request); this one stops only when a message is already waiting, which keeps back-pressure
    (at most two unread messages per connection) at a fraction of the cost."""
    if WS_IMPLEMENTATION != "websockets-sansio":
        return WS_IMPLEMENTATION
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - older uvicorn
        return WS_IMPLEMENTATION
    global _TUNED_PROTOCOL
    if _TUNED_PROTOCOL is None:
        if not hasattr(WebSocketsSansIOProtocol, "send_receive_event_to_app"):  # pragma: no cover
            return WS_IMPLEMENTATION

        class TunedWebSocketsSansIOProtocol(WebSocketsSansIOProtocol):
            def send_receive_event_to_app(self) -> None:
                if getattr(self, "read_paused", True) or self.queue.qsize() > 0:
                    super().send_receive_event_to_app()  # a backlog: pause reading as usual
                    return
                self.read_paused = True  # the parent sees "already paused" and leaves reading on
                try:
                    super().send_receive_event_to_app()
                finally:
                    self.read_paused = False

        _TUNED_PROTOCOL = TunedWebSocketsSansIOProtocol
    return _TUNED_PROTOCOL


_TUNED_PROTOCOL: Any = None


class _DenialLogFilter(logging.Filter):
    """Drop uvicorn's spurious error after a handshake refused with an HTTP response (401): its
    websockets-sansio protocol does not count a denial response as completing the handshake."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


def _quiet_denial_log() -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DenialLogFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_DenialLogFilter())


def build_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    on_started: Any = None,
) -> tuple[Any, Any]:
    """A ``(uvicorn.Server, bound socket)`` pair; ``port=0`` picks a free port (read it off the socket).

    ``on_started()`` is called once the server accepts connections.  Run it with
    ``server.run(sockets=[sock])``.
    """
    import uvicorn

    check_bind(host, app.state.env_server.token)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if on_started is not None and not self.should_exit:
                on_started()

    config = uvicorn_config(app, host=host, port=port, log_level=log_level)
    sock = config.bind_socket()
    return _Server(config), sock


def serve(
    env_id: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_sessions: int = 256,
    token: str | None = None,
    idle_timeout_s: float = 600.0,
    env_kwargs: dict | None = None,
    log_level: str = "warning",
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    policy: SessionPolicy | None = None,
    on_ready: Any = None,
    openenv_root: bool = False,
    openenv: bool = True,
    spare_envs: int = 0,
) -> None:
    """Serve ``env_id`` until interrupted (blocking).  Binds 127.0.0.1 unless told otherwise.

    ``on_ready(url)`` is called once the server accepts connections (``port=0`` picks a free port).
    OpenEnv's protocol is served under ``/openenv``, or at the root with ``openenv_root`` (envgym's
    then under ``/envgym``: :func:`envgym.interop.openenv_server.openenv_at_root`), or not at all
    without ``openenv``.  ``spare_envs``: envs kept built ahead of demand (:class:`EnvServer`).
    """
    check_bind(host, token)
    settings = {"max_sessions": max_sessions, "token": token, "idle_timeout_s": idle_timeout_s, "env_kwargs": env_kwargs,
                "max_message_bytes": max_message_bytes, "policy": policy, "spare_envs": spare_envs}
    app = create_app(env_id, openenv_prefix="/openenv" if openenv and not openenv_root else None, **settings)
    if openenv_root:
        from envgym.interop.openenv_server import openenv_at_root

        app = openenv_at_root(app)
    sock_box: list[Any] = []

    def started() -> None:
        if on_ready is not None:
            bound_host, bound_port = sock_box[0].getsockname()[:2]
            on_ready(f"http://{_url_host(bound_host)}:{bound_port}")

    server, sock = build_server(app, host=host, port=port, log_level=log_level, on_started=started)
    sock_box.append(sock)
    server.run(sockets=[sock])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
