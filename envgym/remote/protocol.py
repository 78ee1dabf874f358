"""The wire protocol between an env server and its clients (protocol version 1).

One WebSocket connection to ``/ws`` is one **session** with one env instance.  Every frame is a
UTF-8 JSON object sent as a *text* frame.  Requests carry ``type`` and an optional ``id`` (int or
string) that the reply echoes.  A session handles its requests one at a time, in order.

Requests (client → server)::

    {"type": "make",      "id": 1, "kwargs": {...}, "env_id": "envgym/Maze-v0"}   # optional, first
    {"type": "reset",     "id": 2, "seed": 0, "options": {"task": ...}}
    {"type": "step",      "id": 3, "action": "north"}
    {"type": "state",     "id": 4}                                # env.get_state()
    {"type": "set_state", "id": 5, "state": {...}}                # env.set_state(state)
    {"type": "render",    "id": 6}                                # env.render()
    {"type": "observe",   "id": 9}                                # env.observe()
    {"type": "load_state", "id": 10, "state": {...}, "task": ...}  # env.load_state(state, task)
    {"type": "oracle_action", "id": 11}                           # env.oracle_action()
    {"type": "ping",      "id": 7}
    {"type": "close",     "id": 8}                                # ends the session

Replies (server → client)::

    {"type": "made",      "id": 1, "env_id": ..., "session_id": ..., "tool_names": [...],
                          "max_turns": 50, "render_mode": null, "metadata": {...}, "protocol_version": 1}
    {"type": "reset",     "id": 2, "obs": {...}, "info": {...}}
    {"type": "step",      "id": 3, "obs": {...}, "reward": 0.0, "terminated": false,
                          "truncated": false, "info": {...}}
    {"type": "state",     "id": 4, "state": {...}}
    {"type": "set_state", "id": 5}
    {"type": "render",    "id": 6, "frame": "..."}
    {"type": "observe",   "id": 9, "obs": {...}}
    {"type": "load_state", "id": 10, "obs": {...}}
    {"type": "oracle_action", "id": 11, "action": ...}
    {"type": "pong",      "id": 7, "server_time": 1712345678.9}
    {"type": "closed",    "id": 8}
    {"type": "error",     "id": N|null, "code": "...", "message": "...", ...}

**make** is optional: it must be the first request of a session; ``kwargs`` are env constructor
arguments merged over the server's defaults (``create_app(env_kwargs=...)``); ``env_id``, when given,
must be the id the server serves.  A session whose first request is not ``make`` gets an env built
with the server's defaults.  The ``made`` reply tells the client what it needs to build its spaces.

**Values**: ``bytes`` anywhere in a value (screenshots in ``obs["image"]``, actions, states) travel
as ``{"$bytes": "<base64>"}`` — the encoding of :mod:`envgym.trajectory` — and are restored on the
other side.  Tuples arrive as lists; NaN floats as ``null``.

**Errors** carry a ``code`` from :class:`ErrorCode`; a malformed frame (not JSON, ``type`` not a
known name, nesting deeper than :data:`MAX_NESTING`, a bad ``$bytes``) gets one too, and the
session goes on.  ``forbidden``: the server's policy refuses the request (env kwargs not
allow-listed, a task whose reward is code) — see :mod:`envgym.remote.policy`.  ``env_exception`` also carries ``exc_type``
(the exception class name), ``exc_module`` and ``traceback``; the session stays usable after it (the
env object is kept; call ``reset`` if its state is in doubt).  ``env_infra_error`` is the same for an
env that raised :class:`envgym.InfraError`: its own infrastructure failed, so the client reports an
infrastructure failure (never a reward), and the next ``reset`` may recover.  ``capacity_reached``,
``session_expired`` and ``message_too_large`` beyond the transport limit end the session with the
close code in :class:`CloseCode`; ``unauthorized`` refuses the handshake with HTTP 401.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from envgym.trajectory import decode_value, encode_value  # the one bytes<->JSON encoding of the project

PROTOCOL_VERSION = 1
#: Largest request the server reads (characters of one text frame); larger ones get ``message_too_large``.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Largest reply a client accepts by default (observations with screenshots can be large).
CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Deepest nesting of objects and arrays the server accepts in a request.
MAX_NESTING = 128


class ErrorCode:
    """The ``code`` of an ``error`` reply."""

    INVALID_JSON = "invalid_json"  #: the frame is not JSON text (or is a binary frame)
    UNKNOWN_TYPE = "unknown_type"  #: ``type`` names no request
    VALIDATION_ERROR = "validation_error"  #: fields missing, of the wrong type, or out of order
    ENV_EXCEPTION = "env_exception"  #: the env raised; ``exc_type``/``message`` say what
    #: the env raised :class:`envgym.InfraError` (its own infrastructure failed: a crashed browser, app
    #: or X server); ``exc_type``/``message`` say what; the session stays usable
    ENV_INFRA_ERROR = "env_infra_error"
    CAPACITY_REACHED = "capacity_reached"  #: the server already holds ``max_sessions`` sessions
    SESSION_EXPIRED = "session_expired"  #: idle longer than ``idle_timeout_s``; env closed
    UNAUTHORIZED = "unauthorized"  #: missing or wrong bearer token
    MESSAGE_TOO_LARGE = "message_too_large"  #: request above the server's size cap
    INTERNAL_ERROR = "internal_error"  #: a bug in the server itself
    FORBIDDEN = "forbidden"  #: the operator's policy refuses it (a kwarg, a task with reward code, an origin)

    ALL = (
        INVALID_JSON, UNKNOWN_TYPE, VALIDATION_ERROR, ENV_EXCEPTION, ENV_INFRA_ERROR, CAPACITY_REACHED,
        SESSION_EXPIRED, UNAUTHORIZED, MESSAGE_TOO_LARGE, INTERNAL_ERROR, FORBIDDEN,
    )


class CloseCode:
    """WebSocket close codes the server uses when it ends a session."""

    NORMAL = 1000  #: the client sent ``close``
    GOING_AWAY = 1001  #: the server is shutting down
    POLICY_VIOLATION = 1008  #: unauthorized (when the HTTP 401 denial is unavailable)
    MESSAGE_TOO_BIG = 1009  #: a frame above the transport limit
    INTERNAL_ERROR = 1011  #: server bug
    TRY_AGAIN_LATER = 1013  #: capacity reached
    SESSION_EXPIRED = 4001  #: idle session reaped


# ---------------------------------------------------------------------------------------- requests
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: int | str | None = None


class MakeRequest(_Request):
    """Build the session's env with ``kwargs`` (merged over the server defaults).  First request only."""

    type: Literal["make"]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    env_id: str | None = None


