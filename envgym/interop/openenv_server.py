"""OpenEnv's routes on envgym's env server (the protocol is described in :mod:`envgym.interop.openenv`).

>>> app = create_app("envgym/SQL-v0")          # envgym's server ...            # doctest: +SKIP
>>> mount_openenv(app, prefix="/openenv")     # ... also speaking OpenEnv's     # doctest: +SKIP
>>> app = openenv_at_root(create_app("envgym/SQL-v0", openenv_prefix=None))  # OpenEnv's at the root  # doctest: +SKIP

Sessions are the native server's: a WebSocket session runs through
:meth:`EnvServer.run_session <envgym.remote.server.EnvServer.run_session>` with an
:class:`OpenEnvSession` as its protocol, so it gets the same session thread, caps, idle reaping and
handshake checks (token, origin) as a native one; HTTP MCP sessions are opened in the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

import envgym
from envgym.errors import Forbidden, ResetNeeded
from envgym.interop.openenv import (
    _FROM_ENVGYM,
    OPENENV_API_VERSION,
    JsonRpcCode,
    RequestError,
    WSErrorCode,
    call_result,
    error_message,
    exception_details,
    jsonrpc,
    observation_data,
    parse_jsonrpc,
    parse_reset,
    parse_step,
    tool_list,
)
from envgym.interop.tools import ToolSpec, action_for, step_outcome, tool_specs
from envgym.remote.protocol import ErrorCode, dumps, parse


class OpenEnvSession:
    """One OpenEnv connection: handles its requests on the session's thread (``handle``) and words
    the native server's session-level errors the OpenEnv way (``error_text``)."""

    def __init__(self, server: Any, catalog: ToolCatalog):
        self.server = server
        self.catalog = catalog
        self.episode_id: str | None = None
        #: ``obs["tools"]`` of the last observation (``None`` before the first reset); specs are made
        #: from it only when a tool request needs them, not on every step.
        self.tools: list[dict[str, Any]] | None = None
        self.has_observed = False
        self._handlers = {"reset": self._reset, "step": self._step, "state": self._state, "mcp": self._mcp}

    # ------------------------------------------------------------------ protocol hooks
    def error_text(self, code: str, message: str) -> str:
        """A native error (capacity, expiry, size, handshake) as an OpenEnv ``error`` reply."""
        return error_message(_FROM_ENVGYM.get(code, WSErrorCode.SESSION_ERROR), message, envgym_code=code)

    def handle(self, session: Any, text: str) -> tuple[str | None, bool]:
        """One request: ``(reply or None, close the session after)``."""
        try:
            raw = parse(text)
        except ValueError as exc:
            return error_message(WSErrorCode.INVALID_JSON, f"Invalid JSON: {exc}"), False
        if not isinstance(raw, dict):
            return error_message(WSErrorCode.VALIDATION_ERROR, "a message must be a JSON object"), False
        kind = raw.get("type")
        if kind == "close":
            return None, True
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return error_message(WSErrorCode.UNKNOWN_TYPE, f"Unknown message type: {str(kind)[:100]}"), False
        if len(raw) > 1 + ("data" in raw):  # only "type" and "data" (OpenEnv's messages forbid extras)
            return error_message(WSErrorCode.VALIDATION_ERROR, f"unknown message fields {sorted(set(raw) - {'type', 'data'})}"), False
        try:
            env = session.env if session.env is not None else self.server.make_session_env(session)
        except Exception as exc:  # the env could not be built  # noqa: BLE001
            return error_message(WSErrorCode.FACTORY_ERROR, f"{type(exc).__name__}: {exc}", exc_type=type(exc).__name__), False
        try:
            return dumps(handler(env, raw.get("data"))), False
        except RequestError as exc:
            return error_message(exc.code, str(exc)), False
        except Forbidden as exc:  # the operator's policy (e.g. a client's task with reward code)
            return error_message(WSErrorCode.VALIDATION_ERROR, str(exc), envgym_code=ErrorCode.FORBIDDEN), False
        except Exception as exc:  # the env raised  # noqa: BLE001
            return dumps({"type": "error", "data": exception_details(exc)}), False

    # ------------------------------------------------------------------ requests (session thread)
    def _reset(self, env: Any, data: Any) -> dict[str, Any]:
        seed, options, episode_id = parse_reset({} if data is None else data)
        obs, info = env.reset(seed=seed, options=options or None)
        self.episode_id = episode_id or uuid.uuid4().hex
        self.tools, self.has_observed = obs.get("tools"), True
        meta = {"terminated": False, "truncated": False, "info": info, "episode_id": self.episode_id, "step_count": 0}
        return {"type": "observation", "data": observation_data(obs, None, False, meta)}

    def _step(self, env: Any, data: Any) -> dict[str, Any]:
        if data is None:
            raise RequestError("step needs 'data' (the action)")
        kind, payload = parse_step(data)
        if kind == "list_tools":
            obs = {"tools": tool_list(self._specs(env)), "metadata": {}}
            return {"type": "observation", "data": {"observation": obs, "reward": None, "done": False}}
        if kind == "call_tool":
            name, arguments = payload
            try:
                payload = action_for(name, arguments, self._specs(env))
            except KeyError as exc:
                error = {"error_type": "tool_not_found", "message": exc.args[0]}
                obs = {"tool_name": name, "result": None, "error": error, "metadata": {}}
                return {"type": "observation", "data": {"observation": obs, "reward": None, "done": False}}
        obs, reward, terminated, truncated, info = env.step(payload)
        self.tools = obs.get("tools")
        meta = {
            "terminated": bool(terminated), "truncated": bool(truncated), "info": info,
            "episode_id": self.episode_id, "step_count": int(info.get("turn", 0)),
        }
        if kind == "call_tool":  # OpenEnv's CallToolObservation; its client reads any "tools" key as a tool list
            result = call_result(obs, step_outcome(reward, terminated, truncated, info))
            obs = {**{k: v for k, v in obs.items() if k != "tools"}, "tool_name": name, "result": result, "error": None}
        return {"type": "observation", "data": observation_data(obs, float(reward), bool(terminated or truncated), meta)}

    def _state(self, env: Any, data: Any) -> dict[str, Any]:
        base = env.unwrapped
        state: dict[str, Any] = {"episode_id": self.episode_id, "step_count": int(getattr(base, "turn", 0))}
        task = getattr(base, "task", None)
        if task is not None:
            state["task_id"] = task.task_id
            with contextlib.suppress(NotImplementedError):
                state["env_state"] = env.get_state()
        return {"type": "state", "data": state}

    def _mcp(self, env: Any, data: Any) -> dict[str, Any]:
        return {"type": "mcp", "data": self.rpc(env, data)}

    # ------------------------------------------------------------------ JSON-RPC (session thread)
    def rpc(self, env: Any, payload: Any) -> dict[str, Any]:
        """A JSON-RPC ``tools/list`` / ``tools/call`` on this session's env."""
        try:
            request_id, method, params = parse_jsonrpc(payload)
        except RequestError as exc:
            return jsonrpc(None, error=(int(exc.code), str(exc)))
        if method == "tools/list":
            return jsonrpc(request_id, {"tools": tool_list(self._specs(env))})
        if method != "tools/call":
            return jsonrpc(request_id, error=(JsonRpcCode.METHOD_NOT_FOUND, f"Method not found: {method}"))
        name, arguments = params.get("name"), params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_PARAMS, "tools/call needs a string 'name' and an object 'arguments'"))
        try:
            if getattr(env.unwrapped, "task", None) is None:  # a session that never reset: start an episode
                self._reset(env, {})
            action = action_for(name, arguments, self._specs(env))
            obs, reward, terminated, truncated, info = env.step(action)
        except KeyError as exc:
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_PARAMS, f"Tool not found: {exc.args[0]}"))
        except (ValueError, ResetNeeded) as exc:
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_REQUEST, str(exc)))
        except Forbidden as exc:
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_REQUEST, str(exc)), data={"envgym_code": ErrorCode.FORBIDDEN})
        except Exception as exc:  # the env raised  # noqa: BLE001
            return jsonrpc(request_id, error=(JsonRpcCode.INTERNAL_ERROR, str(exc) or type(exc).__name__), data=exception_details(exc))
        self.tools = obs.get("tools")
        return jsonrpc(request_id, call_result(obs, step_outcome(reward, terminated, truncated, info)))

    def _specs(self, env: Any) -> list[ToolSpec]:
        if not self.has_observed:
            return self.catalog.specs
        return tool_specs({"tools": self.tools}, self.catalog.description)


