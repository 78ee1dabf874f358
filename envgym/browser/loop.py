"""The process-wide browser loop: one :class:`envgym.loop_thread.LoopThread` that Playwright's async
API runs on, so the env's synchronous Gymnasium API works from any thread — including a thread that
is itself running an asyncio loop (where Playwright's sync API refuses to start)."""

from __future__ import annotations

import threading

from envgym.loop_thread import LoopThread

_SHARED: LoopThread | None = None
_SHARED_LOCK = threading.Lock()


def shared_loop() -> LoopThread:
    """The process-wide browser loop (started on first use, restarted if it died)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or not _SHARED.alive:
            _SHARED = LoopThread("envgym-browser-loop")
        return _SHARED
