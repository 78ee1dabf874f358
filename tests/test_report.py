"""HTML reports people want to read: screenshots whenever the env produced them (recorded by default
for GUI envs, bounded in size), the final observation, actions as written, outcomes always visible,
mode 0644, actions drawn on screenshots, and two runs side by side per task."""

from __future__ import annotations

import io
import re
import stat

from PIL import Image
from typer.testing import CliRunner

from envgym import Episode, Turn, read_episodes
from envgym.cli import app
from envgym.recording import BUDGET_BYTES, MAX_SIDE, finish_episode, image_size
from envgym.report import format_action, render_comparison, render_html

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def noise_png(width: int, height: int, seed: int) -> bytes:
    """A PNG that does not compress away (random pixels), like a busy screenshot."""
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_web_run_records_screenshots_and_the_report_shows_everything(tmp_path):
    out, report = tmp_path / "board.jsonl", tmp_path / "report.html"
    cli("run", "envgym/WebTaskBoard-v0", "--agent", "oracle", "--episodes", "1", "--env-tasks", "--out", str(out))
    (episode,) = read_episodes(out)
    assert episode.success
    assert all(isinstance(t.observation.get("image"), bytes) for t in episode.turns), "on by default for GUI envs"
    assert episode.metadata["screenshots"]["screen_size"] == [1280, 800]
    final = episode.metadata["final_observation"]
    assert "Answer submitted" in final["text"] and isinstance(final["image"], bytes)

    cli("show", str(out), "--html", str(report))
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    page = report.read_text()
    assert page.count("data:image/jpeg;base64,") == episode.num_turns + 1  # every turn + the final observation
    assert "final<br>observation" in page and "Answer submitted" in page
    first = format_action(episode.turns[0].action)
    assert f'<span class="act">{first.replace(chr(34), "&quot;")}</span>' in page, "actions as written, escaped"
    summary = re.search(r"<summary>(.*?)</summary>", page).group(1)
    assert '<span class="ok">success</span>' in summary and "return 1.00" in summary


def test_screenshots_can_be_turned_off(tmp_path):
    out = tmp_path / "board.jsonl"
    cli("run", "envgym/WebTaskBoard-v0", "--agent", "oracle", "--episodes", "1", "--env-tasks", "--out", str(out),
        "--kw", "screenshot=false")
    assert not any("image" in t.observation for t in read_episodes(out)[0].turns)


def test_screenshots_are_bounded_per_image_and_per_episode():
    turns = [Turn(index=i, observation={"text": f"t{i}", "image": noise_png(1600, 1000, i)}, action=f"click({i}, 5)")
             for i in range(8)]
    original = sum(len(t.observation["image"]) for t in turns)
    episode = finish_episode(Episode(env_id="x", turns=turns), {"text": "end", "image": noise_png(1600, 1000, 99)},
                             budget_bytes=600_000)
    kept = [t.observation["image"] for t in episode.turns if "image" in t.observation]
    kept.append(episode.metadata["final_observation"]["image"])
    assert original > 4 * BUDGET_BYTES // 10  # the test images really are large
    assert all(max(image_size(image)) <= MAX_SIDE for image in kept)
    assert sum(len(image) for image in kept) <= 600_000
    assert "image" in episode.turns[0].observation and "image" in episode.metadata["final_observation"]
    assert episode.metadata["screenshots"] == {"kept": len(kept), "dropped": 9 - len(kept), "screen_size": [1600, 1000]}
    assert 2 <= len(kept) < 9

    tiny = finish_episode(Episode(env_id="x", turns=[Turn(index=0, observation={"text": "a", "image": noise_png(900, 600, 5)},
                                                          action="x")]), {"text": "b", "image": noise_png(900, 600, 6)},
                          budget_bytes=10)
    assert "image" not in tiny.turns[0].observation and "image" in tiny.metadata["final_observation"], "the last screen stays"


def test_pixel_actions_are_drawn_on_the_screenshot_in_screen_coordinates():
    turns = [Turn(index=0, observation={"text": "page", "image": noise_png(64, 40, 1)}, action="click(900, 300)"),
             Turn(index=1, observation={"text": "page", "image": noise_png(64, 40, 2)}, action="drag(10, 20, 30, 40)")]
    episode = Episode(env_id="x", turns=turns, metadata={"screenshots": {"screen_size": [1280, 800]}})
    page = render_html([episode])
    assert '<svg viewBox="0 0 1280 800"' in page
    assert '<circle cx="900" cy="300"' in page and '<line x1="10" y1="20" x2="30" y2="40"' in page


def test_hostile_text_is_escaped():
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    turns = [Turn(index=0, observation={"text": hostile}, action={"name": "say", "arguments": {"text": hostile}},
                  info={"action_error": hostile})]
    page = render_html([Episode(env_id=hostile, task_id=hostile, turns=turns, infra_error=hostile)])
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_two_runs_side_by_side_per_task(tmp_path):
    oracle, rand, report = tmp_path / "oracle.jsonl", tmp_path / "random.jsonl", tmp_path / "compare.html"
    cli("run", "envgym/SQL-v0", "--agent", "oracle", "--episodes", "4", "--env-tasks", "--out", str(oracle))
    cli("run", "envgym/SQL-v0", "--agent", "random", "--episodes", "4", "--env-tasks", "--out", str(rand))
    cli("show", str(oracle), "--compare", str(rand), "--html", str(report))
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    page = report.read_text()
    tasks = {e.task_id for e in read_episodes(oracle)}
    assert len(tasks) == 4 and all(f"task {task}:" in page for task in tasks)
    assert page.count('<div class="pair">') == 4
    differing = sum(a.success != b.success for a, b in zip(read_episodes(oracle), read_episodes(rand)))
    assert page.count('class="diff"') == differing > 0
    assert render_comparison(("a", read_episodes(oracle)), ("b", [])).count("not run") >= 4
