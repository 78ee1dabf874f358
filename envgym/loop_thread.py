"""An asyncio event loop on its own daemon thread: :class:`LoopThread`.

The one place envgym runs a loop beside the caller's: the browser envs (Playwright's async API, so
the sync Gymnasium API works from any thread, including one that runs its own loop), the
OpenAI-compatible backend's blocking ``generate``, the mock web apps' servers and the trainer's
rollout loop.  Callers submit coroutines with :meth:`LoopThread.run` (blocks the calling thread,
never the loop) or :meth:`LoopThread.submit` (returns a ``concurrent.futures.Future``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One event loop running forever on its own daemon thread (started on construction)."""

    def __init__(self, name: str = "envgym-loop"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; its future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop's thread."""
        self.loop.call_soon_threadsafe(callback, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and return its result (re-raising its exception).

        Raises :class:`TimeoutError` after ``timeout`` seconds (the coroutine is cancelled).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run() called from its own loop; await the coroutine instead")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:  # the builtin TimeoutError: maybe the coroutine's own
            if future.done():
                raise
            future.cancel()
            raise TimeoutError(f"{self._thread.name}: operation did not finish within {timeout} s") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread; the loop is closed once the thread has ended."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
