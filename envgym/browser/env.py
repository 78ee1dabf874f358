"""``BrowserEnv``: a Gymnasium env whose world is a web app driven through a real Chromium.

Subclasses supply the app (:meth:`BrowserEnv.make_app`, an object with ``origin``, ``reset(seed)``,
``get_state()``, ``set_state(state)``, ``close()``) and the task checker (:meth:`BrowserEnv.score`).

**Actions.**  ``action_set="element"`` (default): ``click(bid)``, ``fill(bid, text)``,
``select(bid, option)``, ``press(key)`` / ``press(bid, key)``, ``scroll(dy)`` / ``scroll(bid)``,
``hover(bid)``, ``dblclick(bid)``, ``goto(url)``, ``go_back()``, ``go_forward()``, ``tab_focus(i)``,
``tab_close()``, ``answer(text)``.  ``action_set="pixel"``: ``click(x, y)``, ``double_click(x, y)``,
``move(x, y)``, ``type(text)``, ``key(combo)``, ``scroll(dx, dy)``, ``drag(x1, y1, x2, y2)``,
``answer(text)``.  ``answer`` ends the episode and the task's checker scores the app state (and the
answer text).  Bad actions become ``info["action_error"]``; a dead browser raises
:class:`envgym.InfraError` (``env.infra_failed`` is set) and the next ``reset`` relaunches it.

**Observations.**  ``text`` (instruction, URL, tabs, events, and the ``axtree`` in element mode),
``axtree``, ``url``, ``tabs``, ``instruction``, ``last_action_error`` and, when ``screenshot=True``
(always in pixel mode), ``image`` (JPEG by default, PNG with ``image_format="png"``).

The sync API works from any thread, including inside a running asyncio loop: Playwright's async API
runs on a private loop thread (:mod:`envgym.loop_thread`).
"""

from __future__ import annotations

import copy
from typing import Any

from envgym.actions import Call
from envgym.core import Env, Transition
from envgym.errors import InfraError
from envgym.observation import Observation
from envgym.tasks import Task

from envgym.browser.launcher import BrowserHost, shared_host
from envgym.loop_thread import LoopThread
from envgym.browser.session import ELEMENT_ACTIONS, PIXEL_ACTIONS, BrowserSession