class ToolCatalog:
    """What a fresh env offers, probed once per app (an env reset with seed 0): its tools and the
    observation keys it fills.  Used before a session has reset and by ``/schema``."""

    def __init__(self, server: Any):
        self.server = server
        self.description = server.env_spec.description or ""
        self._specs: list[ToolSpec] | None = None
        self._lock = asyncio.Lock()

    @property
    def specs(self) -> list[ToolSpec]:
        if self._specs is None:  # on a session thread, before the app probed: probe here
            self._specs = self._probe()
        return self._specs

    async def ensure(self) -> list[ToolSpec]:
        async with self._lock:
            if self._specs is None:
                self._specs = await asyncio.get_running_loop().run_in_executor(None, self._probe)
        return self._specs

    def _probe(self) -> list[ToolSpec]:
        env = self.server.new_env()
        try:
            obs, _ = env.reset(seed=0)
            return tool_specs(obs, self.description)
        finally:
            with contextlib.suppress(Exception):
                env.close()


# ---------------------------------------------------------------------------------- HTTP sessions
class _HttpSocket:
    """Stands in for the WebSocket of an HTTP MCP session, so the native reaper can expire it:
    what it would send goes nowhere, and closing it ends the session."""

    def __init__(self, sessions: HttpSessions):
        self.sessions = sessions
        self.session: Any = None

    async def send_text(self, text: str) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.sessions.end(self.session)


