"""``DesktopEnv``: a real desktop application on a virtual X display, played through screenshots,
the mouse and the keyboard.

Each env instance owns one :class:`~envgym.envs.desktop.xsession.XSession` (Xvfb, a session bus,
Openbox) and one home folder.  ``reset`` stops the app, rewrites the home folder from the task's
state (files, folders, the app's settings), starts the app on it, waits for its window and for the
screen to settle.  Subclasses set ``app_class`` (a :class:`~envgym.envs.desktop.app.DesktopApp`).

**Actions** (the browser's pixel set, plus two): ``click(x, y)`` (``button='right'``),
``double_click(x, y)``, ``right_click(x, y)``, ``move(x, y)``, ``drag(x1, y1, x2, y2)``,
``scroll(dx, dy)``, ``type(text)``, ``key(combo)``, ``wait(seconds)``, ``answer(text)``.  Points
outside the screen, unknown keys and malformed calls are ``info["action_error"]``.  ``answer``
ends the episode; the app's checker scores the state read from the home folder.  A step returns
once the app, the X server, the window manager and the bus are idle, no GLib timer of the app is
due within ``timer_horizon_ms`` (default 750; ``0`` does not wait for timers: faster steps, but a
dialog that closes or a tooltip that opens on a timer shows only in a later observation) and the
screen is still.

**Observations**: ``image`` (PNG, or JPEG with ``image_format="jpeg"``, ``screen_size`` pixels; left
out with ``screenshot=False``),
``window_title`` (the focused window), ``windows`` (every window's title), ``text`` (the task,
the windows, the action list on the first turn), ``instruction``, ``last_action_error``.

**Failures**: a crashed app (killed by a signal or a non-zero exit) or a dead X server, window
manager or bus raises :class:`envgym.InfraError` — never a reward.  With ``exit_on_infra_error``
(set by the container image) the env server process exits instead, so the container stops and the
runtime or warm pool replaces it; in-process, the next ``reset`` starts a fresh display.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from envgym.actions import Call
from envgym.core import Env, Transition
from envgym.errors import InfraError
from envgym.observation import Observation
from envgym.pixel_actions import parse_pixel_action
from envgym.tasks import Task

from envgym.envs.desktop.timers import HORIZON_MS
from envgym.envs.desktop import homedir, xinput
from envgym.envs.desktop.firstscreens import FIRST_SCREENS, LONG_QUIET, state_key
from envgym.envs.desktop.xinput import DESKTOP_ACTIONS
from envgym.envs.desktop.app import DESKTOP_CONFIG, DesktopApp
from envgym.envs.desktop.xsession import XSession, stop_process_group

#: Exit status of an env server that stopped itself after an infrastructure failure.
INFRA_EXIT_STATUS = 70
_HOMES_LOCK = threading.Lock()


class DesktopEnv(Env):
    """A desktop app in a virtual display (see the module docstring)."""

    app_class: ClassVar[type[DesktopApp]]
    #: the id it is registered under (its container serves that id)
    env_id: ClassVar[str]
    default_task_file = "tasks.jsonl"
    default_max_turns = 30
    #: seconds to wait for the app's first window
    launch_timeout: ClassVar[float] = 20.0

    def __init__(self, *, screen_size: tuple[int, int] = (1280, 800), image_format: str = "png",
                 jpeg_quality: int = 80, screenshot: bool = True, settle_timeout: float = 3.0,
                 timer_horizon_ms: int = HORIZON_MS, exit_on_infra_error: bool | None = None,
                 home_root: str | None = None, tasks: Any = None, max_turns: int | None = None,
                 invalid_action_penalty: float = 0.0, render_mode: str | None = None):
        if image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
        width, height = int(screen_size[0]), int(screen_size[1])
        if not (320 <= width <= 3840 and 240 <= height <= 2160):
            raise ValueError(f"screen_size must be between 320x240 and 3840x2160, got {screen_size!r}")
        super().__init__(tasks=tasks, max_turns=max_turns, invalid_action_penalty=invalid_action_penalty,
                         render_mode=render_mode)
        self.app = self.app_class()
        self.screen_size = (width, height)
        self.image_format = image_format
        self.jpeg_quality = int(jpeg_quality)
        self.screenshot = bool(screenshot)
        self.settle_timeout = float(settle_timeout)
        if not 0 <= int(timer_horizon_ms) <= 10_000:
            raise ValueError(f"timer_horizon_ms must be between 0 and 10000, got {timer_horizon_ms!r}")
        self.timer_horizon_ms = int(timer_horizon_ms)
        if exit_on_infra_error is None:
            exit_on_infra_error = os.environ.get("ENVGYM_DESKTOP_EXIT_ON_INFRA_ERROR") == "1"
        self.exit_on_infra_error = bool(exit_on_infra_error)
        self.root = Path(tempfile.mkdtemp(prefix="envgym-desktop-"))
        self.homes = Path(home_root or os.environ.get("ENVGYM_DESKTOP_HOMES") or self.root / "homes")
        #: the home folder, claimed at the first reset (see :meth:`_load`)
        self.home: Path | None = None
        self.session: XSession | None = None
        self.app_process: Any = None
        self.loaded: dict[str, Any] = {}
        self.initial_snapshot: homedir.Snapshot | None = None
        self.last_answer: str | None = None
        self.last_score: dict[str, Any] = {}
        self._parsed: dict[str, dict] = {}
        self._state_key = ""
        self._oracle: Any = None
        self._closed = False
        try:
            self._ensure_session()  # the display starts with the env, so a warm pool's envs have theirs
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(cls, **kwargs: Any) -> Env:
        """The registered entry point: this env in this process when Xvfb and the app are installed
        here (as in its container), else the same env served from its container
        (:class:`~envgym.envs.desktop.incontainer.DesktopInContainer`)."""
        if cls.app_class.available():
            return cls(**kwargs)
        from envgym.envs.desktop.incontainer import DesktopInContainer

        return DesktopInContainer(cls, **kwargs)

    # ------------------------------------------------------------------ env hooks
    def _reset(self, task: Task) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("the env is closed")
        self._load(task.initial_state if task.initial_state is not None else {"files": {}})
        self.last_answer, self.last_score, self._oracle = None, {}, None
        return {}

    def _step(self, call: Call) -> Transition:
        action = parse_pixel_action(call, self.screen_size, DESKTOP_ACTIONS, area="screen")
        if action.name == "answer":
            return self._finish(action.text)
        command_lines = xinput.commands(action)  # raises InvalidAction (unknown key, text too long) before any input
        self._check_health()
        try:
            for argv in command_lines:
                xinput.run_xdotool(argv, self.session.env())
        except InfraError as exc:
            self._infra_failure(f"input failed: {exc}")
        if action.name == "wait":
            time.sleep(action.seconds)
        time.sleep(0.02)  # let the X server hand the input to the app before asking whether it is idle
        self.session.settle([self.app_process.pid], timeout=self.settle_timeout, timer_horizon_ms=self.timer_horizon_ms)
        self._check_health()
        if self.app_process.poll() == 0:
            return Transition(feedback=f"{self.app.title} is closed.")
        return Transition()

    def _finish(self, answer: str) -> Transition:
        self._check_health()
        self.last_answer = answer
        initial, final = self.initial_state(), self.get_state()
        if self.task.reward.kind == "python":
            return Transition(terminated=True, feedback=f"Answer submitted: {answer!r}")
        reward, components = self.app.check(self.task.reward.params, initial, final, answer)
        reward = float(max(0.0, min(1.0, reward)))
        self.last_score = {"reward": reward, **components}
        return Transition(reward=reward, terminated=True, success=reward >= 1.0,
                          feedback=f"Answer submitted: {answer!r}", info={"score": dict(self.last_score)})

    def _observe(self) -> Observation:
        self._check_health()
        windows = self.session.windows()
        focused = next((w for w in reversed(windows) if w.focused), None)
        title = focused.title if focused is not None else ""
        instruction = self.task.instruction if self.task is not None else ""
        lines = [f"Task: {instruction}", f"Screen: {self.screen_size[0]}x{self.screen_size[1]} pixels, attached as the image.",
                 f"Focused window: {title or '(none)'}"]
        if len(windows) > 1:
            lines.append("Open windows: " + "; ".join(w.title or "(untitled)" for w in windows))
        if self.turn == 0:
            lines.append("Actions: " + "; ".join(DESKTOP_ACTIONS.values()))
        obs: Observation = {"text": "\n".join(lines), "instruction": instruction, "window_title": title,  # type: ignore[typeddict-unknown-key]
                            "windows": [w.title for w in windows]}
        if self.screenshot:
            frame = self.session.framebuffer.frame()
            if self.turn == 0:  # a reset's screen: its image is likely encoded already
                obs["image"] = FIRST_SCREENS.image(self._state_key, hashlib.sha1(frame).digest(),
                                                   f"{self.image_format}:{self.jpeg_quality}", lambda: self._encode(frame))
            else:
                obs["image"] = self._encode(frame)
        return obs

    def _encode(self, frame: bytes) -> bytes:
        image = self.session.framebuffer.image(frame)
        buffer = io.BytesIO()
        if self.image_format == "png":
            image.save(buffer, format="PNG", compress_level=1)
        else:
            image.save(buffer, format="JPEG", quality=self.jpeg_quality)
        return buffer.getvalue()

    def screenshot_bytes(self, image_format: str = "png") -> bytes:
        """The screen now, as PNG (or JPEG) bytes (for ``envgym play --screenshots`` and reports)."""
        saved, self.image_format = self.image_format, image_format
        try:
            return self._encode(self.session.framebuffer.frame())
        finally:
            self.image_format = saved

    def anchor(self) -> str | None:
        """Hash of the screen and of the user's files as the app reads them (a saved workbook's bytes
        carry a save time; its parsed state does not).  Parsed files are cached by content."""
        if self.session is None or self.session.framebuffer is None or self.home is None:
            return None
        digest = hashlib.sha1(self.session.framebuffer.frame())
        files = homedir.parse_files(homedir.snapshot(self.home).files, self._read_file)
        digest.update(json.dumps(files, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        if self.home is None:  # nothing loaded yet
            return self._state_of(homedir.Snapshot())
        return self._state_of(homedir.snapshot(self.home, self.app.config_paths))

    def initial_state(self) -> dict[str, Any]:
        """The state the episode started from (parsed lazily from the files written at reset)."""
        return self._state_of(self.initial_snapshot or homedir.Snapshot())

    def _state_of(self, snap: homedir.Snapshot) -> dict[str, Any]:
        return {"files": homedir.parse_files(snap.files, self._read_file), "folders": list(snap.folders),
                "settings": self.app.read_settings(snap.config, self.home), "open": list(self.loaded.get("open", []))}

    def _read_file(self, path: str, data: bytes) -> dict | None:
        key = hashlib.sha256(path.encode() + b"\0" + data).hexdigest()
        if key not in self._parsed:
            scratch = self.root / "scratch"
            scratch.mkdir(exist_ok=True)
            parsed = self.app.read_file(path, data, scratch)
            if len(self._parsed) > 256:
                self._parsed.clear()
            self._parsed[key] = parsed  # type: ignore[assignment]
        return copy.deepcopy(self._parsed[key])

    def set_state(self, state: dict[str, Any]) -> None:
        self._load(state)

    def state_schema(self) -> dict[str, Any]:
        return homedir.state_schema(self.app)

    # ------------------------------------------------------------------ the oracle
    def oracle_action(self) -> Any:
        """The next action of the task's plan (``task.spec["plan"]``), located on the live screen."""
        if self.task is None or not self.task.spec.get("plan"):
            return None
        from envgym.envs.desktop.oracle import PlanRunner

        if self._oracle is None:
            self._oracle = PlanRunner(self.task.spec["plan"], self.app, self)
        return self._oracle.action_for(self.turn)

    def tool_names(self) -> list[str]:
        return list(DESKTOP_ACTIONS)

    # ------------------------------------------------------------------ display and app
    def _load(self, state: dict[str, Any]) -> None:
        """Stop the app, write ``state`` into the home folder, start the app and wait until it is
        drawn (the pointer parked in the middle of the screen, so every reset shows the same screen)."""
        settings = self.app.validate_settings(state.get("settings") if isinstance(state, dict) else None)
        opened = state.get("open", []) if isinstance(state, dict) else []
        if not isinstance(opened, list) or not all(isinstance(p, str) for p in opened):
            raise homedir.StateFormatError("state.open must be a list of paths")
        if self.home is None:
            # claimed now, not when the env is built: a spare env built while the previous episode's
            # env holds ``user`` gets ``user`` too once that env has closed, so the paths the apps
            # show (PCManFM's location bar) are the same in every episode
            self.home = _claim_home(self.homes)
        config = {**DESKTOP_CONFIG, **self.app.config_files(settings, self.home)}
        staging = homedir.stage_home(self.home, state, self.app.write_file, config)  # a bad state stops here
        self._ensure_session()
        self._stop_app()
        old_home = homedir.swap_in(self.home, staging)
        self.loaded = {"open": [homedir.safe_relative(p) for p in opened]}
        self.initial_snapshot = homedir.snapshot(self.home, self.app.config_paths)
        self._state_key = state_key(type(self.app).__name__, str(self.home), self.screen_size, state)
        self.session.move_pointer(self.screen_size[0] // 2, self.screen_size[1] // 2)
        self._start_app()
        self._settle_first_screen()
        if old_home is not None:  # deleted while the env waits for its agent, not before the app starts
            threading.Thread(target=shutil.rmtree, args=(old_home, True), name="envgym-desktop-cleanup", daemon=True).start()

    def _ensure_session(self) -> None:
        if self.session is not None and self.session.dead_process() is None:
            return
        if self.session is not None:
            self._close_session()
        self.session = XSession(self.root / "x", self.screen_size).start()

    def _start_app(self) -> None:
        env = {**self.session.env(), "HOME": str(self.home), "USER": self.home.name, "NO_AT_BRIDGE": "1",
               "GSETTINGS_BACKEND": "keyfile", "XDG_RUNTIME_DIR": str(self.root / "x"), "LANG": "C.UTF-8",
               "TZ": "UTC", "GTK_OVERLAY_SCROLLING": "0"}
        log = open(self.root / "app.log", "ab")
        try:
            self.app_process = subprocess.Popen(self.app.command(self.home, self.loaded), cwd=self.home, env=env,
                                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        pid = self.app_process.pid

        def app_window(windows: list) -> Any:
            if self.app_process.poll() is not None:
                return False  # exited: nothing to wait for
            return next((w for w in windows if w.pid == pid and w.kind == "normal"), None)

        if not self.session.wait_for_window(app_window, self.launch_timeout):
            self._infra_failure(f"{self.app.binary} did not open its window "
                                f"(exit status {self.app_process.poll()}): {self._app_log()}")

    def _settle_first_screen(self) -> None:
        """Wait until the app has drawn the loaded state: until the screen shows the frame this state
        settled on before in this process, else the usual settle and then a long still screen
        (see :mod:`~envgym.envs.desktop.firstscreens`), so every reset of a task shows the same pixels."""
        expected = FIRST_SCREENS.digest(self._state_key)
        timeout = max(self.settle_timeout, 5.0)
        self.session.settle([self.app_process.pid], timeout=timeout, expected=expected,
                            timer_horizon_ms=self.timer_horizon_ms)
        if self.session.frame_digest() != expected:
            self.session.wait_until_stable(quiet=LONG_QUIET, timeout=timeout)
            FIRST_SCREENS.remember(self._state_key, self.session.frame_digest())

    def _stop_app(self) -> None:
        if self.app_process is not None:
            stop_process_group(self.app_process, grace=0.0)
            self.app_process = None

    def _check_health(self) -> None:
        if self.session is None or self.app_process is None:
            raise InfraError("the desktop is not running; call reset()")
        dead = self.session.dead_process()
        if dead is not None:
            self._infra_failure(f"the desktop's {dead} process died: {self.session.log_tail(dead)}")
        status = self.app_process.poll()
        if status not in (None, 0):
            self._infra_failure(f"{self.app.binary} crashed (exit status {status}): {self._app_log()}")

    def _app_log(self) -> str:
        try:
            return (self.root / "app.log").read_text(errors="replace")[-500:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    def _infra_failure(self, message: str) -> None:
        """Report an infrastructure failure: exit the server process (in a container) or raise."""
        if self.exit_on_infra_error:
            print(f"envgym desktop: infrastructure failure, exiting: {message}", file=sys.stderr, flush=True)
            os._exit(INFRA_EXIT_STATUS)
        self._close_session()
        raise InfraError(message)

    def _close_session(self) -> None:
        self._stop_app()
        if self.session is not None:
            self.session.close()
            self.session = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_session()
        if self.home is not None:
            _release_home(self.home)
        shutil.rmtree(self.root, ignore_errors=True)
        super().close()


def _claim_home(homes: Path, wait_s: float = 3.0) -> Path:
    """A home folder under ``homes`` that no other env of this process uses: ``user`` (waiting up to
    ``wait_s`` for an env that is closing to let it go, so paths stay the same from episode to
    episode), else ``user2``, ``user3``…"""
    homes.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    names = ["user"] + [f"user{n}" for n in range(2, 1000)]
    while True:
        with _HOMES_LOCK:
            for name in names[:1] if time.monotonic() < deadline else names:
                try:
                    (homes / f".{name}.claimed").mkdir()
                except FileExistsError:
                    continue
                return homes / name
        if time.monotonic() >= deadline + 1.0:
            raise InfraError(f"no free home folder under {homes}")
        time.sleep(0.05)


def _release_home(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    try:
        (home.parent / f".{home.name}.claimed").rmdir()
    except OSError:
        pass
