"""A private asyncio event loop on a daemon thread.

Playwright's async API runs on this loop, so the env's synchronous Gymnasium API works from any
thread — including a thread that is itself running an asyncio loop (where Playwright's sync API
refuses to start).  Callers submit coroutines with :meth:`LoopThread.run`, which blocks the calling
thread (never the private loop) until the coroutine finishes or ``timeout`` passes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One event loop running forever on its own daemon thread."""

    def __init__(self, name: str = "envgym-browser-loop"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the private loop and return its result (re-raising its exception).

        Raises :class:`TimeoutError` after ``timeout`` seconds (the coroutine is cancelled).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run() called from its own loop; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"browser operation did not finish within {timeout} s") from None

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


_SHARED: LoopThread | None = None
_SHARED_LOCK = threading.Lock()


def shared_loop() -> LoopThread:
    """The process-wide browser loop (started on first use, restarted if it died)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or not _SHARED.alive:
            _SHARED = LoopThread()
        return _SHARED