class HttpSessions:
    """OpenEnv's ``openenv/session/*`` sessions over HTTP ``/mcp``, kept in the native session table."""

    def __init__(self, server: Any, catalog: ToolCatalog):
        self.server = server
        self.catalog = catalog
        self.handlers: dict[str, OpenEnvSession] = {}

    async def create(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        socket = _HttpSocket(self)
        session = self.server.open_session(socket)
        if session is None:
            return jsonrpc(request_id, error=(JsonRpcCode.SERVER_ERROR, "server holds its maximum of sessions"),
                           data={"max_sessions": self.server.max_sessions})
        socket.session = session
        handler = self.handlers[session.session_id] = OpenEnvSession(self.server, self.catalog)
        reset = {k: params[k] for k in ("seed", "task", "episode_id") if k in params}
        reply = await self._run(session, lambda env: handler._reset(env, reset))
        if isinstance(reply, dict) and "error" in reply:
            await self.end(session)
            return jsonrpc(request_id, error=(JsonRpcCode.SERVER_ERROR, reply["error"]["message"]), data=reply["error"])
        return jsonrpc(request_id, {"session_id": session.session_id})

    async def call(self, session_id: str, payload: dict[str, Any], request_id: Any) -> dict[str, Any]:
        session = self.server.sessions.get(session_id)
        handler = self.handlers.get(session_id)
        if session is None or handler is None or session.expired:
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_PARAMS, f"Unknown session_id: {session_id}"))
        reply = await self._run(session, lambda env: handler.rpc(env, payload))
        if "error" in reply and "jsonrpc" not in reply:
            return jsonrpc(request_id, error=(JsonRpcCode.SERVER_ERROR, reply["error"]["message"]), data=reply["error"])
        return reply

    async def close(self, session_id: str, request_id: Any) -> dict[str, Any]:
        session = self.server.sessions.get(session_id)
        if session is None or session_id not in self.handlers:
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_PARAMS, f"Unknown session_id: {session_id}"))
        await self.end(session)
        return jsonrpc(request_id, {"session_id": session_id, "closed": True})

    async def end(self, session: Any) -> None:
        if session is not None and self.handlers.pop(session.session_id, None) is not None:
            await self.server.close_session(session)

    async def _run(self, session: Any, call: Any) -> Any:
        """``call(env)`` on the session's thread (the env built there first); errors as a dict."""
        session.busy = True
        try:
            def work() -> Any:
                env = session.env if session.env is not None else self.server.make_session_env(session)
                return call(env)

            try:
                return await session.worker.submit(work)
            except RequestError as exc:
                return {"error": {"message": str(exc), "code": exc.code}}
            except Exception as exc:  # noqa: BLE001
                return {"error": exception_details(exc)}
        finally:
            session.last_active = time.monotonic()
            session.busy = False


# ----------------------------------------------------------------------------- stateless HTTP calls
STEP_KEYS = frozenset({"action", "timeout_s", "request_id", "seed", "task", "episode_id"})


