"""Launching Chromium under Playwright, and finding its processes.

Chromium comes from the system (Debian's ``chromium`` package; ``scripts/install-browser.sh``), not
from ``playwright install``.  ``ENVGYM_CHROMIUM`` overrides the executable.  Every launch carries a
marker flag (``--envgym-host=<uuid>``) so its process tree can be found in ``/proc`` (memory
accounting in ``bench/web.py``, killing it in tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from typing import Any

from envgym.browser.loop import shared_loop
from envgym.loop_thread import LoopThread

CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--font-render-hinting=none",
    # Only loopback resolves: pages can never reach the internet, whatever they link to.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
)


_REFUSING: socket.socket | None = None
_REFUSING_LOCK = threading.Lock()


def refusing_proxy() -> str:
    """``http://127.0.0.1:PORT`` of a port this process holds bound but never listens on, so every
    connection to it is refused.  Browser contexts use it as their proxy for everything but their
    app's own ``host:port``: whatever a page does (fetch, WebSocket, a worker, a redirect), no
    connection reaches any other port or host."""
    global _REFUSING
    with _REFUSING_LOCK:
        if _REFUSING is None:
            held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.bind(("127.0.0.1", 0))
            _REFUSING = held
        return f"http://127.0.0.1:{_REFUSING.getsockname()[1]}"


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing (run ``scripts/install-browser.sh``)."""


def chromium_path() -> str:
    """The Chromium executable: ``$ENVGYM_CHROMIUM``, then ``chromium`` / ``chromium-browser`` on PATH."""
    override = os.environ.get("ENVGYM_CHROMIUM")
    if override:
        if shutil.which(override) is None:  # an executable file, or a name on PATH
            raise BrowserUnavailable(f"Chromium not found at {override} (from ENVGYM_CHROMIUM): set ENVGYM_CHROMIUM to a "
                                     "Chromium executable (or unset it), or run scripts/install-browser.sh")
        return override
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    raise BrowserUnavailable("no Chromium found; run scripts/install-browser.sh or set ENVGYM_CHROMIUM")


_PLAYWRIGHT: Any = None


async def _playwright() -> Any:
    global _PLAYWRIGHT
    if _PLAYWRIGHT is None:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BrowserUnavailable("playwright is not installed (pip install 'envgym[web]')") from exc
        _PLAYWRIGHT = await async_playwright().start()
    return _PLAYWRIGHT


class BrowserHost:
    """One Chromium process, (re)launched on demand on a :class:`LoopThread`."""

    def __init__(self, loop: LoopThread | None = None, *, headless: bool = True, extra_args: tuple[str, ...] = ()):
        self.loop = loop or shared_loop()
        self.headless = headless
        self.extra_args = tuple(extra_args)
        self.marker = uuid.uuid4().hex[:16]
        self._browser: Any = None
        self.launches = 0

    @property
    def connected(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def browser(self) -> Any:
        """The running browser, launching (or relaunching after a crash) when needed."""
        if not self.connected:
            if self._browser is not None:
                try:
                    await self._browser.close()
                except Exception:
                    pass
            pw = await _playwright()
            self.marker = uuid.uuid4().hex[:16]
            self._browser = await pw.chromium.launch(
                executable_path=chromium_path(),
                headless=self.headless,
                args=[*CHROMIUM_ARGS, *self.extra_args, f"--envgym-host={self.marker}"],
            )
            self.launches += 1
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception:
                pass
            self._browser = None

    def pids(self) -> list[int]:
        """PIDs of this Chromium's process tree (main process first); ``[]`` if none is running."""
        return process_tree(f"--envgym-host={self.marker}")


def _proc_table() -> dict[int, tuple[int, bytes]]:
    table: dict[int, tuple[int, bytes]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        table[int(entry)] = (ppid, cmdline)
    return table


def process_tree(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (roots) and all their descendants."""
    table = _proc_table()
    needle = marker.encode()
    roots = [pid for pid, (ppid, cmd) in table.items() if needle in cmd and not (table.get(ppid, (0, b""))[1].find(needle) >= 0)]
    found = list(roots)
    frontier = list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in found]
        found.extend(children)
        frontier.extend(children)
    return found


def rss_bytes(pids: list[int]) -> int:
    """Sum of resident set sizes of ``pids`` (from ``/proc/PID/statm``)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * page
        except OSError:
            continue
    return total


def pss_bytes(pids: list[int]) -> int:
    """Sum of proportional set sizes (shared pages split between their users) from
    ``/proc/PID/smaps_rollup``: unlike summed RSS it does not count shared libraries once per process."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


_SHARED_HOST: BrowserHost | None = None


def shared_host() -> BrowserHost:
    """The process-wide browser: envs share one Chromium, each in its own isolated context."""
    global _SHARED_HOST
    loop = shared_loop()
    if _SHARED_HOST is None or _SHARED_HOST.loop is not loop:
        _SHARED_HOST = BrowserHost(loop)
    return _SHARED_HOST
