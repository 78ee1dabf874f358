"""Page layouts of the click task: a few coloured, labelled buttons at seed-drawn positions and sizes,
one of them the target; drawn with Pillow or written as HTML for Chromium — the same geometry.

A layout is a pure function of its seed (:func:`make_layout`).  :func:`layout_key` is its canonical
text (every button's box, colour and label, and which one is the target): the task split of a seed is
decided by that key (:func:`envgym.tasks.split_of`), so a held-out layout never occurs in training.
"""

from __future__ import annotations

import hashlib
import html
import io
import math
from dataclasses import dataclass

import numpy as np

#: Button colours: name -> RGB (distinct hues, every one far from the white page).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 40, 40), "green": (40, 160, 60), "blue": (40, 90, 220),
    "orange": (245, 140, 20), "purple": (140, 60, 200), "teal": (20, 160, 160),
}
LABELS = ("OK", "Save", "Open", "Next", "Back", "Send", "Undo", "Help", "Edit", "Copy")
PAGE = (248, 248, 246)
DISABLED = (178, 178, 178)
MIN_W, MAX_W, MIN_H, MAX_H = 48, 96, 40, 64
MARGIN = 6


@dataclass(frozen=True)
class Button:
    label: str
    color: str
    x: int
    y: int
    w: int
    h: int

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    def distance(self, px: float, py: float) -> float:
        """Pixels from the point to the box (0 inside)."""
        dx = max(self.x - px, 0.0, px - (self.x + self.w - 1))
        dy = max(self.y - py, 0.0, py - (self.y + self.h - 1))
        return math.hypot(dx, dy)

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    buttons: tuple[Button, ...]
    target: int

    @property
    def goal(self) -> Button:
        return self.buttons[self.target]

    def instruction(self) -> str:
        return f"Click the {self.goal.color} '{self.goal.label}' button."


def make_layout(seed: int, width: int = 320, height: int = 240, buttons: tuple[int, int] = (3, 4)) -> Layout:
    """The layout of ``seed``: ``buttons[0]..buttons[1]`` non-overlapping buttons (distinct colours and
    labels), sizes in ``[48, 96] x [40, 64]`` pixels, one of them the target."""
    rng = np.random.default_rng([seed, width, height])
    count = int(rng.integers(buttons[0], buttons[1] + 1))
    colors = rng.choice(list(COLORS), size=count, replace=False)
    labels = rng.choice(list(LABELS), size=count, replace=False)
    placed: list[Button] = []
    while len(placed) < count:
        w, h = int(rng.integers(MIN_W, MAX_W + 1)), int(rng.integers(MIN_H, MAX_H + 1))
        x, y = int(rng.integers(MARGIN, width - w - MARGIN)), int(rng.integers(MARGIN, height - h - MARGIN))
        candidate = Button(str(labels[len(placed)]), str(colors[len(placed)]), x, y, w, h)
        if not any(_overlap(candidate, other) for other in placed):
            placed.append(candidate)
    return Layout(width, height, tuple(placed), int(rng.integers(count)))


def _overlap(a: Button, b: Button, gap: int = MARGIN) -> bool:
    return not (a.x + a.w + gap <= b.x or b.x + b.w + gap <= a.x or a.y + a.h + gap <= b.y or b.y + b.h + gap <= a.y)


def layout_key(layout: Layout) -> str:
    boxes = ";".join(f"{b.color},{b.label},{b.x},{b.y},{b.w},{b.h}" for b in layout.buttons)
    return f"{layout.width}x{layout.height}|{boxes}|target={layout.target}"


def layout_hash(layout: Layout) -> str:
    return hashlib.sha256(layout_key(layout).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- rendering
def fill_of(layout: Layout, index: int, disabled_distractors: bool) -> tuple[int, int, int]:
    """A button's colour: its own, or grey for a non-target button when distractors are disabled."""
    button = layout.buttons[index]
    return DISABLED if disabled_distractors and index != layout.target else COLORS[button.color]


def draw_png(layout: Layout, marks: list[tuple[float, float]] = (), disabled_distractors: bool = False) -> bytes:
    """The page drawn with Pillow (its bundled font, so every machine draws the same pixels); ``marks``
    are earlier misses, drawn as small grey crosses."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (layout.width, layout.height), PAGE)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    for index, b in enumerate(layout.buttons):
        draw.rounded_rectangle([b.x, b.y, b.x + b.w - 1, b.y + b.h - 1], radius=6, fill=fill_of(layout, index, disabled_distractors))
        draw.text(b.center, b.label, fill=(255, 255, 255), font=font, anchor="mm")
    for x, y in marks:
        draw.line([x - 4, y - 4, x + 4, y + 4], fill=(90, 90, 90), width=2)
        draw.line([x - 4, y + 4, x + 4, y - 4], fill=(90, 90, 90), width=2)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def page_html(layout: Layout, marks: list[tuple[float, float]] = (), disabled_distractors: bool = False) -> str:
    """The page as HTML (absolutely positioned buttons, the same boxes) for Chromium."""
    parts = [f'<!doctype html><html><head><meta charset="utf-8"><style>html,body{{margin:0;width:{layout.width}px;'
             f'height:{layout.height}px;overflow:hidden;background:rgb{PAGE};font:13px sans-serif}}'
             'button{position:absolute;border:0;border-radius:6px;color:#fff;padding:0;margin:0}'
             '.x{position:absolute;width:9px;height:9px;color:#5a5a5a;font:bold 11px sans-serif}</style></head><body>']
    for index, b in enumerate(layout.buttons):
        parts.append(f'<button data-id="{index}" style="left:{b.x}px;top:{b.y}px;width:{b.w}px;height:{b.h}px;'
                     f'background:rgb{fill_of(layout, index, disabled_distractors)}">{html.escape(b.label)}</button>')
    for x, y in marks:
        parts.append(f'<div class="x" style="left:{x - 4:g}px;top:{y - 6:g}px">x</div>')
    return "".join(parts) + "</body></html>"
