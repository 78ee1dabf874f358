"""Clients of an env server: :class:`RemoteEnv` (a synchronous ``gymnasium.Env``) and
:class:`AsyncRemoteEnv` (``async`` methods, for many concurrent sessions on one event loop).

>>> env = RemoteEnv("http://127.0.0.1:8000", "envgym/Maze-v0")      # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                    # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step("north")    # doctest: +SKIP

``url`` may be ``http(s)://host:port`` (``/ws`` is appended) or a ``ws(s)://…`` URL used as is.

Failures are typed (see :mod:`envgym.remote.errors`): the remote env raising → :class:`RemoteEnvError`;
a refused request → :class:`ProtocolError`; a lost connection, dead server, reply timeout, full server,
reaped session, or the remote env raising ``InfraError`` itself → an :class:`envgym.InfraError`.  Dead peers are noticed within
``ping_interval_s + ping_timeout_s`` seconds by WebSocket keepalive pings even while a step is in
flight (a killed server on the same host is noticed at once, by the closed socket).

With ``raise_on_infra_error=False``, ``step`` does not raise on infrastructure failures: it returns a
final transition — reward ``0.0``, ``terminated=False``, ``truncated=True`` (the episode was cut, not
finished) and ``info["infra_error"]`` set — so :func:`envgym.agents.loop.run_episode` records
``episode.infra_error``.  ``reset`` always raises (there is no transition to return); after a lost
connection, ``reset`` reconnects and starts a fresh session.

The sync client uses ``websockets.sync`` (threads, no asyncio), so it works inside a running event
loop too (Jupyter).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import sys
import threading
import time
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gymnasium

from envgym.remote.errors import (
    CapacityReached,
    ConnectionLost,
    ProtocolError,
    RemoteEnvError,
    RemoteEnvInfraError,
    RemoteError,
    RemoteInfraError,
    SessionExpired,
    Unauthorized,
    error_from_reply,
)
from envgym.remote.protocol import CLIENT_MAX_MESSAGE_BYTES, CloseCode, dumps, loads
from envgym.spaces import ActionSpace, ObservationSpace

__all__ = [
    "AsyncRemoteEnv", "RemoteEnv", "make_remote", "websocket_url",
    "RemoteEnvError", "RemoteEnvInfraError", "ProtocolError", "ConnectionLost", "CapacityReached", "SessionExpired",
    "Unauthorized",
]

#: Options of :class:`RemoteEnv` (``make_remote`` passes every other keyword to the env constructor).
CLIENT_OPTIONS = frozenset({
    "connect_timeout_s", "step_timeout_s", "raise_on_infra_error", "ping_interval_s", "ping_timeout_s",
    "max_message_bytes", "env_kwargs",
})


def websocket_url(url: str) -> str:
    """The ``ws(s)://…/ws`` URL for a server URL: ``http://host:port`` → ``ws://host:port/ws``; a path
    is kept (``http://proxy/envs/maze`` → ``ws://proxy/envs/maze/ws``) and the query too."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"unsupported URL scheme in {url!r}; use http(s):// or ws(s)://")
    path = parts.path
    if not path.rstrip("/").endswith("/ws"):
        path = path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


#: Error codes after which the session is still usable (the server refused one request, or the env's
#: own infrastructure failed and the env may recover on ``reset``).
_RECOVERABLE = frozenset({"invalid_json", "unknown_type", "validation_error", "message_too_large", "env_infra_error"})


def _decode_reply(raw: Any, during: str) -> Any:
    try:
        return loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"server sent an unreadable reply to {during}: {exc}") from None


def _sync_connect_has_legacy() -> bool:
    import inspect

    from websockets.sync.client import connect

    return "legacy" in inspect.signature(connect).parameters


_SYNC_CONNECT_HAS_LEGACY = _sync_connect_has_legacy()