class ResetRequest(_Request):
    """``env.reset(seed=seed, options=options)``."""

    type: Literal["reset"]
    seed: int | None = None
    options: dict[str, Any] | None = None


class StepRequest(_Request):
    """``env.step(action)``; ``action`` is text or a tool call ``{"name", "arguments"}``."""

    type: Literal["step"]
    action: Any = Field(...)


class StateRequest(_Request):
    """``env.get_state()``."""

    type: Literal["state"]


class SetStateRequest(_Request):
    """``env.set_state(state)``."""

    type: Literal["set_state"]
    state: dict[str, Any]


class RenderRequest(_Request):
    """``env.render()`` (the env must have been made with a ``render_mode``)."""

    type: Literal["render"]


class ObserveRequest(_Request):
    """``env.observe()``: the current observation, without acting."""

    type: Literal["observe"]


class LoadStateRequest(_Request):
    """``env.load_state(state, task)``: put the env in ``state`` and make it steppable."""

    type: Literal["load_state"]
    state: dict[str, Any]
    task: Any = None


class OracleActionRequest(_Request):
    """``env.oracle_action()``: the reference solver's next action (``None`` if unknown)."""

    type: Literal["oracle_action"]


class PingRequest(_Request):
    """Application-level liveness check (WebSocket ping frames are used for keepalive too)."""

    type: Literal["ping"]


class CloseRequest(_Request):
    """End the session: the server replies ``closed``, closes the env and the connection."""

    type: Literal["close"]


Request = Annotated[
    Union[
        MakeRequest, ResetRequest, StepRequest, StateRequest, SetStateRequest, RenderRequest,
        ObserveRequest, LoadStateRequest, OracleActionRequest, PingRequest, CloseRequest,
    ],
    Field(discriminator="type"),
]
REQUEST_ADAPTER: TypeAdapter[Any] = TypeAdapter(Request)
REQUEST_TYPES = frozenset({
    "make", "reset", "step", "state", "set_state", "render", "observe", "load_state", "oracle_action",
    "ping", "close",
})


# ----------------------------------------------------------------------------------------- replies
class _Reply(BaseModel):
    id: int | str | None = None


