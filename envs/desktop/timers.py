"""An app's pending GLib timers, read from ``/proc`` (x86_64 Linux; elsewhere none are seen).

A GTK app that has finished its work sleeps in ``poll(fds, n, timeout)`` and ``timeout`` is the time
(ms) to its next GLib timer, ``-1`` when none is armed.  A short timeout on an idle app means it will
act soon *on its own* — close a dialog after a save, show a tooltip — with no CPU time or screen
change to announce it, so :meth:`XSession.settle` waits for such a timer to run before it calls the
screen settled.  ``/proc/PID/task/TID/syscall`` gives the blocked call and its arguments; the third
field of ``/proc/PID/task/TID/schedstat`` counts the thread's runs, so a timer that ran and re-armed
the same poll is still seen to have run.
"""

from __future__ import annotations

import os
import platform
import time

#: poll(2) on x86_64; its third argument is the timeout in ms.
_POLL = "7"
#: Timers further away than this (ms) are not waited for (GTK's tooltip delay is 500 ms).
HORIZON_MS = 750


def task_dirs(pids: list[int]) -> list[str]:
    """``/proc/PID/task/TID`` of every thread of ``pids`` (processes already gone are skipped)."""
    out = []
    for pid in pids:
        try:
            out.extend(f"/proc/{pid}/task/{tid}" for tid in os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return out


def pending_timers(pids: list[int], horizon_ms: int = HORIZON_MS) -> dict[str, tuple[int, int]]:
    """Threads of ``pids`` asleep in ``poll`` with a timeout of at most ``horizon_ms`` (none when
    ``horizon_ms`` is 0): ``{"/proc/PID/task/TID": (run count, timeout ms)}``."""
    if horizon_ms <= 0 or platform.machine() != "x86_64":
        return {}
    found = {}
    for path in task_dirs(pids):
        timeout = _poll_timeout(path)
        if timeout is not None and 0 <= timeout <= horizon_ms and (runs := _runs(path)) is not None:
            found[path] = (runs, timeout)
    return found


def wait_for_timers(timers: dict[str, tuple[int, int]], deadline: float, poll: float = 0.005) -> bool:
    """Wait until one of ``timers`` ran (its thread woke up), or the longest timeout (+50 ms) passed,
    or ``deadline`` (``time.monotonic``); ``True`` when a thread woke up."""
    until = min(deadline, time.monotonic() + max(t for _, t in timers.values()) / 1000 + 0.05)
    while time.monotonic() < until:
        time.sleep(poll)
        if any(_runs(path) != runs for path, (runs, _) in timers.items()):
            return True
    return False


def _poll_timeout(path: str) -> int | None:
    try:
        with open(f"{path}/syscall") as handle:
            fields = handle.read().split()
    except OSError:
        return None
    if len(fields) < 4 or fields[0] != _POLL:
        return None
    value = int(fields[3], 16) & 0xFFFFFFFF  # poll's timeout is a C int: the register's low 32 bits
    return value - (1 << 32) if value >= 1 << 31 else value


def _runs(path: str) -> int | None:
    try:
        with open(f"{path}/schedstat") as handle:
            return int(handle.read().split()[2])
    except (OSError, IndexError, ValueError):
        return None