def _abort_sync(ws: Any) -> None:
    """Drop a sync connection at once (its reader thread ends; no closing handshake)."""
    if ws is None:
        return
    try:
        if hasattr(ws, "close_socket"):
            ws.close_socket()
        else:  # pragma: no cover - older websockets
            ws.socket.shutdown(2)
            ws.socket.close()
    except Exception:
        pass


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _closed_error(exc: BaseException, during: str) -> RemoteError:
    """The error a closed connection stands for, from its close code."""
    rcvd = getattr(exc, "rcvd", None)
    code = getattr(rcvd, "code", None)
    reason = getattr(rcvd, "reason", "") or ""
    if code == CloseCode.SESSION_EXPIRED:
        return SessionExpired(f"session expired ({reason or 'idle too long'}) during {during}")
    if code == CloseCode.TRY_AGAIN_LATER:
        return CapacityReached(f"server at capacity ({reason}) during {during}")
    if code == CloseCode.POLICY_VIOLATION:
        return Unauthorized(f"server refused the session ({reason or 'policy violation'})")
    if code == CloseCode.MESSAGE_TOO_BIG:
        return ProtocolError(f"message too large for the server ({reason})", code="message_too_large")
    detail = f"close code {code}" + (f": {reason}" if reason else "") if code is not None else str(exc) or "no close frame"
    return ConnectionLost(f"connection to the env server lost during {during} ({detail})")