class MadeReply(_Reply):
    type: Literal["made"] = "made"
    env_id: str
    session_id: str
    tool_names: list[str]
    max_turns: int | None = None
    render_mode: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    protocol_version: int = PROTOCOL_VERSION


class ResetReply(_Reply):
    type: Literal["reset"] = "reset"
    obs: dict[str, Any]
    info: dict[str, Any]


class StepReply(_Reply):
    type: Literal["step"] = "step"
    obs: dict[str, Any]
    reward: float | None
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class StateReply(_Reply):
    type: Literal["state"] = "state"
    state: Any


class SetStateReply(_Reply):
    type: Literal["set_state"] = "set_state"


class RenderReply(_Reply):
    type: Literal["render"] = "render"
    frame: Any = None


class ObserveReply(_Reply):
    type: Literal["observe"] = "observe"
    obs: dict[str, Any]


class LoadStateReply(_Reply):
    type: Literal["load_state"] = "load_state"
    obs: dict[str, Any]


class OracleActionReply(_Reply):
    type: Literal["oracle_action"] = "oracle_action"
    action: Any = None


class PongReply(_Reply):
    type: Literal["pong"] = "pong"
    server_time: float


class ClosedReply(_Reply):
    type: Literal["closed"] = "closed"


class ErrorReply(_Reply):
    type: Literal["error"] = "error"
    code: str = Field(description=f"one of {', '.join(ErrorCode.ALL)}")
    message: str
    exc_type: str | None = Field(default=None, description="env_exception, env_infra_error: the exception class name")
    exc_module: str | None = None
    traceback: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="validation_error details")


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "make": MakeRequest, "reset": ResetRequest, "step": StepRequest, "state": StateRequest,
    "set_state": SetStateRequest, "render": RenderRequest, "observe": ObserveRequest,
    "load_state": LoadStateRequest, "oracle_action": OracleActionRequest, "ping": PingRequest,
    "close": CloseRequest,
}
REPLY_MODELS: dict[str, type[BaseModel]] = {
    "made": MadeReply, "reset": ResetReply, "step": StepReply, "state": StateReply,
    "set_state": SetStateReply, "render": RenderReply, "observe": ObserveReply,
    "load_state": LoadStateReply, "oracle_action": OracleActionReply, "pong": PongReply,
    "closed": ClosedReply, "error": ErrorReply,
}


def message_schemas() -> dict[str, Any]:
    """JSON schemas of every request and reply model (served by ``GET /schema``)."""
    return {
        "requests": {name: model.model_json_schema() for name, model in REQUEST_MODELS.items()},
        "replies": {name: model.model_json_schema() for name, model in REPLY_MODELS.items()},
    }


# ---------------------------------------------------------------------------------------- encoding
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None


def _orjson_default(value: Any) -> Any:
    encoded = encode_value(value)
    if encoded is value:  # encode_value leaves only JSON scalars untouched; orjson handles those itself
        return repr(value)
    return encoded


if _orjson is not None:
    _OPTIONS = _orjson.OPT_SERIALIZE_NUMPY | _orjson.OPT_NON_STR_KEYS

    def dumps(message: Any) -> str:
        """``message`` as JSON text; bytes become ``{"$bytes": b64}`` (see :func:`envgym.trajectory.encode_value`)."""
        try:
            return _orjson.dumps(message, default=_orjson_default, option=_OPTIONS).decode("utf-8")
        except TypeError:  # e.g. an int above 64 bits: take the slow, general path
            return json.dumps(encode_value(message), ensure_ascii=False, separators=(",", ":"))

    def parse(text: str | bytes) -> Any:
        """Parse JSON text without decoding ``$bytes`` (raises ``ValueError`` on bad JSON)."""
        return _orjson.loads(text)

else:  # pragma: no cover

    def dumps(message: Any) -> str:
        return json.dumps(encode_value(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def parse(text: str | bytes) -> Any:
        return json.loads(text)


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests objects/arrays deeper than ``limit`` (iterative: a deep
    message cannot exhaust the stack here)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def decode_values(value: Any) -> Any:
    """Restore ``{"$bytes": b64}`` values to ``bytes`` (see :func:`envgym.trajectory.decode_value`)."""
    return decode_value(value)


def loads(text: str | bytes) -> Any:
    """Parse a JSON message and restore its bytes values."""
    return decode_value(parse(text))