def _fresh_env_call(server: Any, catalog: ToolCatalog, body: Any, step: bool) -> dict[str, Any]:
    """OpenEnv's stateless ``/reset`` or ``/step``: a fresh env, reset (then stepped), closed."""
    reset_data, action = body, None
    if step:
        if not isinstance(body, dict) or "action" not in body or set(body) - STEP_KEYS:
            raise RequestError(f"/step needs 'action' and takes only {sorted(STEP_KEYS)}")
        reset_data = {k: body[k] for k in ("seed", "task", "episode_id") if k in body}
        action = body["action"]
    handler = OpenEnvSession(server, catalog)
    env = server.new_env()  # built for a client: the server's policy applies (reward code of its tasks)
    try:
        reply = handler._reset(env, reset_data)
        if step:
            reply = handler._step(env, action)
        return reply["data"]
    finally:
        with contextlib.suppress(Exception):
            env.close()


# ------------------------------------------------------------------------------------------ schemas
def action_schema(specs: list[ToolSpec]) -> dict[str, Any]:
    """JSON schema of a step's ``data``."""
    calls = [{"type": "object", "properties": {"name": {"const": s.name}, "arguments": s.input_schema},
              "required": ["name"]} for s in specs]
    return {
        "title": "EnvgymAction",
        "oneOf": [
            {"type": "object", "properties": {"action": {"oneOf": [{"type": "string"}, *calls]},
                                              "metadata": {"type": "object"}}, "required": ["action"]},
            {"type": "object", "properties": {"type": {"const": "call_tool"}, "tool_name": {"enum": [s.name for s in specs]},
                                              "arguments": {"type": "object"}}, "required": ["type", "tool_name"]},
            {"type": "object", "properties": {"type": {"const": "list_tools"}}, "required": ["type"]},
        ],
    }


OBSERVATION_SCHEMA = {
    "title": "EnvgymObservation",
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "image": {"type": "string", "contentEncoding": "base64", "description": "screenshot (PNG/JPEG)"},
        "image_media_type": {"type": "string"},
        "tools": {"type": "array"},
        "metadata": {"type": "object", "properties": {
            "terminated": {"type": "boolean"}, "truncated": {"type": "boolean"}, "info": {"type": "object"},
            "episode_id": {"type": ["string", "null"]}, "step_count": {"type": "integer"}}},
    },
    "required": ["text"],
    "additionalProperties": True,
}


def state_schema(env_state: dict[str, Any] | None) -> dict[str, Any]:
    """JSON schema of a ``state`` reply's ``data``."""
    return {
        "title": "EnvgymState",
        "type": "object",
        "properties": {
            "episode_id": {"type": ["string", "null"]},
            "step_count": {"type": "integer", "minimum": 0},
            "task_id": {"type": "string"},
            "env_state": env_state or {"type": "object"},
        },
    }


class McpSocketSession(OpenEnvSession):
    """A ``WS /mcp`` connection: every frame is a JSON-RPC request, every reply a JSON-RPC response."""

    def error_text(self, code: str, message: str) -> str:
        return dumps(jsonrpc(None, error=(JsonRpcCode.SERVER_ERROR, message), data={"envgym_code": code}))

    def handle(self, session: Any, text: str) -> tuple[str | None, bool]:
        try:
            payload = parse(text)
        except ValueError as exc:
            return dumps(jsonrpc(None, error=(JsonRpcCode.PARSE_ERROR, f"Parse error: {exc}"))), False
        try:
            env = session.env if session.env is not None else self.server.make_session_env(session)
        except Exception as exc:  # noqa: BLE001
            return dumps(jsonrpc(None, error=(JsonRpcCode.SERVER_ERROR, f"{type(exc).__name__}: {exc}"))), False
        return dumps(self.rpc(env, payload)), False


# ------------------------------------------------------------------------------------------- routes
def mount_openenv(app: Any, prefix: str = "/openenv") -> None:
    """Serve OpenEnv's routes under ``prefix`` on an app made by :func:`envgym.remote.server.create_app`."""
    server = app.state.env_server
    routes = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    routes.state.env_server = server
    routes.include_router(openenv_router(server))
    app.mount(prefix, routes)


