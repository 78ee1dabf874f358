"""OpenEnv's protocol (``openenv-core`` 0.2/0.3), spoken by envgym's env server.

Any OpenEnv client (``GenericEnvClient``, ``MCPToolClient``, TRL/SkyRL/verifiers integrations) can
drive an envgym env::

    envgym serve envgym/SQL-v0                 # envgym's protocol at /ws, OpenEnv's under /openenv
    envgym serve envgym/SQL-v0 --openenv       # OpenEnv's at the root (Spaces), envgym's under /envgym

    GenericEnvClient(base_url="http://127.0.0.1:8000/openenv")       # or the root URL with --openenv

Routes (relative to the OpenEnv root):

* ``WS /ws`` — one connection = one session = one env.  Requests ``{"type": "reset", "data":
  {"seed", "episode_id", "task", "options"}}``, ``{"type": "step", "data": ACTION}``, ``{"type":
  "state"}``, ``{"type": "close"}`` and ``{"type": "mcp", "data": JSON-RPC}``; replies ``{"type":
  "observation", "data": {"observation", "reward", "done"}}``, ``{"type": "state", "data": {...}}``,
  ``{"type": "mcp", "data": JSON-RPC}`` and ``{"type": "error", "data": {"message", "code"}}`` with
  OpenEnv's codes (:class:`WSErrorCode`).
* ``POST /reset``, ``POST /step``, ``GET /state`` — stateless, as in OpenEnv: each request runs on a
  fresh env that is closed after it (``/step`` resets it first, with the request's ``seed``/``task``).
* ``GET /schema``, ``GET /metadata``, ``GET /health``, ``GET /openapi.json``.
* ``POST /mcp`` and ``WS /mcp`` — JSON-RPC ``tools/list``, ``tools/call`` and OpenEnv's
  ``openenv/session/create`` / ``openenv/session/close`` (HTTP sessions count against
  ``max_sessions`` and are reaped when idle, like WebSocket ones).

**Actions** (the ``data`` of a step): ``{"action": "north"}`` (text or a function-call string),
``{"action": {"name": "sql", "arguments": {...}}}``, or OpenEnv's MCP actions ``{"type":
"call_tool", "tool_name", "arguments"}`` and ``{"type": "list_tools"}``.

**Observations**: the env's observation dict with ``image`` bytes as a base64 string (and
``image_media_type``), other bytes as ``{"$bytes": base64}``, plus ``metadata``: ``terminated`` and
``truncated`` (OpenEnv has only ``done`` = either), the step's ``info``, ``episode_id`` and
``step_count``.  An env that raises answers ``EXECUTION_ERROR`` with ``exc_type``; an infrastructure
failure (``envgym.InfraError``) also carries ``"infra_error": true``, so it is never mistaken for a
reward of 0.

Sessions, limits, tokens, origins and task checks are the native server's own
(:class:`envgym.remote.server.EnvServer`): both protocols share one session table.
"""

from __future__ import annotations

import base64
import traceback
from typing import Any

from envgym.errors import InfraError
from envgym.interop.tools import ToolSpec
from envgym.remote.protocol import ErrorCode, dumps

#: The OpenAPI ``info.version`` OpenEnv's servers declare (``openenv validate`` reads it).
OPENENV_API_VERSION = "1.0.0"
RESET_KEYS = frozenset({"seed", "episode_id", "task", "options"})


class WSErrorCode:
    """OpenEnv's WebSocket error codes (``openenv.core.env_server.types.WSErrorCode``)."""

    INVALID_JSON = "INVALID_JSON"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    FACTORY_ERROR = "FACTORY_ERROR"
    SESSION_ERROR = "SESSION_ERROR"


#: envgym error codes (transport/session level) as OpenEnv codes; the envgym code travels beside it.
_FROM_ENVGYM = {
    ErrorCode.INVALID_JSON: WSErrorCode.INVALID_JSON,
    ErrorCode.UNKNOWN_TYPE: WSErrorCode.UNKNOWN_TYPE,
    ErrorCode.VALIDATION_ERROR: WSErrorCode.VALIDATION_ERROR,
    ErrorCode.MESSAGE_TOO_LARGE: WSErrorCode.VALIDATION_ERROR,
    ErrorCode.ENV_EXCEPTION: WSErrorCode.EXECUTION_ERROR,
    ErrorCode.ENV_INFRA_ERROR: WSErrorCode.EXECUTION_ERROR,
    ErrorCode.CAPACITY_REACHED: WSErrorCode.CAPACITY_REACHED,
    ErrorCode.SESSION_EXPIRED: WSErrorCode.SESSION_ERROR,
    ErrorCode.UNAUTHORIZED: WSErrorCode.SESSION_ERROR,
    ErrorCode.INTERNAL_ERROR: WSErrorCode.SESSION_ERROR,
}


