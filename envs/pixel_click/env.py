"""``envgym/PixelClick-v0``: click the button the instruction names, on a screenshot, with pixel clicks.

**Task family.**  A page of 3–4 coloured, labelled buttons whose positions, sizes, colours and labels
come from the task seed (:mod:`envgym.envs.pixel_click.layout`); the instruction names the target
("Click the green 'Save' button.").  Splits: a seed's split is decided by a hash of its whole
layout, so no held-out layout ever occurs in training (``task_split("train" | "test")``, ids
``click-<split>-s<seed>``).

**Distractors.**  ``distractors="colored"`` (default): every button has its own colour, so the policy
must bind the instruction's colour to the page.  ``"disabled"``: the other buttons are drawn greyed
out (disabled controls), so the target is also the only enabled one — the task is then finding and
hitting the active control from pixels, without reading the instruction.

**Observation.**  Screenshot only: ``image`` (PNG of the ``width x height`` page), and ``text`` with the
instruction and the action syntax — no DOM, no accessibility tree, no coordinates.

**Actions.**  ``click(x, y)`` in page pixels (:func:`envgym.pixel_actions.parse_pixel_action`); any other
action is an invalid action.

**Rewards.**  A click inside the target: ``1.0``, success, episode over.  A miss ends the episode after
``max_turns`` clicks (default 3; 1 makes it a one-shot grounding task); earlier misses are drawn on
the next screenshot as small crosses.
With ``shaping="gaussian"`` the last miss earns ``0.5 · exp(-d² / 2σ²)``, ``d`` its distance in pixels
to the target box (``σ = sigma``) — a graded signal for learning from scratch; ``shaping="none"``
scores misses 0.

**Renderers.**  ``renderer="pil"`` (default) draws the page with Pillow and its bundled font: about a
millisecond per screenshot and the same pixels on every machine, which is what training from scratch
on two CPU cores needs (thousands of screenshots per minute).  ``renderer="chromium"`` writes the same
layout as HTML into a real Chromium page (same boxes, the browser's fonts and anti-aliasing), takes
its screenshot and scores clicks by the browser's own hit-testing (a real mouse click; the button
that received the event) — tens of milliseconds per screenshot.
"""

from __future__ import annotations

import math
import re
from typing import Any

from envgym import Env, Task, Transition
from envgym.actions import Call
from envgym.observation import Observation
from envgym.pixel_actions import parse_pixel_action
from envgym.tasks import TaskSet, check_split, split_of

from envgym.envs.pixel_click.layout import Layout, draw_png, layout_hash, layout_key, make_layout

ENV_ID = "envgym/PixelClick-v0"
CLICK_ONLY = {"click": "click(x, y) — left-click at page coordinates (pixels, origin top-left)"}
_SPLIT_ID = re.compile(r"click-(train|test)-s(\d+)$")
RENDERERS = ("pil", "chromium")
SHAPINGS = ("gaussian", "none")
DISTRACTORS = ("colored", "disabled")