def _connect_errors() -> tuple[type[BaseException], ...]:
    """What opening a WebSocket raises when the server refuses, is gone or drops the connection
    during the handshake (``ConnectionClosed``: a reset while the request was being sent)."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    return (InvalidHandshake, InvalidURI, ConnectionClosed, OSError, TimeoutError, asyncio.TimeoutError)


def _handshake_error(exc: BaseException, url: str) -> RemoteError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in (401, 403):
        return Unauthorized(f"env server at {url} refused the connection: HTTP {status} (missing or wrong token)")
    if status is not None:
        return ProtocolError(f"env server at {url} refused the WebSocket handshake: HTTP {status}", code="handshake_failed")
    return ConnectionLost(f"cannot connect to env server at {url}: {type(exc).__name__}: {exc}")


class _SessionMixin:
    """What both clients share: request building, reply checking and the ``make`` handshake."""

    url: str
    env_id: str | None
    raise_on_infra_error: bool

    def _init_common(
        self,
        url: str,
        env_id: str | None,
        token: str | None,
        env_kwargs: dict | None,
        connect_timeout_s: float,
        step_timeout_s: float | None,
        raise_on_infra_error: bool,
        ping_interval_s: float | None,
        ping_timeout_s: float | None,
        max_message_bytes: int | None,
    ) -> None:
        self.url = url
        self.ws_url = websocket_url(url)
        self.env_id = env_id
        self._token = token
        self.env_kwargs = dict(env_kwargs or {})
        self.connect_timeout_s = connect_timeout_s
        self.step_timeout_s = step_timeout_s
        self.raise_on_infra_error = raise_on_infra_error
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.max_message_bytes = max_message_bytes
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.tool_names: tuple[str, ...] = ()
        self.max_turns: int | None = None
        self._last_info: dict[str, Any] = {}
        self._broken: RemoteError | None = None
        self._closed = False

    @property
    def broken(self) -> bool:
        """Whether the session failed (lost connection, dead server): the next ``reset`` reconnects."""
        return self._broken is not None and not self._closed

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "additional_headers": _headers(self._token),
            "open_timeout": self.connect_timeout_s,
            "ping_interval": self.ping_interval_s,
            "ping_timeout": self.ping_timeout_s,
            "close_timeout": 1.0,
            "max_size": self.max_message_bytes,
            "compression": None,
            "proxy": None,
            "user_agent_header": "envgym-remote",
        }

    def _make_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"type": "make", "kwargs": self.env_kwargs}
        if self.env_id is not None:
            request["env_id"] = self.env_id
        return request

    def _apply_made(self, reply: dict[str, Any]) -> None:
        self.session_id = reply.get("session_id")
        self.env_id = self.env_id or reply.get("env_id")
        self.tool_names = tuple(reply.get("tool_names") or ())
        self.max_turns = reply.get("max_turns")

    def _check(self, reply: Any, request_id: int, during: str) -> dict[str, Any]:
        """The reply itself, or the exception an ``error`` reply stands for."""
        if not isinstance(reply, dict):
            raise ProtocolError(f"server sent a non-object reply to {during}: {reply!r:.200}")
        if reply.get("type") == "error":
            rid = reply.get("id")
            if rid is not None and rid != request_id:
                raise ProtocolError(f"reply id {rid!r} does not match request id {request_id} ({during})")
            raise error_from_reply(reply)
        if reply.get("id") != request_id:
            raise ProtocolError(f"reply id {reply.get('id')!r} does not match request id {request_id} ({during})")
        return reply

    def _infra_transition(self, error: BaseException) -> tuple[dict, float, bool, bool, dict]:
        message = f"{type(error).__name__}: {error}"
        info = {
            "infra_error": message,
            "success": False,
            "turn": self._last_info.get("turn"),
            "task_id": self._last_info.get("task_id"),
        }
        obs = {"text": f"The environment failed: {message}", "last_action_error": ""}
        return obs, 0.0, False, True, info

    @staticmethod
    def _step_result(reply: dict[str, Any]) -> tuple[dict, float, bool, bool, dict]:
        reward = reply.get("reward")
        return (
            reply["obs"],
            float("nan") if reward is None else float(reward),
            bool(reply["terminated"]),
            bool(reply["truncated"]),
            reply["info"],
        )


#: Sync sessions still open, closed at interpreter exit (see :func:`_close_open_sessions`).
_OPEN_SESSIONS: weakref.WeakSet = weakref.WeakSet()
_EXIT_HOOK_LOCK = threading.Lock()
_EXIT_HOOK_INSTALLED = False
#: How long the exit hook waits for the server to acknowledge each ``close``.
EXIT_CLOSE_TIMEOUT_S = 1.0


def _track_open_session(env: RemoteEnv) -> None:
    global _EXIT_HOOK_INSTALLED
    with _EXIT_HOOK_LOCK:
        _OPEN_SESSIONS.add(env)
        if not _EXIT_HOOK_INSTALLED:
            atexit.register(_close_open_sessions)
            _EXIT_HOOK_INSTALLED = True


def _close_open_sessions() -> None:
    """Close every session the program left open, while the connections' threads still run.

    ``atexit`` callbacks run before the interpreter freezes its daemon threads; a graceful websocket
    close joins the connection's reader thread, so it must happen here, never in ``__del__`` (a
    finaliser at shutdown would wait on a thread that can no longer run).  Each close waits at most
    :data:`EXIT_CLOSE_TIMEOUT_S` for the server, so a dead server cannot delay the exit."""
    for env in list(_OPEN_SESSIONS):
        try:
            env._close(EXIT_CLOSE_TIMEOUT_S)
        except Exception:
            pass


class RemoteEnv(_SessionMixin, gymnasium.Env):
    """A remote env as a synchronous ``gymnasium.Env`` (one WebSocket session).

    A session left open is closed when the program exits (an ``atexit`` hook), so scripts that never
    call ``close()`` still exit promptly and the server frees the session."""

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        url: str,
        env_id: str | None = None,
        *,
        token: str | None = None,
        env_kwargs: dict | None = None,
        connect_timeout_s: float = 10.0,
        step_timeout_s: float | None = 300.0,
        raise_on_infra_error: bool = True,
        ping_interval_s: float | None = 2.0,
        ping_timeout_s: float | None = 3.0,
        max_message_bytes: int | None = CLIENT_MAX_MESSAGE_BYTES,
        render_mode: str | None = None,
    ):
        env_kwargs = dict(env_kwargs or {})
        if render_mode is not None:
            env_kwargs["render_mode"] = render_mode
        self._init_common(
            url, env_id, token, env_kwargs, connect_timeout_s, step_timeout_s, raise_on_infra_error,
            ping_interval_s, ping_timeout_s, max_message_bytes,
        )
        self._ws: Any = None
        self.render_mode = render_mode
        self.observation_space = ObservationSpace()
        self.action_space = ActionSpace()
        self._connect()

    # ------------------------------------------------------------------ connection
    def _connect(self) -> None:
        from websockets.sync.client import connect

        kwargs = self._connect_kwargs()
        if _SYNC_CONNECT_HAS_LEGACY:
            kwargs["legacy"] = True  # websockets >= 17.1: a plain connection, closed by us
        try:
            self._ws = connect(self.ws_url, **kwargs)
        except _connect_errors() as exc:
            raise _handshake_error(exc, self.url) from exc
        self._broken = None
        try:
            reply = self._request(self._make_request(), "make", self.connect_timeout_s)
        except BaseException as exc:
            _abort_sync(self._ws)  # the session never started: drop the connection now
            if self._broken is None:
                self._broken = ConnectionLost(f"the session could not start: {exc}")
            raise
        self._apply_made(reply)
        self.action_space = ActionSpace(tool_names=self.tool_names)
        self.metadata = {**type(self).metadata, **(reply.get("metadata") or {})}
        self.spec = self._gym_spec()
        _track_open_session(self)

    def _gym_spec(self) -> Any:
        """A Gymnasium spec whose ``make()`` opens another session on the same server."""
        from gymnasium.envs.registration import EnvSpec

        options = {
            "url": self.url, "env_id": self.env_id, "token": self._token,
            "connect_timeout_s": self.connect_timeout_s, "step_timeout_s": self.step_timeout_s,
            "raise_on_infra_error": self.raise_on_infra_error, "ping_interval_s": self.ping_interval_s,
            "ping_timeout_s": self.ping_timeout_s, "max_message_bytes": self.max_message_bytes,
        }
        base_kwargs = {k: v for k, v in self.env_kwargs.items() if k != "render_mode"}

        def entry_point(render_mode: str | None = None, **kwargs: Any) -> RemoteEnv:
            return RemoteEnv(env_kwargs={**base_kwargs, **kwargs}, render_mode=render_mode, **options)

        try:
            return EnvSpec(
                id=self.env_id or "remote/Env-v0",
                entry_point=entry_point,
                kwargs=dict(base_kwargs),
                disable_env_checker=True,
                order_enforce=False,
            )
        except Exception:  # an env id Gymnasium cannot parse: no spec
            return None

    def _request(self, request: dict[str, Any], during: str, timeout: float | None) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._closed:
            raise ConnectionLost(f"{during} on a closed RemoteEnv")
        if self._broken is not None:
            raise type(self._broken)(f"session unusable after an earlier failure: {self._broken}")
        request_id = next(self._ids)
        request["id"] = request_id
        try:
            self._ws.send(dumps(request))
            raw = self._ws.recv(timeout=timeout)
        except ConnectionClosed as exc:
            error: RemoteError = _closed_error(exc, during)
        except TimeoutError:
            error = ConnectionLost(f"no reply to {during} within {timeout:g} s")
        except OSError as exc:
            error = ConnectionLost(f"connection error during {during}: {exc}")
        else:
            try:
                return self._check(_decode_reply(raw, during), request_id, during)
            except (RemoteInfraError, ProtocolError) as err:
                if not isinstance(err, Unauthorized) and err.code not in _RECOVERABLE:
                    self._mark_broken(err)
                raise
        self._mark_broken(error)
        raise error

    def _mark_broken(self, error: RemoteError) -> None:
        if isinstance(error, (RemoteInfraError, ProtocolError)) and not isinstance(error, Unauthorized):
            self._broken = error if isinstance(error, RemoteInfraError) else ConnectionLost(str(error))
            _abort_sync(self._ws)  # no closing handshake: the peer may be frozen

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._broken is not None and not self._closed:
            self._connect()  # the old session is gone: start a fresh one
        reply = self._request({"type": "reset", "seed": seed, "options": options}, "reset", self.step_timeout_s)
        super().reset(seed=seed)  # seeds the client-side np_random too, as gymnasium.Env does
        self._last_info = reply["info"]
        return reply["obs"], reply["info"]

    def step(self, action: Any):
        try:
            reply = self._request({"type": "step", "action": action}, "step", self.step_timeout_s)
        except RemoteInfraError as exc:
            if self.raise_on_infra_error:
                raise
            return self._infra_transition(exc)
        result = self._step_result(reply)
        self._last_info = result[4]
        return result

    def get_state(self) -> dict[str, Any]:
        """The remote env's ``get_state()``."""
        return self._request({"type": "state"}, "get_state", self.step_timeout_s)["state"]

    def set_state(self, state: dict[str, Any]) -> None:
        """The remote env's ``set_state(state)``."""
        self._request({"type": "set_state", "state": state}, "set_state", self.step_timeout_s)

    def observe(self) -> dict[str, Any]:
        """The remote env's ``observe()``: the current observation, without acting."""
        return self._request({"type": "observe"}, "observe", self.step_timeout_s)["obs"]

    def load_state(self, state: dict[str, Any], task: Any = None) -> dict[str, Any]:
        """The remote env's ``load_state(state, task)``; returns the observation of that state."""
        task = task.model_dump() if hasattr(task, "model_dump") else task
        return self._request({"type": "load_state", "state": state, "task": task}, "load_state", self.step_timeout_s)["obs"]

    def oracle_action(self) -> Any:
        """The remote env's ``oracle_action()`` (``None`` if it has no reference solver)."""
        return self._request({"type": "oracle_action"}, "oracle_action", self.step_timeout_s).get("action")

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        return self._request({"type": "render"}, "render", self.step_timeout_s).get("frame")

    def ping(self) -> float:
        """Round-trip time of an application-level ping, in seconds."""
        start = time.perf_counter()
        self._request({"type": "ping"}, "ping", self.connect_timeout_s)
        return time.perf_counter() - start

    def close(self) -> None:
        """End the session (the server closes the env).  Safe to call twice."""
        self._close(min(self.connect_timeout_s, 5.0))

    def _close(self, timeout_s: float) -> None:
        if self._closed:
            return
        ws = self._ws
        if ws is not None and self._broken is None:
            try:
                self._request({"type": "close"}, "close", timeout_s)
            except RemoteError:
                pass
        self._closed = True
        _OPEN_SESSIONS.discard(self)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass

    def __del__(self) -> None:
        # A forgotten env: drop the socket without a closing handshake.  A graceful close would join
        # the connection's reader thread, which hangs forever during interpreter shutdown.
        if not getattr(self, "_closed", True):
            _abort_sync(getattr(self, "_ws", None))

    def __repr__(self) -> str:
        return f"RemoteEnv({self.url!r}, {self.env_id!r}, session={self.session_id})"