class JsonRpcCode:
    """JSON-RPC 2.0 error codes (as OpenEnv's ``JsonRpcErrorCode``)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    SERVER_ERROR = -32000


class RequestError(ValueError):
    """A request OpenEnv's protocol does not allow; ``code`` is a :class:`WSErrorCode`."""

    def __init__(self, message: str, code: str = WSErrorCode.VALIDATION_ERROR):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------------------ conversions
def error_message(code: str, message: str, **extra: Any) -> str:
    """An OpenEnv ``error`` reply as JSON text."""
    return dumps({"type": "error", "data": {"message": message, "code": code, **extra}})


def exception_details(exc: BaseException) -> dict[str, Any]:
    """``message``/``code`` and envgym's extras for an exception the env raised."""
    details: dict[str, Any] = {
        "message": str(exc) or type(exc).__name__,
        "code": WSErrorCode.EXECUTION_ERROR,
        "exc_type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    }
    if isinstance(exc, InfraError):
        details["infra_error"] = True
    return details


def _media_type(image: bytes) -> str:
    if image.startswith(b"\x89PNG"):
        return "image/png"
    if image.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


def observation_data(obs: dict[str, Any], reward: float | None, done: bool, metadata: dict[str, Any]) -> dict[str, Any]:
    """OpenEnv's ``{"observation", "reward", "done"}`` for an envgym observation (see the module docstring)."""
    out = dict(obs)
    image = out.get("image")
    if isinstance(image, (bytes, bytearray)):
        out["image"] = base64.b64encode(image).decode("ascii")
        out["image_media_type"] = _media_type(bytes(image))
    out["metadata"] = metadata
    return {"observation": out, "reward": reward, "done": done}


def parse_reset(data: Any) -> tuple[int | None, dict[str, Any], str | None]:
    """``(seed, options, episode_id)`` of a reset request's ``data``."""
    if not isinstance(data, dict):
        raise RequestError(f"reset data must be an object, got {type(data).__name__}")
    unknown = set(data) - RESET_KEYS
    if unknown:
        raise RequestError(f"unknown reset fields {sorted(unknown)}; allowed: {sorted(RESET_KEYS)}")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise RequestError(f"seed must be a non-negative integer, got {seed!r}")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise RequestError(f"options must be an object, got {type(options).__name__}")
    options = dict(options)
    if data.get("task") is not None:
        options["task"] = data["task"]
    episode_id = data.get("episode_id")
    if episode_id is not None and (not isinstance(episode_id, str) or len(episode_id) > 255):
        raise RequestError("episode_id must be a string of at most 255 characters")
    return seed, options, episode_id


def parse_step(data: Any) -> tuple[str, Any]:
    """``("action", action)``, ``("call_tool", (name, arguments))`` or ``("list_tools", None)``."""
    if not isinstance(data, dict):
        raise RequestError(f"step data must be an object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "list_tools":
        return "list_tools", None
    if kind == "call_tool":
        name, arguments = data.get("tool_name"), data.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise RequestError("call_tool needs a string 'tool_name' and an object 'arguments'")
        return "call_tool", (name, arguments)
    if "action" not in data or set(data) - {"action", "metadata"}:
        raise RequestError(
            "step data must be {'action': text or {'name', 'arguments'}} or an MCP action "
            f"({{'type': 'call_tool' | 'list_tools', ...}}); got fields {sorted(data)}"
        )
    return "action", data["action"]


def tool_list(specs: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools as OpenEnv's ``ListToolsObservation`` (snake case) and MCP (``inputSchema``) both read them."""
    return [
        {"name": s.name, "description": s.description, "input_schema": s.input_schema, "inputSchema": s.input_schema}
        for s in specs
    ]


def call_result(obs: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """A tool call's result in the shape of FastMCP's ``CallToolResult`` (what OpenEnv envs return)."""
    text = obs.get("text", "")
    return {
        "content": [{"type": "text", "text": text}],
        "structured_content": outcome,
        "meta": None,
        "data": text,
        "is_error": bool(outcome.get("action_error") or outcome.get("infra_error")),
    }


def jsonrpc(request_id: Any, result: Any = None, error: tuple[int, str] | None = None, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC 2.0 response (``result`` xor ``error``)."""
    if error is None:
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
    body: dict[str, Any] = {"code": error[0], "message": error[1]}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def parse_jsonrpc(payload: Any) -> tuple[Any, str, dict[str, Any]]:
    """``(id, method, params)``; raises :class:`RequestError` (code: a JSON-RPC code) when malformed."""
    if not isinstance(payload, dict) or payload.get("jsonrpc") != "2.0" or not isinstance(payload.get("method"), str):
        raise RequestError("Invalid Request: needs jsonrpc '2.0' and a string method", code=str(JsonRpcCode.INVALID_REQUEST))
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError("Params must be an object", code=str(JsonRpcCode.INVALID_PARAMS))
    request_id = payload.get("id")
    if request_id is not None and (not isinstance(request_id, (int, str)) or isinstance(request_id, bool)):
        request_id = None
    return request_id, payload["method"], params