class PixelClickEnv(Env):
    """See the module docstring."""

    metadata = {"render_modes": ["ansi"], "render_fps": 2}
    default_max_turns = 3

    def __init__(self, *, width: int = 320, height: int = 240, renderer: str = "pil", shaping: str = "gaussian",
                 sigma: float = 40.0, distractors: str = "colored", screenshot: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        if not screenshot:
            raise ValueError("PixelClick's observation is its screenshot: screenshot=False leaves nothing to act on")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        if shaping not in SHAPINGS:
            raise ValueError(f"shaping must be one of {SHAPINGS}, got {shaping!r}")
        if distractors not in DISTRACTORS:
            raise ValueError(f"distractors must be one of {DISTRACTORS}, got {distractors!r}")
        if not (160 <= width <= 1920 and 120 <= height <= 1200):
            raise ValueError(f"page size {width}x{height} is outside 160x120 .. 1920x1200")
        self.width, self.height = int(width), int(height)
        self.renderer = renderer
        self.shaping = shaping
        self.sigma = float(sigma)
        self.disabled = distractors == "disabled"
        self.layout: Layout | None = None
        self.misses: list[tuple[float, float]] = []
        self._image: bytes | None = None
        self._page: Any = None

    # ------------------------------------------------------------------ tasks
    def task_for(self, split: str, seed: int) -> Task:
        layout = make_layout(seed, self.width, self.height)
        return Task(task_id=f"click-{split}-s{seed}", env_id=ENV_ID, instruction=layout.instruction(), seed=seed,
                    spec={"split": split, "width": self.width, "height": self.height, "layout": layout_hash(layout)},
                    golden={"actions": [_click(*layout.goal.center)]})

    def task_split(self, name: str, limit: int | None = None) -> TaskSet:
        """Tasks of split ``name``, in seed order: seeds whose layout hashes into that split
        (``limit`` tasks, default 500)."""
        check_split(name)
        tasks, seed = [], 1
        while len(tasks) < (limit or 500):
            if split_of(layout_key(make_layout(seed, self.width, self.height))) == name:
                tasks.append(self.task_for(name, seed))
            seed += 1
        return TaskSet(tasks, source=f"{ENV_ID} [{name}]")

    def task_from_id(self, task_id: str) -> Task:
        match = _SPLIT_ID.match(task_id)
        if match is None:
            return super().task_from_id(task_id)
        split, seed = match[1], int(match[2])
        if split_of(layout_key(make_layout(seed, self.width, self.height))) != split:
            raise KeyError(f"no task {task_id!r}: the layout of seed {seed} belongs to the other split")
        return self.task_for(split, seed)

    def _load_tasks(self, tasks: Any) -> TaskSet:
        if tasks is not None:
            return super()._load_tasks(tasks)
        return TaskSet([*self.task_split("train", 40), *self.task_split("test", 20)], source=ENV_ID)

    def sample_task(self) -> Task:
        seed = int(self.np_random.integers(1, 2**31))
        split = split_of(layout_key(make_layout(seed, self.width, self.height)))
        return self.task_for(split, seed)

    def tool_names(self) -> list[str]:
        return ["click"]

    # ------------------------------------------------------------------ hooks
    def _reset(self, task: Task) -> dict[str, Any]:
        if task.initial_state is not None:
            self.set_state(task.initial_state)
            return {}
        self.layout = make_layout(int(task.seed or 0), self.width, self.height)
        self.misses = []
        self._image = None
        return {}

    def _step(self, call: Call) -> Transition:
        assert self.layout is not None
        action = parse_pixel_action(call, (self.width, self.height), CLICK_ONLY, area="page")
        x, y = action.points[0]
        hit = self._hit(x, y)
        if hit == self.layout.target:
            return Transition(reward=1.0, terminated=True, success=True, feedback=f"Clicked the {self.layout.goal.label} button.")
        self.misses.append((x, y))
        self._image = None
        last = self.turn >= self.max_turns  # the base class counted this turn already
        reward = self._shaped(x, y) if last else 0.0
        what = "a wrong button" if hit >= 0 else "the page background"
        return Transition(reward=reward, feedback=f"Missed: the click at ({x:g}, {y:g}) hit {what}.")

    def _hit(self, x: float, y: float) -> int:
        """Index of the button at (x, y), -1 for the page: the browser's hit test, or the boxes."""
        assert self.layout is not None
        if self.renderer == "chromium":
            self._screenshot()  # the page shown is the current one
            return self._browser_page().click(x, y)
        return next((i for i, b in enumerate(self.layout.buttons) if b.contains(x, y)), -1)

    def _shaped(self, x: float, y: float) -> float:
        if self.shaping == "none":
            return 0.0
        d = self.layout.goal.distance(x, y)
        return 0.5 * math.exp(-d * d / (2 * self.sigma ** 2))

    def _observe(self) -> Observation:
        assert self.layout is not None
        lines = [f"Task: {self.layout.instruction()}",
                 f"Screenshot: {self.width}x{self.height} pixels, attached as the image.",
                 "Action: click(x, y)"]
        if self.misses:
            lines.append(f"Earlier misses are marked with crosses ({len(self.misses)}).")
        return {"text": "\n".join(lines), "image": self._screenshot(), "instruction": self.layout.instruction()}

    def _screenshot(self) -> bytes:
        if self._image is None:
            assert self.layout is not None
            if self.renderer == "chromium":
                self._image = self._browser_page().render(self.layout, self.misses, self.disabled)
            else:
                self._image = draw_png(self.layout, self.misses, self.disabled)
        return self._image

    def _browser_page(self) -> Any:
        if self._page is None:
            from envgym.envs.pixel_click.chromium import ChromiumPage

            self._page = ChromiumPage()
        return self._page

    # ------------------------------------------------------------------ state and helpers
    def get_state(self) -> dict[str, Any]:
        seed = int(self.task.seed or 0) if self.task is not None else 0
        return {"seed": seed, "width": self.width, "height": self.height, "misses": [list(m) for m in self.misses],
                "turn": self.turn}

    def set_state(self, state: dict[str, Any]) -> None:
        if (int(state["width"]), int(state["height"])) != (self.width, self.height):
            raise ValueError(f"state of a {state['width']}x{state['height']} page loaded into a {self.width}x{self.height} env")
        self.layout = make_layout(int(state["seed"]), self.width, self.height)
        self.misses = [(float(x), float(y)) for x, y in state.get("misses", [])]
        self._image = None
        if self.task is None or self.task.seed != int(state["seed"]):
            self.task = self.task_for(split_of(layout_key(self.layout)), int(state["seed"]))
        self._set_progress(turn=int(state.get("turn", 0)), episode_over=False)

    def anchor(self) -> str:
        """The layout and the misses so far (the same screen recurs across a group's episodes)."""
        assert self.layout is not None
        misses = ";".join(f"{x:g},{y:g}" for x, y in self.misses)
        return f"click:{layout_hash(self.layout)}:{misses}"

    def oracle_action(self) -> str | None:
        return _click(*self.layout.goal.center) if self.layout is not None else None

    def close(self) -> None:
        if self._page is not None:
            self._page.close()
            self._page = None
        super().close()


def _click(x: float, y: float) -> str:
    return f"click({x:g}, {y:g})"

