"""An env's tools as an MCP server, on the official ``mcp`` SDK (``pip install 'envgym[mcp]'``)::

    envgym mcp envgym/SQL-v0                          # stdio (an MCP host launches it)
    envgym mcp envgym/SQL-v0 --http --port 8765       # streamable HTTP at http://127.0.0.1:8765/mcp

* ``tools/list`` — the env's tools with their JSON schemas (:func:`envgym.interop.tools.tool_specs`:
  an env without function tools offers ``act(action)``), plus the reserved tool ``reset(seed, task)``
  that starts a new episode.
* ``tools/call`` — steps the env; the result's text is the observation text (a screenshot follows as
  an image block), its ``structuredContent`` the step's ``reward``, ``terminated``, ``truncated`` (and
  ``success``, ``action_error``, ``infra_error`` when set).  An invalid action is the env's business
  (it answers in the text, ``isError`` true); an env that raises answers ``isError`` with the
  exception; a call after the episode ended asks for ``reset``.
* ``resources/read envgym://episode`` — the episode so far: task, turn, return, last reward,
  ``terminated``/``truncated``/``success``, ``infra_error``.

One server drives **one env, one episode at a time** (MCP's 2026 protocol has no sessions to hang
several on): start one server per agent — stdio does that by construction — or use the OpenEnv
``/mcp`` route of ``envgym serve`` for many sessions on one server.  The first ``tools/list`` or
``tools/call`` starts an episode (seed ``None``) if ``reset`` has not.  The env lives on one thread of
its own.  Over HTTP the server binds 127.0.0.1 and the SDK's DNS-rebinding (Host/Origin) checks are on;
another host needs ``--token`` (clients send ``Authorization: Bearer``).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hmac
import json
from typing import Any

import envgym
from envgym.errors import InfraError
from envgym.interop.tools import ToolSpec, action_for, step_outcome, tool_specs

RESET_TOOL = "reset"
EPISODE_URI = "envgym://episode"
_RESET_SCHEMA = {
    "type": "object",
    "properties": {
        "seed": {"type": ["integer", "null"], "minimum": 0, "description": "seed of the new episode"},
        "task": {"type": ["string", "null"], "description": "id of a task in the env's task set"},
    },
}


class EpisodeHost:
    """The env an MCP server drives, on a thread of its own, and the episode it is in."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.description = envgym.spec(env_id).description or ""
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="envgym-mcp-env")
        self._lock = asyncio.Lock()
        self.env: Any = None
        self.obs: dict[str, Any] = {}
        self.episode: dict[str, Any] = {}

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the env's thread, one call at a time."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        if self.env is not None:
            self._thread.submit(self.env.close).result(timeout=60)
        self._thread.shutdown(wait=True)

    # ------------------------------------------------------------------ on the env's thread
    def specs(self) -> list[ToolSpec]:
        if self.env is None:
            self.reset(None, None)
        return tool_specs(self.obs, self.description)

    def reset(self, seed: int | None, task: str | None) -> dict[str, Any]:
        if self.env is None:
            self.env = envgym.make(self.env_id, **self.env_kwargs)
        self.obs, info = self.env.reset(seed=seed, options={"task": task} if task is not None else None)
        self.episode = {"task_id": info.get("task_id"), "turn": 0, "return": 0.0, "reward": None,
                        "terminated": False, "truncated": False, "success": None}
        return self.obs

    def step(self, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.env is None:
            self.reset(None, None)
        if self.episode["terminated"] or self.episode["truncated"]:
            raise EpisodeOver(f"the episode is over; call {RESET_TOOL}() to start another")
        action = action_for(name, arguments, tool_specs(self.obs, self.description))
        self.obs, reward, terminated, truncated, info = self.env.step(action)
        outcome = step_outcome(reward, terminated, truncated, info)
        self.episode.update(turn=info.get("turn", self.episode["turn"] + 1), reward=float(reward),
                            terminated=bool(terminated), truncated=bool(truncated), success=info.get("success"))
        self.episode["return"] += float(reward)
        if "infra_error" in info:
            self.episode["infra_error"] = info["infra_error"]
        return self.obs, outcome


class EpisodeOver(RuntimeError):
    """A tool call after the episode ended."""


def _content(obs: dict[str, Any]) -> list[Any]:
    import mcp_types as types

    blocks: list[Any] = [types.TextContent(type="text", text=obs.get("text", ""))]
    image = obs.get("image")
    if isinstance(image, (bytes, bytearray)):
        mime = "image/png" if bytes(image[:4]) == b"\x89PNG" else "image/jpeg"
        blocks.append(types.ImageContent(type="image", data=base64.b64encode(image).decode("ascii"), mime_type=mime))
    return blocks


def build_server(host: EpisodeHost) -> Any:
    """The ``mcp`` lowlevel server for ``host``."""
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> Any:
        specs = await host.run(host.specs)
        if any(s.name == RESET_TOOL for s in specs):
            raise ValueError(f"{host.env_id} has a tool named {RESET_TOOL!r}, which MCP serving reserves")
        tools = [types.Tool(name=s.name, description=s.description, input_schema=s.input_schema) for s in specs]
        tools.append(types.Tool(name=RESET_TOOL, description="Start a new episode (optionally with a seed or a task id).",
                                input_schema=_RESET_SCHEMA))
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        arguments = dict(params.arguments or {})
        try:
            if params.name == RESET_TOOL:
                obs = await host.run(host.reset, arguments.get("seed"), arguments.get("task"))
                return types.CallToolResult(content=_content(obs), structured_content=dict(host.episode))
            obs, outcome = await host.run(host.step, params.name, arguments)
        except (KeyError, ValueError, TypeError, EpisodeOver) as exc:  # a call the env cannot take
            message = exc.args[0] if exc.args else str(exc)
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(message))], is_error=True)
        except Exception as exc:  # noqa: BLE001 - the env raised: told, and flagged when it is infrastructure
            detail = {"exc_type": type(exc).__name__, "infra_error": isinstance(exc, InfraError)}
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"{type(exc).__name__}: {exc}")],
                                        structured_content=detail, is_error=True)
        failed = bool(outcome.get("action_error") or outcome.get("infra_error"))
        return types.CallToolResult(content=_content(obs), structured_content=outcome, is_error=failed)

    async def list_resources(ctx: Any, params: Any) -> Any:
        return types.ListResourcesResult(resources=[types.Resource(
            name="episode", uri=EPISODE_URI, mime_type="application/json",
            description="The current episode: task, turn, return, last reward, terminated, truncated, success.")])

    async def read_resource(ctx: Any, params: Any) -> Any:
        if str(params.uri) != EPISODE_URI:
            raise ValueError(f"unknown resource {params.uri}; the server has {EPISODE_URI}")
        text = json.dumps(dict(host.episode))
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=EPISODE_URI, mime_type="application/json", text=text)])

    return Server(f"envgym {host.env_id}", version=getattr(envgym, "__version__", ""), instructions=host.description,
                  on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
                  on_read_resource=read_resource)


