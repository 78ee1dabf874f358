"""One virtual desktop: an Xvfb display, a D-Bus session bus and the Openbox window manager.

:class:`XSession` starts the three processes (each in its own process group), reads the screen
straight from Xvfb's framebuffer file (``-fbdir``: the screen is an XWD image that Xvfb keeps
``mmap``-ed, so a screenshot is a memory copy, no X round trip), lists the windows the window
manager manages (EWMH properties, read with python-xlib) and tells when the screen has stopped
changing.  Nothing here knows about apps or tasks.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import select
import signal
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envgym.envs.desktop.timers import HORIZON_MS, pending_timers, task_dirs, wait_for_timers
from envgym.errors import InfraError

#: Openbox configuration: one desktop, the Clearlooks theme, application windows maximized (dialogs
#: keep their own size), no key bindings that an agent could hit by accident (Alt+F4 and the like
#: are the apps' business), no root-menu on clicks on the background.
OPENBOX_RC = """<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <resistance><strength>10</strength><screen_edge_strength>20</screen_edge_strength></resistance>
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy><center>yes</center></placement>
  <theme><name>Clearlooks</name><titleLayout>NLIMC</titleLayout><animateIconify>no</animateIconify>
    <font place="ActiveWindow"><name>DejaVu Sans</name><size>9</size><weight>bold</weight></font>
    <font place="InactiveWindow"><name>DejaVu Sans</name><size>9</size><weight>bold</weight></font>
  </theme>
  <desktops><number>1</number><popupTime>0</popupTime></desktops>
  <keyboard></keyboard>
  <mouse><dragThreshold>4</dragThreshold><doubleClickTime>400</doubleClickTime>
    <context name="Frame"><mousebind button="A-Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind></context>
    <context name="Titlebar">
      <mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Left" action="Drag"><action name="Move"/></mousebind>
      <mousebind button="Left" action="DoubleClick"><action name="ToggleMaximize"/></mousebind>
    </context>
    <context name="Client"><mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Right" action="Press"><action name="Focus"/><action name="Raise"/></mousebind></context>
    <context name="Close"><mousebind button="Left" action="Click"><action name="Close"/></mousebind></context>
    <context name="Maximize"><mousebind button="Left" action="Click"><action name="ToggleMaximize"/></mousebind></context>
    <context name="Iconify"><mousebind button="Left" action="Click"><action name="Iconify"/></mousebind></context>
  </mouse>
  <applications><application type="normal"><maximized>yes</maximized></application></applications>
</openbox_config>
"""
#: The desktop background (a muted blue-grey), RGB.
BACKGROUND = 0x3B4A5A


@dataclass(frozen=True)
class Window:
    """A top-level window as the window manager sees it; ``x, y, width, height``: its client area
    in screen pixels."""

    wid: int
    title: str
    wm_class: str
    pid: int
    x: int
    y: int
    width: int
    height: int
    kind: str  # normal, dialog, utility, ...
    maximized: bool
    focused: bool

    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


class Framebuffer:
    """Xvfb's screen as an ``mmap`` of its XWD file (``-fbdir``)."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        header = struct.unpack(">25I", self._map[:100])
        header_size, self.width, self.height = header[0], header[4], header[5]
        self.bytes_per_line, colormap_entries = header[12], header[19]
        self._offset = header_size + colormap_entries * 12
        self._size = self.bytes_per_line * self.height

    def frame(self) -> bytes:
        """The raw pixels (BGRX rows) as they are now."""
        return self._map[self._offset:self._offset + self._size]

    def image(self, frame: bytes | None = None) -> Any:
        """The screen (or ``frame``) as an RGB ``PIL.Image``."""
        from PIL import Image

        return Image.frombuffer("RGB", (self.width, self.height), frame or self.frame(), "raw", "BGRX",
                                self.bytes_per_line, 1)

    def close(self) -> None:
        self._map.close()
        self._file.close()