class AsyncRemoteEnv(_SessionMixin):
    """A remote env with ``async`` methods; many of them share one event loop.

    >>> async with AsyncRemoteEnv(url, "envgym/Maze-v0") as env:       # doctest: +SKIP
    ...     obs, info = await env.reset(seed=0)
    ...     obs, reward, terminated, truncated, info = await env.step("north")

    Methods connect on first use; ``await env.connect()`` does it eagerly (and fills
    ``observation_space`` / ``action_space``).
    """

    def __init__(
        self,
        url: str,
        env_id: str | None = None,
        *,
        token: str | None = None,
        env_kwargs: dict | None = None,
        connect_timeout_s: float = 10.0,
        step_timeout_s: float | None = 300.0,
        raise_on_infra_error: bool = True,
        ping_interval_s: float | None = 2.0,
        ping_timeout_s: float | None = 3.0,
        max_message_bytes: int | None = CLIENT_MAX_MESSAGE_BYTES,
    ):
        self._init_common(
            url, env_id, token, env_kwargs, connect_timeout_s, step_timeout_s, raise_on_infra_error,
            ping_interval_s, ping_timeout_s, max_message_bytes,
        )
        self._ws: Any = None
        self.observation_space = ObservationSpace()
        self.action_space = ActionSpace()

    async def connect(self) -> AsyncRemoteEnv:
        """Open the session (idempotent while it is alive)."""
        from websockets.asyncio.client import connect

        if self._ws is not None and self._broken is None:
            return self
        try:
            self._ws = await connect(self.ws_url, **self._connect_kwargs())
        except _connect_errors() as exc:
            raise _handshake_error(exc, self.url) from exc
        self._broken = None
        try:
            reply = await self._request(self._make_request(), "make", self.connect_timeout_s)
        except BaseException:
            transport = getattr(self._ws, "transport", None)
            if transport is not None:
                transport.abort()  # the session never started: drop the connection now
            self._ws = None
            raise
        self._apply_made(reply)
        self.action_space = ActionSpace(tool_names=self.tool_names)
        return self

    async def _request(self, request: dict[str, Any], during: str, timeout: float | None) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._closed:
            raise ConnectionLost(f"{during} on a closed AsyncRemoteEnv")
        if self._broken is not None:
            raise type(self._broken)(f"session unusable after an earlier failure: {self._broken}")
        if self._ws is None:
            if request.get("type") == "make":  # pragma: no cover - connect() sets _ws first
                raise ConnectionLost("not connected")
            await self.connect()
        request_id = next(self._ids)
        request["id"] = request_id
        try:
            await self._ws.send(dumps(request))
            raw = await _with_timeout(self._ws.recv(), timeout)
        except ConnectionClosed as exc:
            error: RemoteError = _closed_error(exc, during)
        except (TimeoutError, asyncio.TimeoutError):
            error = ConnectionLost(f"no reply to {during} within {timeout:g} s")
        except OSError as exc:
            error = ConnectionLost(f"connection error during {during}: {exc}")
        else:
            try:
                return self._check(_decode_reply(raw, during), request_id, during)
            except (RemoteInfraError, ProtocolError) as err:
                if not isinstance(err, Unauthorized) and err.code not in _RECOVERABLE:
                    await self._mark_broken(err)
                raise
        await self._mark_broken(error)
        raise error

    async def _mark_broken(self, error: RemoteError) -> None:  # type: ignore[override]
        if isinstance(error, (RemoteInfraError, ProtocolError)) and not isinstance(error, Unauthorized):
            self._broken = error if isinstance(error, RemoteInfraError) else ConnectionLost(str(error))
            transport = getattr(self._ws, "transport", None)
            if transport is not None:
                transport.abort()  # no closing handshake: the peer may be frozen

    async def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._broken is not None and not self._closed:
            await self.connect()
        reply = await self._request({"type": "reset", "seed": seed, "options": options}, "reset", self.step_timeout_s)
        self._last_info = reply["info"]
        return reply["obs"], reply["info"]

    async def step(self, action: Any):
        try:
            reply = await self._request({"type": "step", "action": action}, "step", self.step_timeout_s)
        except RemoteInfraError as exc:
            if self.raise_on_infra_error:
                raise
            return self._infra_transition(exc)
        result = self._step_result(reply)
        self._last_info = result[4]
        return result

    async def get_state(self) -> dict[str, Any]:
        return (await self._request({"type": "state"}, "get_state", self.step_timeout_s))["state"]

    async def set_state(self, state: dict[str, Any]) -> None:
        await self._request({"type": "set_state", "state": state}, "set_state", self.step_timeout_s)

    async def observe(self) -> dict[str, Any]:
        return (await self._request({"type": "observe"}, "observe", self.step_timeout_s))["obs"]

    async def load_state(self, state: dict[str, Any], task: Any = None) -> dict[str, Any]:
        task = task.model_dump() if hasattr(task, "model_dump") else task
        reply = await self._request({"type": "load_state", "state": state, "task": task}, "load_state", self.step_timeout_s)
        return reply["obs"]

    async def oracle_action(self) -> Any:
        return (await self._request({"type": "oracle_action"}, "oracle_action", self.step_timeout_s)).get("action")

    async def ping(self) -> float:
        start = time.perf_counter()
        await self._request({"type": "ping"}, "ping", self.connect_timeout_s)
        return time.perf_counter() - start

    async def close(self) -> None:
        if self._closed:
            return
        ws = self._ws
        if ws is not None and self._broken is None:
            try:
                await self._request({"type": "close"}, "close", min(self.connect_timeout_s, 5.0))
            except RemoteError:
                pass
        self._closed = True
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except Exception:
                pass

    async def __aenter__(self) -> AsyncRemoteEnv:
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncRemoteEnv({self.url!r}, {self.env_id!r}, session={self.session_id})"


