"""The browser env's mechanics on a real Chromium and a real app server: observations with bids,
element and pixel actions, explained failures, origin blocking, dialogs, tabs, isolation, the sync
API inside a running asyncio loop, and recovery from a killed browser."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
from pathlib import Path

import httpx
import pytest

import playwright.async_api  # noqa: F401,E402  (installed by scripts/install-browser.sh; never skipped)

import envgym  # noqa: E402
from envgym.agents import run_episode  # noqa: E402
from envgym.agents.oracle import OracleAgent  # noqa: E402
from envgym.browser import chromium_path  # noqa: E402

chromium_path()  # raises BrowserUnavailable with install instructions: a missing browser fails the suite

from envgym.envs.web.calendar import CalendarEnv  # noqa: E402
from envgym.envs.web.mail import MailEnv  # noqa: E402
from envgym.envs.web.shop import ShopEnv  # noqa: E402

SHOTS = Path(os.environ.get("ENVGYM_WEB_SHOTS", "/tmp/web_shots"))


def task(instruction: str = "Explore the shop.", **extra) -> dict:
    return {"task_id": "probe", "env_id": "envgym/WebShop-v0", "instruction": instruction, "seed": 0,
            "reward": {"kind": "env", "params": {"type": "answer", "expected": {"text": "zzz"}}}, **extra}


@pytest.fixture(scope="module")
def shop():
    env = ShopEnv()
    yield env
    env.close()


def test_observation_carries_axtree_with_bids_url_and_instruction(shop):
    obs, info = shop.reset(options={"task": task("Find a mug.")})
    assert obs["url"].startswith(shop.app.origin) and obs["url"].endswith("/")
    assert "[search-input] searchbox 'Search'" in obs["axtree"]
    assert "[nav-cart] link 'Cart, 0 items'" in obs["axtree"]
    assert obs["text"].startswith("Task: Find a mug.") and obs["axtree"] in obs["text"]
    assert obs["tabs"] == [{"index": 0, "title": "Home | Lumen Market", "url": obs["url"], "active": True}]
    assert "image" not in obs and obs["last_action_error"] == ""
    assert shop.observation_space.contains(obs)
    # every interactive element in the tree carries a bid
    for line in obs["axtree"].splitlines():
        role = line.strip().split(" ")[0]
        assert role not in ("link", "button", "textbox", "searchbox", "combobox", "checkbox"), line


def test_fill_click_select_drive_the_app(shop):
    shop.reset(options={"task": task()})
    obs, reward, terminated, truncated, info = shop.step('fill("search-input", "Wool Beanie")')
    assert "[search-input] searchbox 'Search' value='Wool Beanie'" in obs["axtree"] and not info.get("action_error")
    obs, *_ = shop.step('click("search-button")')
    assert "/search?" in obs["url"] and "q=Wool+Beanie" in obs["url"]
    obs, *_ = shop.step({"name": "select", "arguments": {"bid": "sort-select", "option": "Price: High to Low"}})
    assert "sort=price-desc" in obs["url"], "the select's onchange handler submits the form"
    assert "value='Price: High to Low'" in obs["axtree"]


def test_bids_without_app_ids_are_stable_across_reloads(shop):
    shop.reset(options={"task": task()})
    obs1, *_ = shop.step('goto("/checkout")')  # empty cart redirects to /cart
    hashed1 = re.findall(r"\[(n[0-9a-z]+)\]", obs1["axtree"])
    obs2, *_ = shop.step('goto("/cart")')
    hashed2 = re.findall(r"\[(n[0-9a-z]+)\]", obs2["axtree"])
    assert hashed1 == hashed2
    obs, *_ = shop.step('goto("/orders/W1001")')
    assert "[crumb-orders] link 'Your orders'" in obs["axtree"]


@pytest.mark.parametrize("action, expected", [
    ('click("no-such-bid")', "no element with bid 'no-such-bid'"),
    ('fill("search-button", "x")', "not a text field"),
    ('select("search-category", "Spaceships")', "'Spaceships' is not an option of 'search-category'; options: 'All departments'"),
    ('select("search-input", "x")', "not a dropdown"),
    ('teleport("home")', "unknown action"),
    ("walk north", "unknown action"),
    ('goto("https://example.com/")', "blocked: only pages under http://127.0.0.1"),
    ('press("NotAKey")', "press() failed"),
    ('click(42.5)', "bid must be the string shown in brackets"),
    ('fill("search-input")', "missing the argument 'text'"),
    ('tab_focus(3)', "tab index must be 0..0"),
])
def test_bad_actions_become_explained_action_errors(shop, action, expected):
    shop.reset(options={"task": task()})
    obs, reward, terminated, truncated, info = shop.step(action)
    assert expected in info["action_error"], info["action_error"]
    assert obs["last_action_error"] == info["action_error"] and obs["text"].startswith("Invalid action:")
    assert reward == 0.0 and not terminated and not truncated
    assert obs["url"].startswith(shop.app.origin)


def test_link_to_another_origin_is_blocked_and_the_page_kept(shop):
    shop.reset(options={"task": task()})
    obs, _, _, _, info = shop.step('click("footer-social")')
    assert "navigation to 'https://social.example.com/lumenmarket' was blocked" in info["action_error"]
    assert obs["url"] == shop.app.origin + "/"


def test_new_tab_is_listed_focusable_and_closable(shop):
    shop.reset(options={"task": task()})
    obs, _, _, _, info = shop.step('click("footer-help")')
    assert "new tab opened" in obs["text"] and len(obs["tabs"]) == 2 and obs["tabs"][1]["active"]
    assert obs["url"].endswith("/help") and "Help center" in obs["axtree"]
    obs, *_ = shop.step("tab_focus(0)")
    assert obs["url"].endswith("/") and obs["tabs"][0]["active"]
    obs, *_ = shop.step("tab_focus(1)")
    obs, *_ = shop.step("tab_close()")
    assert len(obs["tabs"]) == 1 and obs["url"].endswith("/")


def test_js_confirm_dialog_is_accepted_and_reported(shop):
    shop.reset(options={"task": task()})
    processing = next(o for o in shop.get_state()["orders"] if o["status"] == "processing")
    shop.step(f'goto("/orders/{processing["id"]}")')
    obs, _, _, _, info = shop.step('click("cancel-order")')
    assert "confirm dialog appeared saying" in obs["text"] and f"Cancel order {processing['id']}?" in obs["text"]
    assert next(o for o in shop.get_state()["orders"] if o["id"] == processing["id"])["status"] == "cancelled"


def test_hidden_and_modal_covered_elements_are_explained():
    mail = MailEnv()
    try:
        t = mail.tasks["mail-label-0"]
        mail.reset(options={"task": t})
        for action in t.golden.actions[:3]:
            mail.step(action)
        obs, _, _, _, info = mail.step('click("toggle-label-travel")')
        assert "is not visible" in info["action_error"]
        obs, _, _, _, info = mail.step('click("labels-menu-button")')
        assert not info.get("action_error") and "[toggle-label-travel] menuitemcheckbox" in obs["axtree"]
    finally:
        mail.close()
    cal = CalendarEnv()
    try:
        t = cal.tasks["cal-delete-0"]
        cal.reset(options={"task": t})
        for action in t.golden.actions[:4]:  # ... click("delete-event") opens the modal
            obs, *_ = cal.step(action)
        assert "a modal dialog is open" in obs["axtree"]
        obs, _, _, _, info = cal.step('click("edit-event")')
        assert "behind an open dialog ('Delete event?')" in info["action_error"]
        obs, _, _, _, info = cal.step('click("cancel-delete")')
        assert not info.get("action_error") and "modal dialog is open" not in obs["axtree"]
    finally:
        cal.close()


def test_answer_ends_the_episode_with_the_task_score(shop):
    shop.reset(options={"task": task()})
    obs, reward, terminated, truncated, info = shop.step('answer("zzz")')
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    assert info["score"]["answer_correct"] is True
    shop.reset(options={"task": task()})
    obs, reward, terminated, truncated, info = shop.step('answer("nope")')
    assert (reward, terminated, info["success"]) == (0.0, True, False)


def test_reset_gives_a_fresh_state_and_no_history_from_the_last_episode(shop):
    shop.reset(options={"task": task()})
    shop.step('goto("/product/P001")')
    shop.step('click("add-to-wishlist")')
    assert shop.get_state()["wishlist"] == ["P001"]
    obs, _ = shop.reset(options={"task": task()})
    assert shop.get_state()["wishlist"] == []
    obs, _, _, _, info = shop.step("go_back()")
    assert "no earlier page" in obs["text"] and obs["url"] == shop.app.origin + "/"


def test_screenshots_jpeg_by_default_png_on_request():
    env = ShopEnv(screenshot=True)
    try:
        obs, _ = env.reset(options={"task": task()})
        assert obs["image"][:3] == b"\xff\xd8\xff" and "axtree" in obs
        png = env.screenshot_bytes("png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "shop_home.png").write_bytes(png)
    finally:
        env.close()


def test_pixel_action_set_uses_coordinates_and_screenshots():
    env = ShopEnv(action_set="pixel")
    try:
        obs, _ = env.reset(options={"task": task()})
        assert "axtree" not in obs and obs["image"][:3] == b"\xff\xd8\xff"
        assert "Screenshot: 1280x800" in obs["text"] and "click(x, y)" in obs["text"]
        obs, _, _, _, info = env.step("scroll(0, 300)")
        assert not info.get("action_error") and env._run(env.session.page.evaluate("window.scrollY")) > 0
        obs, _, _, _, info = env.step("scroll(0, -1000)")
        assert env._run(env.session.page.evaluate("window.scrollY")) == 0
        box = env._run(env.session.page.locator("#search-input").bounding_box())
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        obs, _, _, _, info = env.step(f"click({x}, {y})")
        assert not info.get("action_error")
        env.step('type("Wool Beanie")')
        obs, _, _, _, info = env.step('key("enter")')
        assert "q=Wool+Beanie" in obs["url"]
        obs, _, _, _, info = env.step("drag(10, 10, 200, 200)")
        assert not info.get("action_error")
        obs, _, _, _, info = env.step("click(5000, 10)")
        assert "outside the 1280x800 viewport" in info["action_error"]
        obs, _, _, _, info = env.step('click("search-button")')
        assert "coordinate x must be a number" in info["action_error"]
    finally:
        env.close()


def test_sync_api_works_inside_a_running_asyncio_loop(shop):
    async def inside_loop():
        obs, _ = shop.reset(options={"task": task()})  # blocking call made from a coroutine
        obs, *_ = shop.step('click("nav-cart")')
        loop = asyncio.get_running_loop()
        obs2, *_ = await loop.run_in_executor(None, shop.step, 'click("nav-orders")')
        return obs["url"], obs2["url"]

    cart_url, orders_url = asyncio.run(inside_loop())
    assert cart_url.endswith("/cart") and orders_url.endswith("/orders")


def test_concurrent_envs_are_isolated():
    envs = [ShopEnv(), ShopEnv()]
    try:
        assert envs[0].app.origin != envs[1].app.origin
        for env in envs:
            env.reset(options={"task": task()})
        errors: list[BaseException] = []

        def work(env, pid):
            try:
                env.step(f'goto("/product/{pid}")')
                env.step('click("add-to-wishlist")')
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(env, pid)) for env, pid in zip(envs, ["P001", "P002"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert envs[0].get_state()["wishlist"] == ["P001"] and envs[1].get_state()["wishlist"] == ["P002"]
    finally:
        for env in envs:
            env.close()


def test_killed_browser_raises_infra_error_and_reset_relaunches():
    env = ShopEnv(own_browser=True)
    try:
        env.reset(options={"task": task()})
        pids = env.host.pids()
        assert pids, "the env's Chromium processes are found by their marker"
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(envgym.InfraError, match="browser"):
            for _ in range(3):  # the disconnect event may need a moment to arrive; each step is bounded
                env.step('click("nav-cart")')
        assert env.infra_failed
        obs, info = env.reset(options={"task": task()})
        assert info.get("relaunched_browser") and not env.infra_failed and env.host.launches == 2
        obs, _, _, _, info = env.step('click("nav-cart")')
        assert obs["url"].endswith("/cart") and not info.get("action_error")
    finally:
        env.close()


def test_run_episode_records_a_dead_browser_as_infra_error():
    env = ShopEnv(own_browser=True)
    try:
        t = env.tasks["shop-buy-0"]

        class KillingOracle(OracleAgent):
            def act(self, observation, info):
                if info.get("turn") == 2:
                    os.kill(env.host.pids()[0], signal.SIGKILL)
                return super().act(observation, info)

        episode = run_episode(env, KillingOracle(env), task=t)
        assert episode.infra_error and not episode.success
    finally:
        env.close()


def test_state_api_over_http_on_its_own_port_behind_a_token(shop):
    shop.reset(options={"task": task()})
    url, token = shop.app.serve_state_api()
    assert url != shop.app.origin
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as client:
        state = client.get("/__envgym/state").json()
        assert state == shop.get_state()
        state["wishlist"] = ["P003"]
        assert client.put("/__envgym/state", json=state).status_code == 200
        assert shop.get_state()["wishlist"] == ["P003"]
        assert client.put("/__envgym/state", json={"products": "nope"}).status_code == 422
        fresh = client.post("/__envgym/reset", json={"seed": 2}).json()
        assert fresh == shop.app.generate(2).model_dump(mode="json") != state
    with httpx.Client(base_url=url) as anonymous:
        assert anonymous.get("/__envgym/state").status_code == 401
        assert anonymous.put("/__envgym/state", json=state).status_code == 401
    assert httpx.get(shop.app.origin + "/__envgym/state").status_code == 404  # not on the page origin


def test_set_state_reloads_the_page(shop):
    shop.reset(options={"task": task()})
    shop.step('click("nav-cart")')
    state = shop.get_state()
    state["cart"] = [{"line_id": "L1", "product_id": "P001", "qty": 2, "color": "", "size": ""}]
    shop.set_state(state)
    obs = shop._observe()
    assert "[qty-L1] spinbutton" in obs["axtree"] and "value='2'" in obs["axtree"]


def test_registered_ids_make_web_envs():
    for env_id in ("envgym/WebShop-v0", "envgym/WebMail-v0", "envgym/WebCalendar-v0", "envgym/WebTaskBoard-v0"):
        spec = envgym.spec(env_id)
        assert "web" in spec.tags and spec.extras == ("web",)
    env = envgym.make("envgym/WebMail-v0")
    try:
        obs, info = env.reset(options={"task": "mail-unread-count-0"})
        assert "Swiftmail" in obs["axtree"] and info["task_id"] == "mail-unread-count-0"
    finally:
        env.close()
