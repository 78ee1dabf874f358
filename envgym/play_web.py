"""``envgym play ID --web``: a person plays an env in a browser page served on 127.0.0.1.

The page (``play_web.html`` / ``.js`` / ``.css`` beside this module) shows the current observation —
screenshot, accessibility tree, text, tools, valid actions — and sends actions: clicks on the
screenshot (pixel actions), clicks and fills on the tree's elements (element actions), a form per
tool, and free text.  Rewards, errors, hints and the episode's history update live (long polling).

The episode runs through :func:`envgym.agents.loop.run_episode` with an agent whose ``act`` waits for
the page, so it is recorded like any other (JSONL, final observation, bounded screenshots).

The server drives an env, so it is locked down like the env server: it binds 127.0.0.1 only; every
API call needs the random token from the printed URL (sent in the ``X-Envgym-Token`` header, never
in a query string) and a ``Host`` naming this server (no DNS rebinding); state-changing calls must be
JSON and, from a browser, come from this page's own origin; bodies are capped; the page is static,
builds the DOM from text nodes (never ``innerHTML``) and runs under a strict Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hmac
import json
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envgym.agents.base import Agent
from envgym.recording import ObservationTap, finish_episode, image_size
from envgym.report import format_action
from envgym.trajectory import EpisodeWriter

PAGE_DIR = Path(__file__).parent
PAGE_FILES = {
    "/": ("play_web.html", "text/html; charset=utf-8"),
    "/play_web.js": ("play_web.js", "text/javascript; charset=utf-8"),
    "/play_web.css": ("play_web.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
TOKEN_HEADER = "x-envgym-token"
MAX_BODY_BYTES = 256 * 1024
LONG_POLL_S = 20.0


class NewEpisode(Exception):
    """The player asked for a new episode."""


class StopPlaying(Exception):
    """The player closed the session."""


def page_observation(observation: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of an observation: JSON-safe, the screenshot as a data URI."""
    shown = {key: observation[key] for key in ("text", "instruction", "url", "axtree", "admissible_actions",
                                                "last_action_error") if observation.get(key) is not None}
    shown["tools"] = [t.get("function", t) for t in observation.get("tools") or [] if isinstance(t, dict)]
    image = observation.get("image")
    if isinstance(image, (bytes, bytearray)):
        kind = "jpeg" if bytes(image[:3]) == b"\xff\xd8\xff" else "png"
        shown["image"] = f"data:image/{kind};base64,{base64.b64encode(bytes(image)).decode('ascii')}"
        shown["screen_size"] = image_size(bytes(image))
    return shown


def action_mode(env: Any) -> str:
    """``pixel``, ``element`` or ``text`` — which controls the page offers."""
    unwrapped = getattr(env, "unwrapped", env)
    mode = getattr(unwrapped, "action_set", None)
    if mode in ("pixel", "element"):
        return mode
    tool_names = getattr(unwrapped, "tool_names", ())  # a method locally, a tuple on a RemoteEnv
    names = set(tool_names() if callable(tool_names) else tool_names or ())
    return "pixel" if {"drag", "double_click"} <= names else ("element" if {"fill", "click"} <= names else "text")


class _LockedTap(ObservationTap):
    """The env, stepped under ``lock`` so a hint never reads it mid-step."""

    def __init__(self, env: Any, lock: threading.Lock):
        super().__init__(env)
        self.lock = lock

    def reset(self, **kwargs: Any):
        with self.lock:
            return super().reset(**kwargs)

    def step(self, action: Any):
        with self.lock:
            return super().step(action)


@dataclass
class View:
    """Everything the page shows; ``version`` grows on every change."""

    version: int = 0
    status: str = "starting"  # starting | your-turn | working | over | error | closed
    task_id: Any = None
    turn: int = 0
    observation: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    total_return: float = 0.0
    success: bool | None = None
    message: str = ""
    episodes_recorded: int = 0