def openenv_router(server: Any) -> APIRouter:
    """OpenEnv's routes (HTTP and WebSocket) on the native server ``server``."""
    catalog = ToolCatalog(server)
    sessions = HttpSessions(server, catalog)
    router = APIRouter()

    async def fresh(request: Request, step: bool) -> Any:
        body = await _json_body(request)
        return await asyncio.get_running_loop().run_in_executor(None, _fresh_env_call, server, catalog, body, step)

    @router.websocket("/ws")
    async def websocket_session(websocket: WebSocket) -> None:
        await server.run_session(websocket, protocol=OpenEnvSession(server, catalog))

    @router.websocket("/mcp")
    async def websocket_mcp(websocket: WebSocket) -> None:
        await server.run_session(websocket, protocol=McpSocketSession(server, catalog))

    @router.post("/reset")
    async def reset(request: Request) -> Any:
        return await _guarded(server, request, lambda: fresh(request, step=False))

    @router.post("/step")
    async def step(request: Request) -> Any:
        return await _guarded(server, request, lambda: fresh(request, step=True))

    @router.get("/state")
    async def state(request: Request) -> Any:  # a fresh env has no episode yet
        return await _guarded(server, request, _async_value({"episode_id": None, "step_count": 0}))

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "healthy", "sessions": len(server.sessions), "max_sessions": server.max_sessions}

    @router.get("/metadata")
    async def metadata(request: Request) -> Any:
        return await _guarded(server, request, _async_value({
            "name": server.env_id, "description": catalog.description or server.env_id,
            "readme_content": None, "version": getattr(envgym, "__version__", None), "author": None,
            "documentation_url": None,
        }))

    @router.get("/schema")
    async def schema(request: Request) -> Any:
        async def work() -> dict[str, Any]:
            specs = await catalog.ensure()
            native = await server.schema()
            return {"action": action_schema(specs), "observation": OBSERVATION_SCHEMA, "state": state_schema(native.get("state"))}

        return await _guarded(server, request, work)

    @router.post("/mcp")
    async def mcp(request: Request) -> Any:
        return await _guarded(server, request, lambda: _http_mcp(request, server, catalog, sessions))

    @router.get("/openapi.json")
    async def openapi() -> dict[str, Any]:
        return get_openapi(title=f"envgym env server (OpenEnv protocol): {server.env_id}",
                           version=OPENENV_API_VERSION, routes=router.routes)

    return router


async def _guarded(server: Any, request: Request, work: Any) -> Any:
    """Await ``work()`` for an authorised ``request``; its errors become JSON responses (401, 422, 403, 500)."""
    if not server.authorized(request.headers, request.query_params):
        return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        return await work()
    except RequestError as exc:
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=422)
    except Forbidden as exc:
        return JSONResponse({"detail": str(exc), "code": ErrorCode.FORBIDDEN}, status_code=403)
    except Exception as exc:  # the env raised  # noqa: BLE001
        return JSONResponse({"detail": exception_details(exc)}, status_code=500)


def _async_value(value: Any) -> Any:
    async def work() -> Any:
        return value

    return work


async def _json_body(request: Any) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return parse(raw)
    except ValueError as exc:
        raise RequestError(f"the body is not JSON: {exc}", code=WSErrorCode.INVALID_JSON) from None


async def _http_mcp(request: Any, server: Any, catalog: ToolCatalog, sessions: HttpSessions) -> dict[str, Any]:
    """``POST /mcp``: OpenEnv's session methods, and tools on a session (or on a fresh env)."""
    try:
        payload = await _json_body(request)
        request_id, method, params = parse_jsonrpc(payload)
    except RequestError as exc:
        code = JsonRpcCode.PARSE_ERROR if exc.code == WSErrorCode.INVALID_JSON else int(exc.code)
        return jsonrpc(None, error=(code, str(exc)))
    if method == "openenv/session/create":
        return await sessions.create(request_id, params)
    session_id = params.get("session_id")
    if method == "openenv/session/close":
        if not isinstance(session_id, str):
            return jsonrpc(request_id, error=(JsonRpcCode.INVALID_PARAMS, "Invalid params - 'session_id' is required"))
        return await sessions.close(session_id, request_id)
    rpc = {**payload, "params": {k: v for k, v in params.items() if k != "session_id"}}
    if isinstance(session_id, str):
        return await sessions.call(session_id, rpc, request_id)
    if method == "tools/list":
        return jsonrpc(request_id, {"tools": tool_list(await catalog.ensure())})
    return jsonrpc(request_id, error=(JsonRpcCode.INVALID_REQUEST,
                                      f"{method} needs a session: call openenv/session/create first"))


def openenv_at_root(native: Any, native_prefix: str = "/envgym") -> Any:
    """An app speaking OpenEnv's protocol at the root (what OpenEnv tooling and Spaces expect), with
    ``native`` — an app of ``create_app(..., openenv_prefix=None)`` — under ``native_prefix``."""
    server = native.state.env_server

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with native.router.lifespan_context(native):
            yield

    app = FastAPI(title=f"envgym env server: {server.env_id}", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.env_server = server
    app.include_router(openenv_router(server))
    app.mount(native_prefix, native)
    return app
