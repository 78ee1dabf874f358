"""``envgym play ID --web`` in a real browser: Playwright drives the page (Chromium) and plays a Maze, a
web task in element mode (after a wrong move, on the planner's hints), a pixel-mode web task and a
container env to success; the episodes are recorded like any other.  The server is checked like the
env server: token, Host, Origin, content type, body size, and env text that is HTML stays text."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envgym import read_episodes
from envgym.browser.launcher import CHROMIUM_ARGS, chromium_path
from tests.support.containers import containers_of

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(600)


@contextlib.contextmanager
def play_server(*args: str, prelude: str = "") -> Iterator[tuple[str, subprocess.Popen]]:
    """``envgym play ARGS --web`` in a subprocess; yields the printed URL (with its #token)."""
    code = f"{prelude}\nimport sys\nsys.argv[0] = 'envgym'\nfrom envgym.cli import main\nmain()"
    proc = subprocess.Popen([sys.executable, "-c", code, "play", *args, "--web"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("PLAY http://127.0.0.1:"), line + proc.stderr.read()
        yield line.split()[1], proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def wait_turn(page, turn: int) -> None:
    """Wait until the env waits for the player's action number ``turn``."""
    page.wait_for_function(
        "t => { const s = document.getElementById('status').textContent;"
        " return s.includes('over') || (s.startsWith('your-turn') && s.includes(' · turn ' + t + ' ·')); }",
        arg=turn, timeout=60_000)


def current_turn(page) -> int:
    return int(page.locator("#status").text_content().split(" · turn ", 1)[1].split(" ")[0])


def play_with_hints(page, max_turns: int = 60, use_choices: bool = False) -> None:
    """Ask for a hint and take it until the episode is over."""
    for _ in range(max_turns):
        if "over" in page.locator("#status").text_content():
            return
        turn = current_turn(page)
        page.click("#hint-button")
        page.locator("#hint-text").filter(has_text="hint:").wait_for(timeout=60_000)
        action = page.locator("#hint-text").text_content().split("hint: ", 1)[1].split(" — ")[0]
        if use_choices:
            page.click(f'#admissible-list button[data-action="{action}"]')
        else:
            page.click("#use-hint")
        wait_turn(page, turn + 1)
    raise AssertionError("the episode did not end")


def finish(page, proc: subprocess.Popen) -> None:
    page.locator("#status").filter(has_text="SUCCESS").wait_for(timeout=60_000)
    page.click("#stop-button")
    assert proc.wait(timeout=60) == 0


def test_maze_played_to_success_in_a_real_browser(page, tmp_path):
    out = tmp_path / "maze.jsonl"
    with play_server("envgym/Maze-v0", "--seed", "3", "--kw", "width=4", "--kw", "height=4", "--out", str(out)) as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        assert "A you, G goal" in page.locator("#obs-text").text_content()
        assert page.locator("#admissible-list button").count() == 4
        page.fill("#free-action", "fly away")  # a wrong action: the page shows the env's error, the hint re-plans
        page.click("#free-send")
        wait_turn(page, 1)
        assert "last action failed" in page.locator("#action-error").text_content()
        play_with_hints(page, use_choices=True)
        finish(page, proc)
    (episode,) = read_episodes(out)
    assert episode.success and episode.turns[0].action == "fly away" and episode.turns[0].info["action_error"]
    assert "final_observation" in episode.metadata and episode.agent == "human"


def test_web_task_in_element_mode_replans_after_a_wrong_move(page, tmp_path):
    out = tmp_path / "board.jsonl"
    with play_server("envgym/WebTaskBoard-v0", "--task", "board-assign-0", "--out", str(out)) as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        assert page.locator("#screenshot").is_visible(), "GUI envs show (and record) screenshots by default"
        page.click('button[data-op="click"][data-bid="tab-settings"]')  # not on the recorded solution
        wait_turn(page, 1)
        assert "/settings" in page.locator("#obs-text").text_content()
        page.click("#hint-button")
        page.locator("#hint-text").filter(has_text="hint:").wait_for(timeout=60_000)
        assert 'goto("/board")' in page.locator("#hint-text").text_content()
        play_with_hints(page)
        finish(page, proc)
    (episode,) = read_episodes(out)
    assert episode.success and [t.action for t in episode.turns][:2] == ['click("tab-settings")', 'goto("/board")']
    assert isinstance(episode.turns[0].observation.get("image"), bytes)
    assert episode.metadata["screenshots"]["screen_size"] == [1280, 800]


def test_web_task_in_pixel_mode_clicks_in_screen_coordinates(page, tmp_path):
    out = tmp_path / "pixel.jsonl"
    with play_server("envgym/WebTaskBoard-v0", "--task", "board-count-0", "--kw", "action_set=pixel",
                     "--out", str(out)) as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        shot = page.locator("#screenshot")
        box = shot.bounding_box()
        natural = page.evaluate("() => [document.getElementById('screenshot').naturalWidth, document.getElementById('screenshot').naturalHeight]")
        assert natural == [1280, 800]
        shot.click(position={"x": box["width"] / 2, "y": box["height"] / 4})
        wait_turn(page, 1)
        action = page.locator("#history tbody tr td.action").first.text_content()
        x, y = (int(v) for v in action.removeprefix("click(").removesuffix(")").split(","))
        assert abs(x - 640) <= 2 and abs(y - 200) <= 2, action
        page.fill("#free-action", 'answer("2")')
        page.click("#free-send")
        finish(page, proc)
    assert read_episodes(out)[0].success


def test_tool_env_played_through_its_tool_forms(page, tmp_path):
    out = tmp_path / "sql.jsonl"
    with play_server("envgym/SQL-v0", "--task", "sql-customers-germany", "--out", str(out)) as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        assert page.locator("form.tool").count() >= 3
        for turn, tool in ((0, "sql"), (1, "answer")):
            page.click("#hint-button")
            page.locator("#hint-text").filter(has_text="hint:").wait_for(timeout=60_000)
            hint = page.locator("#hint-text").text_content().split("hint: ", 1)[1].split(" — ")[0]
            name, _, args = hint.partition("(")
            assert name == tool, hint
            key, _, value = args.removesuffix(")").partition("=")
            form = page.locator(f'form.tool[data-tool="{tool}"]')
            form.locator(f'[name="{key}"]').fill(json.loads(value))
            form.locator("button[type=submit]").click()
            wait_turn(page, turn + 1)
        finish(page, proc)
    (episode,) = read_episodes(out)
    assert episode.success and episode.turns[0].action["name"] == "sql"


def test_container_env_played_to_success(page, tmp_path, engine):
    out = tmp_path / "boxed.jsonl"
    with play_server("envgym/Maze-v0", "--runtime", "container", "--seed", "1", "--kw", "width=3", "--kw", "height=3",
                     "--out", str(out)) as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        play_with_hints(page)
        finish(page, proc)
    assert read_episodes(out)[0].success
    assert containers_of(proc.pid) == [], "the play server removed its container on the way out"


def test_env_text_that_is_html_stays_text(page):
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>[x"><b>] button'
    with play_server("envgym-test/Echo-v0", prelude="import tests.support.echo_envs") as (url, proc):
        page.goto(url)
        wait_turn(page, 0)
        page.fill("#free-action", hostile)
        page.click("#free-send")
        wait_turn(page, 1)
        assert hostile in page.locator("#obs-text").text_content()
        assert page.locator("#history td.action").first.text_content() == hostile
        assert page.locator("#obs-text img, #obs-text script, #history img, #history b").count() == 0
        assert page.evaluate("() => window.pwned") is None


# ---------------------------------------------------------------------- the server's guards
def test_api_refuses_requests_without_the_token_or_from_elsewhere():
    with play_server("test/Count-v0", prelude="import tests.toy_envs") as (url, proc):
        origin, token = url.split("/#token=")
        port = origin.rsplit(":", 1)[1]
        good = {"X-Envgym-Token": token, "Content-Type": "application/json"}
        with httpx.Client(base_url=origin, trust_env=False, timeout=30) as client:
            page = client.get("/")
            assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
            assert client.get("/api/state").status_code == 401
            assert client.get("/api/state", headers={"X-Envgym-Token": token + "x"}).status_code == 401
            assert client.get("/api/state?token=" + token).status_code == 401, "the token never travels in a URL"
            assert client.get("/api/state", headers={**good, "Host": f"evil.example:{port}"}).status_code == 421
            act = json.dumps({"action": "up"})
            assert client.post("/api/act", content=act, headers={**good, "Origin": "http://evil.example"}).status_code == 403
            assert client.post("/api/act", content=act, headers={**good, "Sec-Fetch-Site": "cross-site"}).status_code == 403
            assert client.post("/api/act", content=act, headers={**good, "Content-Type": "text/plain"}).status_code == 415
            big = json.dumps({"action": "u" * 300_000})
            assert client.post("/api/act", content=big, headers=good).status_code == 413
            state = client.get("/api/state", headers=good).json()
            assert state["history"] == [], "no refused request reached the env"
            assert client.post("/api/act", content=act, headers={**good, "Origin": origin}).json() == {"ok": True}
