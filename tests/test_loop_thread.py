"""envgym.loop_thread.LoopThread: the one event-loop-on-a-thread helper."""

import asyncio
import threading
import time

import pytest

from envgym.loop_thread import LoopThread


def test_runs_coroutines_on_its_own_thread_and_returns_their_results():
    loop = LoopThread("test-loop")
    try:
        async def where() -> str:
            await asyncio.sleep(0)
            return threading.current_thread().name

        assert loop.run(where()) == "test-loop"
        assert loop.submit(where()).result(timeout=5) == "test-loop"
    finally:
        loop.stop()
    assert not loop.alive and loop.loop.is_closed()


def test_a_timeout_cancels_but_a_coroutines_own_timeout_error_passes_through():
    loop = LoopThread()
    cancelled = threading.Event()
    try:
        async def forever() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        started = time.monotonic()
        with pytest.raises(TimeoutError, match="did not finish within 0.2 s"):
            loop.run(forever(), timeout=0.2)
        assert time.monotonic() - started < 5 and cancelled.wait(5)

        class Own(TimeoutError):
            pass

        async def fails() -> None:
            raise Own("the coroutine's own timeout")

        with pytest.raises(Own, match="own timeout"):
            loop.run(fails(), timeout=5)
    finally:
        loop.stop()


def test_run_from_the_loop_itself_is_refused():
    loop = LoopThread()
    try:
        async def nested() -> None:
            coro = asyncio.sleep(0)
            try:
                loop.run(coro)
            finally:
                coro.close()

        with pytest.raises(RuntimeError, match="own loop"):
            loop.run(nested())
    finally:
        loop.stop()