class PlaySession:
    """One env played from the page: an episode thread waits in ``act`` for the page's commands."""

    def __init__(self, env: Any, env_id: str, *, task: str | None = None, seed: int | None = None,
                 out: Path | None = None):
        from envgym.agents.hints import HintSource

        self.env_id = env_id
        self.env_lock = threading.Lock()
        self.tap = _LockedTap(env, self.env_lock)
        self.hints = HintSource(self.tap, env_id)
        self.mode = action_mode(env)
        self.task, self.seed, self.out = task, seed, out
        self.view = View()
        self._changed = threading.Condition()
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._waiting = False
        self._pending_action: Any = None
        self.thread = threading.Thread(target=self._play, name="envgym-play-episodes", daemon=True)

    # ------------------------------------------------------------------ the page's side
    def snapshot(self, after: int, timeout_s: float = LONG_POLL_S) -> dict[str, Any]:
        """The view once its version passes ``after`` (or after ``timeout_s``), as JSON-able data."""
        with self._changed:
            self._changed.wait_for(lambda: self.view.version > after, timeout=timeout_s)
            data = dict(self.view.__dict__)
        data.update(env_id=self.env_id, mode=self.mode, out=str(self.out) if self.out else None)
        return data

    def command(self, kind: str, payload: Any = None) -> str | None:
        """Queue ``act`` / ``new`` / ``stop``; returns why it was refused, or ``None``."""
        with self._changed:
            if kind == "act" and not self._waiting:
                return "the env is not waiting for an action (the episode is over or still working)"
            if kind == "act":
                self._waiting = False
                self._update(status="working", message="")
        self._commands.put((kind, payload))
        return None

    def hint(self) -> dict[str, Any]:
        with self._changed:
            if not self._waiting:
                return {"action": None, "note": "hints are given while the env waits for your action"}
        with self.env_lock:
            found = self.hints.hint()
        action = found.action
        return {"action": None if action is None else format_action(action), "note": found.note}

    # ------------------------------------------------------------------ the episode thread
    def _update(self, **changes: Any) -> None:
        with self._changed:
            for key, value in changes.items():
                setattr(self.view, key, value)
            self.view.version += 1
            self._changed.notify_all()

    def await_action(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        if self._pending_action is not None:
            self.hints.record(self._pending_action, observation, info)
        with self._changed:
            self._waiting = True
            self._update(status="your-turn", observation=page_observation(observation), turn=info.get("turn", 0))
        kind, payload = self._commands.get()
        if kind == "new":
            raise NewEpisode()
        if kind == "stop":
            raise StopPlaying()
        self._pending_action = payload
        return payload

    def _on_reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._pending_action = None
        self.hints.reset(observation, info)
        self._update(task_id=info.get("task_id"), history=[], total_return=0.0, success=None, turn=0, message="")

    def _on_turn(self, turn: Any) -> None:
        entry = {"turn": turn.index, "action": format_action(turn.action), "reward": turn.reward,
                 "error": turn.info.get("action_error") or turn.info.get("infra_error") or ""}
        self._update(history=[*self.view.history, entry], total_return=self.view.total_return + turn.reward)

    def _play(self) -> None:
        from envgym.agents.loop import run_episode

        number = 0
        while True:
            seed = None if self.seed is None else self.seed + number
            number += 1
            try:
                episode = run_episode(self.tap, _PageAgent(self), task=self.task, seed=seed, env_id=self.env_id,
                                      on_turn=self._on_turn, on_reset=self._on_reset)
            except NewEpisode:
                continue
            except StopPlaying:
                break
            except Exception as exc:  # the env or the task is broken: say so on the page, keep serving
                from envgym.cli_errors import explain

                self._update(status="error", message=explain(exc).message)
            else:
                self._record(episode)
            if not self._await_next():
                break
        self._update(status="closed")

    def _record(self, episode: Any) -> None:
        finish_episode(episode, self.tap.last)
        if self.out is not None:
            with EpisodeWriter(self.out) as writer:
                writer.write(episode)
        final = page_observation(self.tap.last or {})
        outcome = "success" if episode.success else (f"infra error: {episode.infra_error}" if episode.infra_error else "failed")
        saved = f"; recorded in {self.out}" if self.out else ""
        self._update(status="over", observation=final, success=episode.success,
                     episodes_recorded=self.view.episodes_recorded + (self.out is not None),
                     message=f"episode over: {outcome}, return {episode.total_return:.2f}{saved}")

    def _await_next(self) -> bool:
        """After an episode: ``True`` for a new one, ``False`` to stop."""
        while True:
            kind, _ = self._commands.get()
            if kind in ("new", "stop"):
                return kind == "new"


class _PageAgent(Agent):
    name = "human"

    def __init__(self, session: PlaySession):
        self.session = session

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        return self.session.await_action(observation, info)


# ---------------------------------------------------------------------- HTTP
class PlayServer:
    """The page and its API for one :class:`PlaySession` (see the module docstring for the rules)."""

    def __init__(self, session: PlaySession, token: str | None = None):
        self.session = session
        self.token = token or secrets.token_urlsafe(24)
        self.port = 0
        self.server: Any = None

    @property
    def origins(self) -> set[str]:
        return {f"http://{host}:{self.port}" for host in ("127.0.0.1", "localhost")}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/#token={self.token}"

    def refusal(self, request: Any, *, api: bool, mutating: bool) -> tuple[int, str] | None:
        """``(status, reason)`` when the request must be refused."""
        headers = request.headers
        if headers.get("host") not in {o.split("//", 1)[1] for o in self.origins}:
            return 421, "wrong Host header"
        if not api:
            return None
        if not hmac.compare_digest(headers.get(TOKEN_HEADER, "").encode(), self.token.encode()):
            return 401, "missing or wrong token"
        if headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            return 403, "cross-site request"
        if mutating and headers.get("origin") is not None and headers["origin"] not in self.origins:
            return 403, "foreign Origin"
        if mutating and headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, "send JSON"
        return None

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[
            *(Route(path, self._page) for path in PAGE_FILES),
            Route("/api/state", self._state),
            Route("/api/act", self._act, methods=["POST"]),
            Route("/api/hint", self._hint, methods=["POST"]),
            Route("/api/new", self._new, methods=["POST"]),
            Route("/api/stop", self._stop, methods=["POST"]),
        ])

    @staticmethod
    def _reply(data: Any, status: int = 200) -> Any:
        from starlette.responses import Response

        return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json",
                        headers=SECURITY_HEADERS)

    async def _page(self, request: Any) -> Any:
        from starlette.responses import Response

        refused = self.refusal(request, api=False, mutating=False)
        if refused:
            return Response(refused[1], status_code=refused[0], headers=SECURITY_HEADERS)
        name, media_type = PAGE_FILES[request.url.path]
        return Response((PAGE_DIR / name).read_bytes(), media_type=media_type, headers=SECURITY_HEADERS)

    async def _guarded(self, request: Any, mutating: bool) -> tuple[Any, Any]:
        """``(body, None)`` for an allowed request, ``(None, error reply)`` otherwise."""
        refused = self.refusal(request, api=True, mutating=mutating)
        if refused:
            return None, self._reply({"error": refused[1]}, refused[0])
        if not mutating:
            return {}, None
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return None, self._reply({"error": f"body over {MAX_BODY_BYTES} bytes"}, 413)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return None, self._reply({"error": "body is not JSON"}, 400)
        return (data, None) if isinstance(data, dict) else (None, self._reply({"error": "send a JSON object"}, 400))

    async def _state(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        _, error = await self._guarded(request, mutating=False)
        if error:
            return error
        try:
            after = int(request.query_params.get("after", "-1"))
        except ValueError:
            return self._reply({"error": "after must be an integer"}, 400)
        return self._reply(await run_in_threadpool(self.session.snapshot, after))

    async def _act(self, request: Any) -> Any:
        data, error = await self._guarded(request, mutating=True)
        if error:
            return error
        action = data.get("action")
        if not isinstance(action, (str, dict)) or not action:
            return self._reply({"error": "action must be a non-empty string or a tool call object"}, 400)
        return self._command("act", action)

    def _command(self, kind: str, payload: Any = None) -> Any:
        refused = self.session.command(kind, payload)
        return self._reply({"error": refused}, 409) if refused else self._reply({"ok": True})

    async def _hint(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        _, error = await self._guarded(request, mutating=True)
        return error or self._reply(await run_in_threadpool(self.session.hint))

    async def _new(self, request: Any) -> Any:
        _, error = await self._guarded(request, mutating=True)
        return error or self._command("new")

    async def _stop(self, request: Any) -> Any:
        _, error = await self._guarded(request, mutating=True)
        if error:
            return error
        reply = self._command("stop")
        threading.Thread(target=self._shutdown_when_closed, daemon=True).start()
        return reply

    def _shutdown_when_closed(self) -> None:
        self.session.thread.join(timeout=30)
        if self.server is not None:
            self.server.should_exit = True

    def run(self, port: int = 0, on_ready: Any = None) -> None:
        """Serve on 127.0.0.1 until the page stops the session or the process gets Ctrl-C."""
        import uvicorn

        url = lambda: self.url  # noqa: E731  (the port is known once the socket is bound)

        class _Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                if on_ready is not None and not self.should_exit:
                    on_ready(url())

        config = uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2)
        sock = config.bind_socket()
        self.port = sock.getsockname()[1]
        self.server = _Server(config)
        self.session.thread.start()
        try:
            self.server.run(sockets=[sock])
        finally:
            sock.close()
            if self.session.thread.is_alive():
                self.session.command("stop")
                self.session.thread.join(timeout=10)


def default_out(env_id: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", env_id).strip("-")
    return Path("runs") / "play" / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def play_in_browser(env: Any, env_id: str, *, task: str | None = None, seed: int | None = None,
                    out: Path | None = None, port: int = 0) -> None:
    """``envgym play ID --web``: serve the page, print its URL, play until stopped."""
    out = out or default_out(env_id)
    session = PlaySession(env, env_id, task=task, seed=seed, out=out)

    def ready(url: str) -> None:
        print(f"PLAY {url}", flush=True)
        print(f"open that URL in a browser on this machine; episodes are recorded in {out}; Ctrl-C stops",
              flush=True)

    PlayServer(session).run(port=port, on_ready=ready)