async def serve_stdio(env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
    """Serve ``env_id`` over stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    host = EpisodeHost(env_id, env_kwargs)
    server = build_server(host)
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        host.close()


def http_app(env_id: str, env_kwargs: dict[str, Any] | None = None, *, host: str = "127.0.0.1",
             token: str | None = None) -> Any:
    """The streamable-HTTP ASGI app (path ``/mcp``), behind a bearer token when ``token`` is set."""
    import contextlib

    episode_host = EpisodeHost(env_id, env_kwargs)
    server = build_server(episode_host)
    app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(starlette_app: Any) -> Any:
        async with inner_lifespan(starlette_app):
            try:
                yield
            finally:
                episode_host.close()

    app.router.lifespan_context = lifespan
    return app if token is None else _BearerGate(app, token)


class _BearerGate:
    """An ASGI wrapper answering 401 to HTTP requests without ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b'{"error": "missing or wrong bearer token"}'})
                return
        await self.app(scope, receive, send)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(env_id: str, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          env_kwargs: dict[str, Any] | None = None, on_ready: Any = None) -> None:
    """Serve ``env_id`` over stdio, or streamable HTTP with ``http`` (blocking).

    ``on_ready(url)`` is called once the HTTP server accepts connections (``port=0``: a free port)."""
    if not http:
        asyncio.run(serve_stdio(env_id, env_kwargs))
        return
    if host not in LOOPBACK and token is None:
        raise ValueError(f"serving MCP on {host} needs a token (--token): anyone who can reach it could run the env")
    import uvicorn

    config = uvicorn.Config(http_app(env_id, env_kwargs, host=host, token=token), host=host, port=port,
                            log_level="warning", lifespan="on", access_log=False)
    sock = config.bind_socket()

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None and not self.should_exit:
                bound_host, bound_port = sock.getsockname()[:2]
                on_ready(f"http://{bound_host if ':' not in bound_host else f'[{bound_host}]'}:{bound_port}/mcp")

    _Server(config).run(sockets=[sock])
