"""envgym/PixelClick-v0: held-out layouts never occur in training, clicks are scored on the target's
box (graded misses with shaping), the screenshot is the whole observation, and the Chromium renderer
scores a real mouse click by the browser's own hit-testing on the same layout."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import envgym
from envgym.envs.pixel_click.layout import COLORS, DISABLED, layout_key, make_layout


def pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((x, y))


def test_held_out_layouts_never_occur_in_training():
    env = envgym.make("envgym/PixelClick-v0").unwrapped
    train, test = env.task_split("train", 300), env.task_split("test", 100)
    keys = {split: {layout_key(make_layout(t.seed, 320, 240)) for t in tasks} for split, tasks in
            (("train", train), ("test", test))}
    assert len(keys["train"]) == 300 and len(keys["test"]) == 100  # every layout distinct
    assert not keys["train"] & keys["test"]
    assert env.task_from_id(test[0].task_id).seed == test[0].seed
    with pytest.raises(KeyError, match="other split"):
        env.task_from_id(f"click-train-s{test[0].seed}")


def test_a_click_on_the_target_succeeds_and_misses_are_graded():
    env = envgym.make("envgym/PixelClick-v0", max_turns=1, sigma=40)
    obs, _ = env.reset(seed=7)
    assert set(obs) >= {"image", "text", "instruction"} and Image.open(io.BytesIO(obs["image"])).size == (320, 240)
    layout = env.unwrapped.layout
    goal = layout.goal
    assert goal.label in obs["instruction"] and goal.color in obs["instruction"]
    assert pixel(obs["image"], goal.x + 2, goal.y + 2) == COLORS[goal.color]
    _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    rewards = []
    for dx in (50, 150):  # farther misses earn less, never the success reward
        env.reset(seed=7)
        x = min(319, goal.x + goal.w + dx) if goal.x + goal.w + dx < 320 else max(0, goal.x - dx)
        _, reward, terminated, truncated, info = env.step(f"click({x}, {goal.center[1]})")
        assert not info["success"] and (terminated or truncated)
        rewards.append(reward)
    assert 0.5 > rewards[0] > rewards[1] >= 0
    env = envgym.make("envgym/PixelClick-v0", max_turns=1, shaping="none")
    env.reset(seed=7)
    assert env.step(f"click({max(0, goal.x - 50)}, 0)")[1] == 0.0


def test_only_clicks_are_actions_and_earlier_misses_are_drawn():
    env = envgym.make("envgym/PixelClick-v0", max_turns=3)
    first, _ = env.reset(seed=11)
    _, reward, _, _, info = env.step("type('hello')")
    assert reward == 0 and "unknown action" in info["action_error"]
    second, reward, *_ = env.step("click(1, 1)")  # the page corner: no button there
    assert second["image"] != first["image"] and "misses" in second["text"]
    assert reward == 0  # only the last miss is graded
    _, reward, terminated, truncated, info = env.step("click(2, 2)")
    assert 0 < reward < 0.5 and truncated and not terminated and not info["success"]


def test_disabled_distractors_are_greyed_out():
    env = envgym.make("envgym/PixelClick-v0", distractors="disabled")
    obs, _ = env.reset(seed=5)
    layout = env.unwrapped.layout
    for i, button in enumerate(layout.buttons):
        expected = COLORS[button.color] if i == layout.target else DISABLED
        assert pixel(obs["image"], button.x + 2, button.y + 2) == expected


def test_chromium_renders_the_same_layout_and_hit_tests_real_clicks():
    env = envgym.make("envgym/PixelClick-v0", renderer="chromium", max_turns=2)
    try:
        obs, _ = env.reset(seed=3)
        layout = env.unwrapped.layout
        assert Image.open(io.BytesIO(obs["image"])).size == (320, 240)
        goal = layout.goal
        assert pixel(obs["image"], goal.x + 3, goal.y + 3) == COLORS[goal.color]
        other = next(b for i, b in enumerate(layout.buttons) if i != layout.target)
        second, _, terminated, _, _ = env.step(f"click({other.center[0]}, {other.center[1]})")
        assert not terminated and "hit a wrong button" in second["text"]
        _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
        assert (reward, terminated, info["success"]) == (1.0, True, True)
    finally:
        env.close()
