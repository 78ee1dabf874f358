"""What every mock web app shares: a typed state, seeded generation, the state API and HTML helpers.

A :class:`WebApp` holds its state as a pydantic model (``State``), rebuilt deterministically by
``generate(seed)``.  ``serve()`` starts it on 127.0.0.1 (a free port, a background thread); its
``asgi()`` app carries the app's own pages plus the state API::

    POST /__envgym/reset   {"seed": 3}        -> the new state
    GET  /__envgym/state                      -> the state (JSON)
    PUT  /__envgym/state   <state JSON>       -> the validated state

The same operations are methods (``reset``, ``get_state``, ``set_state``) for in-process use.  Every
app instance has its own server and state, so concurrent envs never see each other's data.
Handlers mutate state under ``self.lock`` (the env thread reads it concurrently).
"""

from __future__ import annotations

import html
import json
import threading
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode

from pydantic import BaseModel, ValidationError


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` → ``""``)."""
    return "" if value is None else html.escape(str(value), quote=True)


def money(cents: int) -> str:
    """``1299`` → ``"$12.99"``; ``123456`` → ``"$1,234.56"``."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def qs(**params: Any) -> str:
    """A query string from the non-empty params (``"?a=1&b=x"``, or ``""``)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return ("?" + urlencode(kept, doseq=True)) if kept else ""


async def form_data(request: Any) -> dict[str, str]:
    """The urlencoded form body as ``{name: last value}`` (list values via :func:`form_lists`)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def form_lists(request: Any) -> dict[str, list[str]]:
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def options(items: list[tuple[str, str]] | list[str], selected: str | None) -> str:
    """``<option>`` tags; items are ``(value, label)`` pairs or plain strings."""
    out = []
    for item in items:
        value, label = item if isinstance(item, tuple) else (item, item)
        sel = " selected" if selected is not None and str(value) == str(selected) else ""
        out.append(f'<option value="{esc(value)}"{sel}>{esc(label)}</option>')
    return "".join(out)


def field(id: str, label: str, value: Any = "", *, name: str | None = None, type: str = "text", error: str = "",
          placeholder: str = "", required: bool = False, extra: str = "", hint: str = "") -> str:
    """A labelled input with an inline validation message (``aria-invalid`` when ``error``)."""
    invalid = ' aria-invalid="true"' if error else ""
    req = " required" if required else ""
    err_html = f'<div class="err" id="{esc(id)}-error" role="alert">{esc(error)}</div>' if error else ""
    hint_html = f'<div class="hint">{esc(hint)}</div>' if hint else ""
    return (f'<div class="field{" has-error" if error else ""}"><label for="{esc(id)}">{esc(label)}</label>'
            f'<input id="{esc(id)}" name="{esc(name or id)}" type="{type}" value="{esc(value)}"'
            f' placeholder="{esc(placeholder)}"{req}{invalid} {extra}>{hint_html}{err_html}</div>')


def pagination(base: str, page: int, pages: int, params: dict[str, Any], id_prefix: str = "page") -> str:
    """Previous / numbered / Next links (``aria-current`` on the current page)."""
    if pages <= 1:
        return ""
    links = []
    if page > 1:
        links.append(f'<a id="{id_prefix}-prev" href="{base}{qs(**params, page=page - 1)}">‹ Previous</a>')
    for n in range(1, pages + 1):
        cur = ' aria-current="page" class="current"' if n == page else ""
        links.append(f'<a id="{id_prefix}-{n}" href="{base}{qs(**params, page=n)}"{cur}>{n}</a>')
    if page < pages:
        links.append(f'<a id="{id_prefix}-next" href="{base}{qs(**params, page=page + 1)}">Next ›</a>')
    return f'<nav class="pagination" aria-label="Pagination">{"".join(links)}</nav>'


class WebApp:
    """Base class of the mock apps.  Subclasses set ``name``/``State`` and implement ``generate``,
    ``routes``."""

    name: ClassVar[str] = "app"
    State: ClassVar[type[BaseModel]]

    def __init__(self, seed: int = 0):
        self.lock = threading.RLock()
        self.state: Any = self.generate(seed)
        self._server: Any = None

    # ------------------------------------------------------------------ state API
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

    # ------------------------------------------------------------------ serving
    def routes(self) -> list[Any]:
        raise NotImplementedError

    def asgi(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def state_get(request: Any) -> Any:
            return JSONResponse(self.get_state())

        async def state_put(request: Any) -> Any:
            try:
                self.set_state(json.loads(await request.body()))
            except (ValueError, ValidationError) as exc:
                return JSONResponse({"error": str(exc)[:2000]}, status_code=422)
            return JSONResponse(self.get_state())

        async def reset(request: Any) -> Any:
            body = await request.body()
            try:
                seed = int(json.loads(body or b"{}").get("seed", 0))
            except (ValueError, AttributeError, TypeError):
                return JSONResponse({"error": "body must be {\"seed\": <int>}"}, status_code=422)
            return JSONResponse(self.reset(seed))

        api = [
            Route("/__envgym/state", state_get, methods=["GET"]),
            Route("/__envgym/state", state_put, methods=["PUT"]),
            Route("/__envgym/reset", reset, methods=["POST"]),
        ]
        return Starlette(routes=api + self.routes())

    def serve(self) -> WebApp:
        """Start serving on a free 127.0.0.1 port (idempotent); returns ``self``."""
        if self._server is None:
            from envgym.envs.web.server import AppServer

            self._server = AppServer(self.asgi())
        return self

    @property
    def origin(self) -> str:
        if self._server is None:
            self.serve()
        return self._server.origin

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


BASE_CSS = """
*{box-sizing:border-box}html{font-size:15px}body{margin:0;font-family:"Liberation Sans",Arial,Helvetica,sans-serif;color:#1f2328;background:var(--bg,#f4f5f7);line-height:1.45}
a{color:var(--link,#0b63c5);text-decoration:none}a:hover{text-decoration:underline}
button,.btn{font:inherit;cursor:pointer;border:1px solid #c7ccd4;background:#fff;color:#1f2328;border-radius:6px;padding:7px 14px;display:inline-block}
button:hover,.btn:hover{background:#f0f2f5;text-decoration:none}
.btn-primary,button.primary{background:var(--accent,#0b63c5);border-color:var(--accent,#0b63c5);color:#fff;font-weight:600}
.btn-primary:hover,button.primary:hover{filter:brightness(.93);background:var(--accent,#0b63c5)}
.btn-danger,button.danger{background:#fff;border-color:#d1242f;color:#d1242f}
input[type=text],input[type=email],input[type=tel],input[type=password],input[type=number],input[type=search],input[type=date],input[type=time],select,textarea{font:inherit;border:1px solid #c7ccd4;border-radius:6px;padding:7px 9px;background:#fff;width:100%}
input:focus,select:focus,textarea:focus{outline:2px solid var(--accent,#0b63c5);outline-offset:-1px;border-color:transparent}
.field{margin-bottom:12px}.field label{display:block;font-weight:600;font-size:.9rem;margin-bottom:4px}
.field.has-error input,.field.has-error select{border-color:#d1242f;background:#fff8f8}
.err{color:#d1242f;font-size:.85rem;margin-top:3px}.hint{color:#656d76;font-size:.82rem;margin-top:2px}
.alert{padding:10px 14px;border-radius:6px;margin:0 0 14px;border:1px solid}
.alert-ok{background:#e9f7ef;border-color:#8fd1a8;color:#0f5132}.alert-err{background:#fdecec;border-color:#f1a9a9;color:#842029}
.alert-info{background:#eaf2fd;border-color:#a8c7f0;color:#0b3d79}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:9px 10px;border-bottom:1px solid #e3e6ea;vertical-align:middle}
th{font-size:.82rem;text-transform:uppercase;letter-spacing:.03em;color:#656d76;background:#fafbfc}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:10px;padding:16px}
.muted{color:#656d76}.small{font-size:.85rem}.row{display:flex;gap:12px;align-items:center}.grow{flex:1}
.pagination{display:flex;gap:6px;margin:16px 0}.pagination a{padding:5px 11px;border:1px solid #d0d7de;border-radius:6px;background:#fff}
.pagination a.current{background:var(--accent,#0b63c5);color:#fff;border-color:var(--accent,#0b63c5)}
dialog{border:none;border-radius:12px;padding:0;box-shadow:0 20px 60px rgba(0,0,0,.3);min-width:380px}
dialog::backdrop{background:rgba(15,20,30,.45)}dialog .dlg-body{padding:20px 22px}dialog .dlg-actions{display:flex;gap:8px;justify-content:flex-end;padding:12px 22px;background:#f6f8fa;border-radius:0 0 12px 12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.78rem;font-weight:600;background:#eef1f4;color:#454c54}
"""


def document(title: str, body: str, css: str = "", script: str = "") -> str:
    """A full HTML page with the shared CSS plus the app's own."""
    js = f"<script>{script}</script>" if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<style>{BASE_CSS}{css}</style></head><body>{body}{js}</body></html>")