class XSession:
    """Xvfb + session bus + Openbox under ``root`` (a private directory); ``env()`` is the process
    environment for apps on this display."""

    def __init__(self, root: Path, size: tuple[int, int] = (1280, 800), start_timeout: float = 15.0):
        self.root = Path(root)
        self.size = (int(size[0]), int(size[1]))
        self.start_timeout = float(start_timeout)
        self.display_name = ""
        self.bus_address = ""
        self.processes: dict[str, subprocess.Popen] = {}
        self.framebuffer: Framebuffer | None = None
        self._x: Any = None
        self._atoms: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> XSession:
        (self.root / "fb").mkdir(parents=True, exist_ok=True)
        try:
            self._start_xvfb()
            self._start_bus()
            self._connect()
            self._start_wm()
        except BaseException:
            self.close()
            raise
        return self

    def _spawn(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                       cwd=self.root, **kwargs)
        finally:
            log.close()
        self.processes[name] = process
        return process

    def _start_xvfb(self) -> None:
        read_end, write_end = os.pipe()
        try:
            self._spawn("xvfb", ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{self.size[0]}x{self.size[1]}x24",
                                 "-fbdir", str(self.root / "fb"), "-nolisten", "tcp", "-extension", "GLX", "-dpi", "96",
                                 "-noreset"], pass_fds=(write_end,))
            os.close(write_end)
            number = self._read_line(read_end, "Xvfb")
        finally:
            os.close(read_end)
        self.display_name = f":{number}"
        self.framebuffer = Framebuffer(self.root / "fb" / "Xvfb_screen0")

    def _read_line(self, fd: int, what: str) -> str:
        deadline = time.monotonic() + self.start_timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise InfraError(f"{what} did not start within {self.start_timeout:g} s: {self.log_tail(what.lower())}")
            chunk = os.read(fd, 64)
            if not chunk:
                raise InfraError(f"{what} exited at start: {self.log_tail(what.lower())}")
            data += chunk
        return data.decode().strip()

    def _start_bus(self) -> None:
        socket = self.root / "bus"
        self._spawn("dbus", ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address=unix:path={socket}"],
                    env=self.env(bus=False))
        self._wait(socket.exists, "the session bus")
        self.bus_address = f"unix:path={socket}"

    def _connect(self) -> None:
        from Xlib import display as xdisplay

        self._x = xdisplay.Display(self.display_name)
        root = self._x.screen().root
        root.change_attributes(background_pixel=BACKGROUND)
        root.clear_area(0, 0, 0, 0)
        self._x.sync()

    def _start_wm(self) -> None:
        rc = self.root / "openbox-rc.xml"
        rc.write_text(OPENBOX_RC)
        self._spawn("openbox", ["openbox", "--config-file", str(rc)], env=self.env())
        self._wait(lambda: self._root_property("_NET_SUPPORTING_WM_CHECK") is not None, "the window manager")

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            dead = self.dead_process()
            if dead:
                raise InfraError(f"{dead} exited while starting {what}: {self.log_tail(dead)}")
            if time.monotonic() > deadline:
                raise InfraError(f"{what} did not start within {self.start_timeout:g} s")
            time.sleep(0.005)

    def env(self, bus: bool = True) -> dict[str, str]:
        """The environment of a process on this display (``DISPLAY``, the session bus)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "DISPLAY"))}
        env["DISPLAY"] = self.display_name
        if bus and self.bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def dead_process(self) -> str | None:
        """The name of a session process that has exited, or ``None``."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def log_tail(self, name: str, chars: int = 600) -> str:
        try:
            return (self.root / f"{name}.log").read_text(errors="replace")[-chars:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop every process (window manager and bus first, the X server last)."""
        if self._x is not None:
            try:
                self._x.close()
            except Exception:
                pass
            self._x = None
        if self.framebuffer is not None:
            self.framebuffer.close()
            self.framebuffer = None
        for name in ("openbox", "dbus", "xvfb"):
            process = self.processes.pop(name, None)
            if process is not None:
                stop_process_group(process)

    # ------------------------------------------------------------------ windows
    def atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = self._x.intern_atom(name)
        return self._atoms[name]

    def _root_property(self, name: str) -> Any:
        from Xlib import X

        prop = self._x.screen().root.get_full_property(self.atom(name), X.AnyPropertyType)
        return None if prop is None else prop.value

    def windows(self) -> list[Window]:
        """The managed top-level windows, bottom to top (``_NET_CLIENT_LIST_STACKING``)."""
        from Xlib import error as xerror

        stacking = self._root_property("_NET_CLIENT_LIST_STACKING")
        active = self._root_property("_NET_ACTIVE_WINDOW")
        active_id = int(active[0]) if active is not None and len(active) else 0
        out = []
        for wid in [] if stacking is None else list(stacking):
            try:
                out.append(self._window(int(wid), active_id))
            except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
                continue  # closed while we looked
        return out

    def _window(self, wid: int, active_id: int) -> Window:
        from Xlib import Xatom

        window = self._x.create_resource_object("window", wid)
        name = window.get_full_property(self.atom("_NET_WM_NAME"), self.atom("UTF8_STRING"))
        title = name.value.decode("utf-8", "replace") if name is not None else (window.get_wm_name() or "")
        if isinstance(title, bytes):
            title = title.decode("latin-1")
        wm_class = window.get_wm_class() or ("", "")
        pid = window.get_full_property(self.atom("_NET_WM_PID"), Xatom.CARDINAL)
        kinds = window.get_full_property(self.atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM)
        states = window.get_full_property(self.atom("_NET_WM_STATE"), Xatom.ATOM)
        state_atoms = set(states.value) if states is not None else set()
        geometry = window.get_geometry()
        origin = self._x.screen().root.translate_coords(window, 0, 0)
        kind = "normal"
        if kinds is not None and len(kinds.value):
            kind = self._x.get_atom_name(kinds.value[0]).replace("_NET_WM_WINDOW_TYPE_", "").lower()
        maximized = {self.atom("_NET_WM_STATE_MAXIMIZED_VERT"), self.atom("_NET_WM_STATE_MAXIMIZED_HORZ")} <= state_atoms
        return Window(wid=wid, title=title, wm_class=wm_class[1], pid=int(pid.value[0]) if pid is not None else 0,
                      x=origin.x, y=origin.y, width=geometry.width, height=geometry.height, kind=kind,
                      maximized=maximized, focused=wid == active_id)

    def wait_for_window(self, found: Any, timeout: float) -> Any:
        """Wait until ``found(windows)`` returns something other than ``None`` (a window; ``False`` to
        give up) and return it (``None`` when ``timeout`` s pass first), looking
        again whenever a property of the root window changes — the window manager listing a window —
        and at least every 50 ms, instead of asking the X server over and over while the app starts."""
        from Xlib import X

        root = self._x.screen().root
        root.change_attributes(event_mask=X.PropertyChangeMask)
        deadline = time.monotonic() + timeout
        try:
            while True:
                window = found(self.windows())
                remaining = deadline - time.monotonic()
                if window is not None or remaining <= 0:
                    return window
                if not self._x.pending_events():
                    select.select([self._x.fileno()], [], [], min(0.05, remaining))
                while self._x.pending_events():
                    self._x.next_event()
        finally:
            root.change_attributes(event_mask=X.NoEventMask)
            self._x.sync()
            while self._x.pending_events():
                self._x.next_event()

    def move_pointer(self, x: int, y: int) -> None:
        """Put the pointer at ``(x, y)`` (no input event for the apps: a warp, as ``xdotool mousemove``)."""
        self._x.screen().root.warp_pointer(int(x), int(y))
        self._x.sync()

    def popups(self) -> list[tuple[int, int, int, int]]:
        """Open menus (override-redirect windows on screen that are not tooltips) as ``(x, y, width,
        height)``, bottom to top."""
        from Xlib import X, Xatom
        from Xlib import error as xerror

        tooltip = self.atom("_NET_WM_WINDOW_TYPE_TOOLTIP")
        out = []
        for child in self._x.screen().root.query_tree().children:
            try:
                attributes = child.get_attributes()
                if not attributes.override_redirect or attributes.map_state != X.IsViewable:
                    continue
                kinds = child.get_full_property(self.atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM)
                geometry = child.get_geometry()
            except (xerror.BadWindow, xerror.BadDrawable):
                continue
            if kinds is not None and tooltip in kinds.value:
                continue
            if geometry.x >= 0 and geometry.y >= 0 and geometry.width > 20 and geometry.height > 20:
                out.append((geometry.x, geometry.y, geometry.width, geometry.height))
        return out

    # ------------------------------------------------------------------ the screen
    def settle(self, pids: list[int], *, quiet: float = 0.08, timeout: float = 3.0, expected: bytes | None = None,
               timer_horizon_ms: int = HORIZON_MS) -> bool:
        """Wait until the processes ``pids`` (the app), the X server, the window manager and the bus
        are idle — every thread asleep and no CPU time used for ``quiet`` s — and no GLib timer of
        the app is due within ``timer_horizon_ms`` (``0``: timers are not waited for), and then until the
        screen is still for 40 ms (``False`` when that takes longer than ``timeout`` s: an animation, a
        busy app).  Idleness, not a still screen alone, says an app has finished: one that maps its
        window and then loads a file shows a still, empty window for as long as the loading takes;
        and an idle app with a timer due (Mousepad closing its Save dialog ~0.25 s after Enter, a
        tooltip) changes the screen later with no sign of work before.  After two timers that ran
        without changing the screen no more are waited for (a periodic one would hold every step).
        ``expected``: the SHA-1 digest of the frame this should end on; seeing it ends the wait."""
        deadline = time.monotonic() + timeout
        watched = [*pids, *(process.pid for process in self.processes.values())]
        screens_before_timers: list[bytes] = []
        while self._wait_idle(watched, quiet, deadline, expected):
            timers = pending_timers(pids, timer_horizon_ms)
            if not timers or _timers_change_nothing(screens_before_timers, self.frame_digest()):
                break
            wait_for_timers(timers, deadline)
        else:
            if expected is not None and self.frame_digest() == expected:
                return True
        # idle processes leave a still screen: a short look confirms it (Xvfb may be drawing what it was sent)
        return self.wait_until_stable(quiet=0.04, timeout=max(0.0, deadline - time.monotonic()))

    def _wait_idle(self, pids: list[int], quiet: float, deadline: float, expected: bytes | None) -> bool:
        """Wait until ``pids`` used no CPU for ``quiet`` s (``True``); ``False`` at ``deadline`` or as
        soon as the screen shows ``expected``."""
        last, since = _cpu_ticks(pids), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.01)
            if expected is not None and self.frame_digest() == expected:
                return False
            ticks = _cpu_ticks(pids)
            if ticks is None or ticks != last:
                last, since = ticks, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
        return False

    def frame_digest(self) -> bytes:
        """SHA-1 digest of the screen now."""
        assert self.framebuffer is not None
        return hashlib.sha1(self.framebuffer.frame()).digest()

    def wait_until_stable(self, *, quiet: float = 0.1, timeout: float = 3.0, poll: float = 0.02) -> bool:
        """Wait until the screen has not changed for ``quiet`` s (``False`` when it still changes after
        ``timeout`` s)."""
        assert self.framebuffer is not None
        deadline = time.monotonic() + timeout
        last = self.framebuffer.frame()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(poll)
            frame = self.framebuffer.frame()
            now = time.monotonic()
            if frame != last:
                last, since = frame, now
            elif now - since >= quiet:
                return True
        return False


def _timers_change_nothing(screens: list[bytes], screen: bytes, patience: int = 2) -> bool:
    """Record ``screen`` (the frame before a wait on timers) in ``screens``; ``True`` when the last
    ``patience`` waits left it as it is (the timers are not drawing anything)."""
    screens.append(screen)
    return len(screens) > patience and len(set(screens[-patience - 1:])) == 1


def _cpu_ticks(pids: list[int]) -> int | None:
    """CPU clock ticks used so far by every thread of ``pids``, or ``None`` while one of them runs
    (a runnable thread is not idle, even when it has not been scheduled yet)."""
    total = 0
    for path in task_dirs(pids):
        try:
            with open(f"{path}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] in (b"R", b"D"):
            return None
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def stop_process_group(process: subprocess.Popen, grace: float = 1.0) -> None:
    """SIGTERM the process group of ``process``, SIGKILL what is left after ``grace`` s, reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # whatever the group left behind (a forked helper) goes too
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
