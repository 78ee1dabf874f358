"""Desktop envs in their container (``containers/desktop/``: Xvfb, Openbox, Mousepad, Gnumeric, PCManFM):
the image, observations and actions, state, infrastructure failures, the warm pool, ``envgym play``
and the HTML report.  The ``engine`` fixture starts the engine when needed and asserts that no
container is left; inside a container, the X servers of closed envs must be gone."""

from __future__ import annotations

import io
import time

import jsonschema
import pytest
from PIL import Image
from typer.testing import CliRunner

import envgym
from envgym.cli import app
from envgym.containers.images import build_image, image_tag
from envgym.containers.pool import EnvPool
from envgym.errors import InfraError
from envgym.trajectory import read_episodes
from envgym.envs.desktop.homedir import state_schema
from envgym.envs.desktop.mousepad.app import MousepadApp

pytestmark = pytest.mark.timeout(900)  # a bare machine bootstraps the base and builds the image (~4 min)
MOUSEPAD = "envgym/DesktopMousepad-v0"
NOTES = {"files": {"Documents/notes.txt": {"text": "one\ntwo\n"}}, "open": ["Documents/notes.txt"]}


@pytest.fixture(scope="module")
def desktop_tag(engine):
    return build_image("desktop")


@pytest.fixture(scope="module")
def mousepad(desktop_tag):
    env = envgym.make(MOUSEPAD, runtime="container", image=desktop_tag)
    yield env
    env.close()


def in_container(env, command: str) -> str:
    """Run ``sh -c command`` in the env's container; its output."""
    result = env.handle.container.exec_run(["sh", "-c", command])
    return result.output.decode(errors="replace")


def pids(env, program: str) -> list[str]:
    """Process ids of ``program`` in the env's container."""
    return in_container(env, f"ps -eo pid=,comm= | awk '$2 == \"{program}\" {{print $1}}'").split()


def episode_x_server(env) -> str:
    """Process id of the X server the episode's app runs on (the server's spare env has another)."""
    (app,) = pids(env, "mousepad")
    runtime_dir = in_container(env, f"tr '\\0' '\\n' < /proc/{app}/environ | sed -n 's/^XDG_RUNTIME_DIR=//p'").strip()
    return in_container(env, f"ps -eo pid=,args= | awk '$2 == \"Xvfb\" && index($0, \"{runtime_dir}/fb\") {{print $1}}'").strip()


def test_image_is_content_hashed_small_and_holds_the_apps(desktop_tag, engine):
    assert desktop_tag == image_tag("desktop") and desktop_tag.startswith("envgym/desktop:")
    image = engine.images.get(desktop_tag)
    assert image.attrs["Size"] <= 700 * 1024 * 1024, f"{image.attrs['Size'] / 2**20:.0f} MB"
    out = engine.containers.run(desktop_tag, ["sh", "-c", "id -un; mousepad --version | head -1; ssconvert --version | head -1;"
                                              " for p in Xvfb openbox xdotool pcmanfm gnumeric; do command -v $p; done"], remove=True).decode()
    assert out.startswith("envgym\nMousepad 0.5") and "ssconvert version" in out and out.count("/usr/bin/") == 5, out


def test_observation_is_a_screenshot_with_the_window_title(mousepad):
    obs, info = mousepad.reset(options={"task": "mousepad-append-item"})
    image = Image.open(io.BytesIO(obs["image"]))
    assert image.format == "PNG" and image.size == (1280, 800)
    assert obs["window_title"] == "~/Documents/notes.txt - Mousepad" and "Focused window:" in obs["text"]
    assert "right_click(x, y)" in obs["text"] and obs["last_action_error"] == ""
    assert info["task_id"] == "mousepad-append-item" and info["anchor"]


@pytest.mark.parametrize("action, message", [
    ("click(1280, 10)", "outside the 1280x800 screen"), ('key("ctrl+nosuchkey")', "unknown key 'nosuchkey'"),
    ("click(3,", "unknown action 'click(3,'"), ('type("a" + 1)', "must be literals"), ("fly()", "unknown action"), ('key("a+b")', "only Control, Shift"),
    ({"name": "type", "arguments": {"text": "a\x00b"}}, "NUL"), ("wait(99)", "between 0 and 10"),
])
def test_bad_actions_are_action_errors_that_change_nothing(mousepad, action, message):
    _, before_info = mousepad.reset(options={"task": "mousepad-append-item"})
    before = mousepad.get_state()
    obs, reward, terminated, truncated, info = mousepad.step(action)
    assert message in info["action_error"] and obs["last_action_error"] == info["action_error"]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["anchor"] == before_info["anchor"], "the screen and the files are as they were"
    assert mousepad.get_state() == before


def test_keyboard_and_mouse_change_the_saved_file(mousepad):
    mousepad.unwrapped.load_state(NOTES, task="mousepad-append-item")
    for action in ['double_click(12, 55)', 'type("ONE")', 'key("ctrl+End")', 'type("three\\n")', 'key("ctrl+s")']:
        _, _, _, _, info = mousepad.step(action)
        assert "action_error" not in info, (action, info)
    assert mousepad.get_state()["files"]["Documents/notes.txt"] == {"text": "ONE\ntwo\nthree\n"}