if sys.version_info >= (3, 11):

    async def _with_timeout(awaitable: Any, timeout: float | None) -> Any:
        if timeout is None:
            return await awaitable
        async with asyncio.timeout(timeout):
            return await awaitable

else:  # pragma: no cover

    async def _with_timeout(awaitable: Any, timeout: float | None) -> Any:
        return await asyncio.wait_for(awaitable, timeout)


def make_remote(env_spec: Any, url: str, token: str | None = None, **kwargs: Any) -> RemoteEnv:
    """``envgym.make(id, runtime="remote", url=..., token=..., **kwargs)``: a :class:`RemoteEnv`.

    Keywords named in :data:`CLIENT_OPTIONS` configure the client (``step_timeout_s``,
    ``raise_on_infra_error``, …); ``render_mode`` goes to both; every other keyword is an env
    constructor argument sent to the server (like ``envgym.make(id, **kwargs)`` locally).
    """
    env_id = getattr(env_spec, "id", env_spec)
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in CLIENT_OPTIONS}
    env_kwargs = {**(options.pop("env_kwargs", None) or {}), **kwargs}
    render_mode = env_kwargs.pop("render_mode", None)
    return RemoteEnv(url, env_id, token=token, env_kwargs=env_kwargs, render_mode=render_mode, **options)