class BrowserEnv(Env):
    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}
    default_max_turns = 40

    def __init__(
        self,
        *,
        action_set: str = "element",
        screenshot: bool = False,
        image_format: str = "jpeg",
        viewport: tuple[int, int] = (1280, 800),
        action_timeout: float = 5.0,
        own_browser: bool = False,
        headless: bool = True,
        tasks: Any = None,
        max_turns: int | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ):
        if action_set not in ("element", "pixel"):
            raise ValueError(f"action_set must be 'element' or 'pixel', got {action_set!r}")
        if image_format not in ("jpeg", "png"):
            raise ValueError(f"image_format must be 'jpeg' or 'png', got {image_format!r}")
        super().__init__(tasks=tasks, max_turns=max_turns, invalid_action_penalty=invalid_action_penalty,
                         render_mode=render_mode)
        self.action_set = action_set
        self.screenshot = bool(screenshot) or action_set == "pixel"
        self.image_format = image_format
        self.viewport = (int(viewport[0]), int(viewport[1]))
        self.action_timeout = float(action_timeout)
        self.host: BrowserHost = BrowserHost(headless=headless) if own_browser else shared_host()
        self._own_browser = own_browser
        self.loop: LoopThread = self.host.loop
        self.app = self.make_app()
        self.session = BrowserSession(self.host, self.app.origin, viewport=self.viewport,
                                      action_timeout=self.action_timeout)
        self.infra_failed = False
        self.initial_state: dict[str, Any] | None = None
        self.last_answer: str | None = None
        self.last_score: dict[str, Any] = {}
        self._obs: dict[str, Any] | None = None
        self._closed = False

    # ------------------------------------------------------------------ for subclasses
    def make_app(self) -> Any:
        """The app this env drives: ``origin``, ``reset(seed)``, ``get_state()``, ``set_state()``, ``close()``."""
        raise NotImplementedError

    def score(self, task: Task, initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
        """The task's reward in [0, 1] and named components, from the initial and final app state."""
        raise NotImplementedError

    def start_path(self, task: Task) -> str:
        """The task's first page: a path of the app (``spec["start_path"]``, default ``/``)."""
        path = str(task.spec.get("start_path", "/"))
        if not path.startswith("/") or path.startswith("//") or "\\" in path:
            raise ValueError(f"task {task.task_id!r}: start_path must be a path of the app such as '/cart', got {path!r}")
        return path

    # ------------------------------------------------------------------ env hooks
    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        try:
            return self.loop.run(coro, timeout=timeout or (self.action_timeout * 4 + 10))
        except TimeoutError as exc:
            self.infra_failed = True
            raise InfraError(f"the browser stopped responding: {exc}") from None
        except InfraError:
            self.infra_failed = True
            raise

    def _reset(self, task: Task) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("the env is closed")
        if task.initial_state is not None:
            self.app.set_state(task.initial_state)
        else:
            self.app.reset(seed=task.seed if task.seed is not None else 0)
        self.initial_state = copy.deepcopy(self.app.get_state())
        self.last_answer = None
        self.last_score = {}
        relaunch = self.infra_failed or not self.host.connected
        self._run(self.session.open(self.app.origin + self.start_path(task)), timeout=60)
        self.infra_failed = False
        self._obs = self._run(self._observe_async())
        return {"relaunched_browser": True} if relaunch and self.host.launches > 1 else {}

    def _step(self, call: Call) -> Transition:
        self._obs = None
        if call.is_call and call.name == "answer":
            text = call.argument(0, "text", "")
            self.last_answer = "" if text is None else str(text)
            final = self.app.get_state()
            reward, components = self.score(self.task, self.initial_state or {}, final, self.last_answer)
            reward = float(max(0.0, min(1.0, reward)))
            self.last_score = {"reward": reward, **components}
            return Transition(reward=reward, terminated=True, success=reward >= 1.0,
                              feedback=f"Answer submitted: {self.last_answer!r}", info={"score": dict(self.last_score)})
        outcome = self._run(self._act_and_observe(call))
        return Transition(feedback=outcome.feedback)

    async def _act_and_observe(self, call: Call) -> Any:
        outcome = await self.session.act(call, self.action_set)
        self._obs = await self._observe_async()
        return outcome

    async def _observe_async(self) -> dict[str, Any]:
        return await self.session.observe(axtree=self.action_set == "element", screenshot=self.screenshot,
                                          image_format=self.image_format)

    def _observe(self) -> Observation:
        if self._obs is None:
            self._obs = self._run(self._observe_async())
        raw = self._obs
        instruction = self.task.instruction if self.task is not None else ""
        lines = [f"Task: {instruction}", f"URL: {raw['url']}"]
        if len(raw.get("tabs", [])) > 1:
            lines.append("Tabs: " + "; ".join(
                f"[{t['index']}]{'*' if t['active'] else ''} {t['title']} ({t['url']})" for t in raw["tabs"]))
        if self.turn == 0:
            table = ELEMENT_ACTIONS if self.action_set == "element" else PIXEL_ACTIONS
            lines.append("Actions: " + "; ".join(table.values()))
        if self.action_set == "element":
            scroll = raw.get("scroll") or {}
            if scroll.get("height", 0) > scroll.get("viewport", 0):
                lines.append(f"Scroll: y={scroll['y']} of {scroll['height']} (viewport {scroll['viewport']})")
            lines.append("Page:")
            lines.append(raw.get("axtree", ""))
        else:
            lines.append(f"Screenshot: {self.viewport[0]}x{self.viewport[1]} pixels, attached as the image.")
        obs: Observation = {"text": "\n".join(lines), "url": raw["url"], "instruction": instruction}
        obs["tabs"] = [dict(t) for t in raw.get("tabs", [])]  # type: ignore[typeddict-unknown-key]
        if "axtree" in raw:
            obs["axtree"] = raw["axtree"]
        if "image" in raw:
            obs["image"] = raw["image"]
        return obs

    def get_state(self) -> dict[str, Any]:
        return self.app.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.app.set_state(state)
        if self.task is not None and self.session.context is not None:
            self._run(self.session.page.reload(wait_until="load"))
            self._obs = None

    def anchor(self) -> str | None:
        from envgym.hashing import state_hash

        url = self._obs["url"] if self._obs else ""
        return state_hash({"state": self.app.get_state(), "url": url})

    def oracle_action(self) -> Any:
        actions = self.task.golden.actions if self.task is not None else None
        if actions and self.turn < len(actions):
            return actions[self.turn]
        return None

    def tool_names(self) -> list[str]:
        return list(ELEMENT_ACTIONS if getattr(self, "action_set", "element") == "element" else PIXEL_ACTIONS)

    def render(self) -> Any:
        if self.render_mode == "rgb_array":
            raise NotImplementedError("rgb_array rendering needs an image decoder; use obs['image'] (JPEG/PNG bytes)")
        return super().render()

    def screenshot_bytes(self, image_format: str = "png") -> bytes:
        """A screenshot of the current page (for reports and debugging)."""
        raw = self._run(self.session.observe(axtree=False, screenshot=True, image_format=image_format))
        return raw["image"]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.loop.alive:
                self.loop.run(self.session.close(), timeout=15)
                if self._own_browser:
                    self.loop.run(self.host.close(), timeout=15)
        except Exception:
            pass
        try:
            self.app.close()
        except Exception:
            pass
        super().close()
