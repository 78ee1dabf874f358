"""What every mock web app shares: a typed state, seeded generation, autoescaped pages, the state API.

A :class:`WebApp` holds its state as a pydantic model (``State``), rebuilt deterministically by
``generate(seed)``.  ``serve()`` starts its pages on 127.0.0.1 (a free port, a background thread).

**Pages are Jinja2 templates with autoescaping on**: every value from the state or a request is
HTML-escaped in text and in quoted attributes; URLs are built with :func:`qs` / the ``path``
filter, never by pasting text into ``href``.  No page carries inline script or event-handler
attributes: the one script, ``/static/app.js``, reads ``data-`` attributes (``data-confirm``,
``data-open-dialog``…).  Every response carries a Content-Security-Policy that allows scripts only
from that file (no inline script, no ``eval``), connections only to the page's own origin, and no
frames, objects or foreign form targets (:data:`SECURITY_HEADERS`).  Templates live in the app's
``templates/`` directory and in ``envs/web/templates/`` (``base.html``, ``macros.html``).

**The state API is not on the page origin.**  ``serve_state_api()`` starts it on a second port,
behind a random bearer token; the agent's browser never learns either (and
:class:`envgym.browser.BrowserSession` refuses ``/__envgym`` paths and every other port)::

    POST /__envgym/reset   {"seed": 3}        -> the new state
    GET  /__envgym/state                      -> the state (JSON)
    PUT  /__envgym/state   <state JSON>       -> the validated state

The same operations are methods (``reset``, ``get_state``, ``set_state``) for in-process use, which
is how the envs use them.  Every app instance has its own servers and state, so concurrent envs
never see each other's data.  Handlers mutate state under ``self.lock`` (the env thread reads it
concurrently).
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode

from pydantic import BaseModel, ValidationError

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
#: Sent with every response of the app's pages.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-src 'none'; frame-ancestors 'none'; object-src 'none'; "
        "worker-src 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def money(cents: int) -> str:
    """``1299`` → ``"$12.99"``; ``123456`` → ``"$1,234.56"``."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def qs(**params: Any) -> str:
    """A query string from the non-empty params (``"?a=1&b=x"``, or ``""``)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return ("?" + urlencode(kept, doseq=True)) if kept else ""


def path_segment(value: Any) -> str:
    """``value`` as one URL path segment (``/``, ``?``, ``#``, ``..`` and the rest percent-encoded)."""
    text = quote(str(value), safe="")
    return text if text not in (".", "..") else text.replace(".", "%2E")


async def form_data(request: Any) -> dict[str, str]:
    """The urlencoded form body as ``{name: last value}`` (list values via :func:`form_lists`)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def form_lists(request: Any) -> dict[str, list[str]]:
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def template_environment(app_dir: Path) -> Any:
    """Jinja2 with autoescaping, undefined names as errors, the app's templates before the shared ones."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([app_dir / "templates", WEB_DIR / "templates"]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(money=money, path=path_segment)
    env.globals.update(qs=qs)
    return env


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response."""

    def __init__(self, app: Any):
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class WebApp:
    """Base class of the mock apps.  Subclasses set ``name``/``State`` and implement ``generate``,
    ``routes``; pages are rendered with :meth:`render`."""

    name: ClassVar[str] = "app"
    State: ClassVar[type[BaseModel]]
    #: Names every template of the app can use besides ``state`` (constants, small helpers).
    template_globals: ClassVar[dict[str, Any]] = {}
    _templates: ClassVar[Any] = None

    def __init__(self, seed: int = 0):
        self.lock = threading.RLock()
        self.state: Any = self.generate(seed)
        self._server: Any = None
        self._state_server: Any = None

    # ------------------------------------------------------------------ state
    def generate(self, seed: int) -> BaseModel:
        raise NotImplementedError

    def reset(self, seed: int = 0) -> dict[str, Any]:
        with self.lock:
            self.state = self.generate(int(seed))
            return self.get_state()

    def get_state(self) -> dict[str, Any]:
        with self.lock:
            return self.state.model_dump(mode="json")

    def set_state(self, state: dict[str, Any]) -> None:
        parsed = self.State.model_validate(state)
        with self.lock:
            self.state = parsed

    # ------------------------------------------------------------------ pages
    def routes(self) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def templates(cls) -> Any:
        if cls.__dict__.get("_templates") is None:
            env = template_environment(Path(sys.modules[cls.__module__].__file__).resolve().parent)
            env.globals.update(cls.template_globals)
            cls._templates = env
        return cls._templates

    def render(self, template: str, **context: Any) -> Any:
        """An HTML response of the app's ``template`` with ``context`` (plus ``state``)."""
        from starlette.responses import HTMLResponse

        return HTMLResponse(self.templates().get_template(template).render(state=self.state, **context))

    def asgi(self) -> Any:
        """The app's pages and ``/static/`` (no state API: see :meth:`state_api_asgi`)."""
        from starlette.applications import Starlette
        from starlette.routing import Mount
        from starlette.staticfiles import StaticFiles

        static = Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
        return SecurityHeaders(Starlette(routes=[*self.routes(), static]))

    def state_api_asgi(self, token: str) -> Any:
        """The state API, answering only requests that carry ``Authorization: Bearer <token>``."""
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def authorized(request: Any) -> bool:
            return secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}")

        async def state_get(request: Any) -> Any:
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return JSONResponse(self.get_state())

        async def state_put(request: Any) -> Any:
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            try:
                self.set_state(json.loads(await request.body()))
            except (ValueError, ValidationError) as exc:
                return JSONResponse({"error": str(exc)[:2000]}, status_code=422)
            return JSONResponse(self.get_state())

        async def reset(request: Any) -> Any:
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            try:
                seed = int(json.loads(await request.body() or b"{}").get("seed", 0))
            except (ValueError, AttributeError, TypeError):
                return JSONResponse({"error": "body must be {\"seed\": <int>}"}, status_code=422)
            return JSONResponse(self.reset(seed))

        return Starlette(routes=[
            Route("/__envgym/state", state_get, methods=["GET"]),
            Route("/__envgym/state", state_put, methods=["PUT"]),
            Route("/__envgym/reset", reset, methods=["POST"]),
        ])

    # ------------------------------------------------------------------ serving
    def serve(self) -> WebApp:
        """Start serving the pages on a free 127.0.0.1 port (idempotent); returns ``self``."""
        if self._server is None:
            from envgym.envs.web.server import AppServer

            self._server = AppServer(self.asgi())
        return self

    def serve_state_api(self) -> tuple[str, str]:
        """Start the state API on its own free 127.0.0.1 port (idempotent); ``(url, bearer token)``."""
        if self._state_server is None:
            from envgym.envs.web.server import AppServer

            token = secrets.token_urlsafe(32)
            self._state_server = (AppServer(self.state_api_asgi(token)), token)
        server, token = self._state_server
        return server.origin, token

    @property
    def origin(self) -> str:
        if self._server is None:
            self.serve()
        return self._server.origin

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._state_server is not None:
            self._state_server[0].close()
            self._state_server = None