def test_state_round_trips_and_follows_the_schema(mousepad):
    state = {"files": {"Documents/a.txt": {"text": "alpha\n"}, "Music/b.bin": {"base64": "AP8="}},
             "folders": ["Documents/Empty"], "settings": {"show-line-numbers": True, "tab-width": 4},
             "open": ["Documents/a.txt"]}
    mousepad.unwrapped.set_state(state)
    got = mousepad.get_state()
    jsonschema.validate(got, state_schema(MousepadApp()))
    jsonschema.validate(state, state_schema(MousepadApp()))
    assert got["files"] == state["files"] and "Documents/Empty" in got["folders"] and got["open"] == ["Documents/a.txt"]
    assert got["settings"]["show-line-numbers"] is True and got["settings"]["tab-width"] == 4
    with pytest.raises(Exception, match="not a relative path"):
        mousepad.unwrapped.set_state({"files": {"../escape.txt": {"text": "x"}}})
    assert mousepad.get_state() == got, "a state that cannot be written changes nothing"


def test_jpeg_at_another_screen_size(desktop_tag):
    env = envgym.make("envgym/DesktopPCManFM-v0", runtime="container", image=desktop_tag, screen_size=[1024, 768],
                      image_format="jpeg")
    try:
        obs, _ = env.reset(options={"task": "pcmanfm-rename-file"})
        image = Image.open(io.BytesIO(obs["image"]))
        assert image.format == "JPEG" and image.size == (1024, 768) and obs["window_title"] == "Documents"
        from envgym.oracle import roll_out

        assert roll_out(env).success, "the oracle locates targets from the live windows, at any screen size"
    finally:
        env.close()


@pytest.mark.parametrize("env_id, task", [(MOUSEPAD, "mousepad-save-copy"), ("envgym/DesktopPCManFM-v0", "pcmanfm-bookmark")])
def test_a_step_returns_the_screen_after_the_apps_own_timers_drew(desktop_tag, env_id, task):
    """Mousepad closes its Save dialog ~0.25 s after Enter and PCManFM shows a tooltip ~0.5 s after a
    click, both from GLib timers of an otherwise idle app: the step waits for them, so the screen
    0.7 s later is the screen the step returned."""
    env = envgym.make(env_id, runtime="container", image=desktop_tag)
    try:
        env.reset(options={"task": task})
        while (action := env.unwrapped.oracle_action()) is not None and not str(action).startswith("answer"):
            obs, *_ = env.step(action)
            time.sleep(0.7)
            later = env.unwrapped.observe()
            assert Image.open(io.BytesIO(later["image"])).tobytes() == Image.open(io.BytesIO(obs["image"])).tobytes(), (
                f"{task}: the screen changed after {action} returned")
        assert env.step(env.unwrapped.oracle_action())[1] == 1.0
    finally:
        env.close()


def test_crashed_app_and_dead_x_server_are_infra_errors_and_the_container_is_replaced(desktop_tag):
    env = envgym.make(MOUSEPAD, runtime="container", image=desktop_tag)
    try:
        for victim in ("mousepad", "Xvfb"):
            env.reset(options={"task": "mousepad-append-item"})
            old = env.handle.name
            pid = episode_x_server(env) if victim == "Xvfb" else pids(env, victim)[0]
            in_container(env, f"kill -SEGV {pid}")
            with pytest.raises(InfraError):  # the server exits: ContainerDied, or ConnectionLost if that comes first
                env.step('key("End")')
            obs, _ = env.reset(options={"task": "mousepad-append-item"})  # at once: on a replacement container
            assert env.handle.name != old and obs["window_title"].endswith("Mousepad")
    finally:
        env.close()


def test_warm_pool_resets_without_leaking_x_servers(desktop_tag):
    images = set()
    with EnvPool(MOUSEPAD, size=1, image=desktop_tag) as pool:
        pool.wait_ready(timeout=120)
        for episode in range(3):
            env = pool.acquire(timeout=120)
            started = time.perf_counter()
            obs, _ = env.reset(options={"task": "mousepad-fix-typo"})
            assert time.perf_counter() - started < 5 and obs["window_title"].startswith("~/Documents/letter.txt")
            images.add(obs["image"])
            # every episode's env (the server's spare, built while the last one held /home/user) plays in /home/user
            assert in_container(env, "ls /home").split() == ["envgym", "user"], f"episode {episode}"
            _, reward, terminated, _, _ = env.step('answer("done")')
            assert terminated and reward == 0.0
            servers = pids(env, "Xvfb")  # the episode's and the spare's (built for the next episode), no more
            assert 1 <= len(servers) <= 2, f"episode {episode}: X servers {servers} in the container"
            pool.release(env)
        stats = pool.stats
        assert len(images) == 1, "every episode starts from the same pixels"
        assert stats["started"] == 1 and stats["starting"] == 0, f"every episode reused the warm container: {stats}"


def test_play_saves_screenshots_and_the_report_shows_them(engine, desktop_tag, tmp_path):
    shots, out, report = tmp_path / "shots", tmp_path / "played.jsonl", tmp_path / "report.html"
    result = CliRunner().invoke(app, ["play", MOUSEPAD, "--task", "mousepad-count-items", "--screenshots", str(shots),
                                      "--out", str(out), "--kw", f"image={desktop_tag}"],
                                input='click(5000, 1)\nanswer("5")\n', terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "outside the 1280x800 screen" in result.output and "SUCCESS" in result.output
    assert sorted(p.name for p in shots.iterdir()) == ["turn000.png", "turn001.png", "turn002.png"]
    assert Image.open(shots / "turn000.png").size == (1280, 800)
    (episode,) = read_episodes(out)
    assert episode.success and all(turn.observation.get("image") for turn in episode.turns)
    shown = CliRunner().invoke(app, ["show", str(out), "--html", str(report)])
    assert shown.exit_code == 0, shown.output
    assert report.read_text().count("data:image/") >= 2
