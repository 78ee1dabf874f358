"""Web envs in a real container (``containers/web/``: Debian's Chromium + the apps), played side by
side with the same env in this process.

The engine and base image come from the session helpers of ``tests.support.containers`` (the engine
is started and the base bootstrapped when missing; nothing is skipped).  The ``web`` image is built
through ``build_image("web")`` (content-hash tag; a lookup when it is up to date).  Each app gets one
container env and one in-process env; the oracle plays 2 tasks per app on both (one with a seed, one
with a stored initial state, both ending in app-state writes) with invalid actions mixed in, and
rewards, termination, success, action errors, scores, observations (the app's origin, a random port,
normalised) and the app state read over the wire must match.  Afterwards no container of this
process, nor any with the env's label, is left.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import envgym
from envgym.containers.engine import BUILD_TIMEOUT_S, docker_client
from envgym.containers.images import build_image, image_tag
from envgym.containers.runtime import SESSION_ID, container_limits
from tests.support.containers import containers_of

pytestmark = pytest.mark.timeout(900)  # a bare machine installs podman, bootstraps and builds (~2 min)

#: Per app: tasks whose oracle episode ends in state writes (cart line / promo code; sent mail /
#: moved mail).  ``shop-promo-0`` and others with ``initial_state`` send a whole state over the wire.
EPISODES = {
    "envgym/WebShop-v0": ["shop-add-0", "shop-promo-0"],
    "envgym/WebMail-v0": ["mail-send-0", "mail-archive-0"],
}
#: Bad actions played after the first oracle step: an unknown bid, unparsable text, a URL off the
#: app.  Each must give the same ``action_error`` in both runtimes and change nothing.
BAD_ACTIONS = ['click("no-such-bid")', "fly away", 'goto("https://example.com/")']
ORIGIN = re.compile(r"http://127\.0\.0\.1:\d+")


@pytest.fixture(scope="module")
def web_tag(engine):
    return build_image("web")


def normalised(value: Any) -> Any:
    """``value`` with every app origin replaced by ``ORIGIN`` and the URL-dependent ``anchor`` dropped
    (each runtime serves the app on its own random port)."""
    if isinstance(value, str):
        return ORIGIN.sub("ORIGIN", value)
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if k != "anchor"}
    if isinstance(value, (list, tuple)):
        return [normalised(v) for v in value]
    return value


def test_web_image_is_content_hashed_and_has_chromium(web_tag, engine, monkeypatch):
    assert web_tag == image_tag("web") and web_tag.startswith("envgym/web:")
    labels = engine.images.get(web_tag).labels
    assert labels["envgym.recipe"] == "web"
    api = docker_client(timeout=BUILD_TIMEOUT_S).api
    monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("rebuilt an up-to-date web image"))
    assert build_image("web") == web_tag
    monkeypatch.undo()
    # Debian's Chromium and Playwright's Python package; no browser downloaded by Playwright.
    out = engine.containers.run(web_tag, ["sh", "-c", "chromium --version; python -c 'import playwright, envgym.envs.web.shop; "
                                "print(\"ok\")'; ls ~/.cache/ms-playwright 2>&1 | head -1"], remove=True).decode()
    assert out.startswith("Chromium ") and "\nok\n" in out and "No such file" in out, out


@pytest.mark.parametrize("env_id", list(EPISODES), ids=lambda i: i.split("/")[1])
def test_oracle_episodes_match_in_process(web_tag, env_id):
    local = envgym.make(env_id)
    remote = envgym.make(env_id, runtime="container", image=web_tag)
    handle = remote.handle
    try:
        # The web image's limits: more memory and pids than a text env, and a larger /dev/shm.
        host = docker_client().api.inspect_container(handle.container_id)["HostConfig"]
        limits = container_limits("web")
        assert (host["Memory"], host["PidsLimit"], host["ShmSize"]) == (2 * 2**30, limits["pids_limit"], 256 * 2**20)
        assert host["MemorySwap"] == host["Memory"]

        for task_id in EPISODES[env_id]:
            obs_l, info_l = local.reset(options={"task": task_id})
            obs_r, info_r = remote.reset(options={"task": task_id})
            assert normalised(obs_r) == normalised(obs_l) and normalised(info_r) == normalised(info_l)
            assert remote.get_state() == local.unwrapped.get_state()
            golden = list(local.unwrapped.task.golden.actions)
            actions = [golden[0], *BAD_ACTIONS, *golden[1:]]
            assert remote.unwrapped.oracle_action() == golden[0]  # the container's env has the same task
            errors, done = 0, False
            for action in actions:
                assert not done
                step_l = local.step(action)
                step_r = remote.step(action)
                obs_l, reward_l, term_l, trunc_l, info_l = step_l
                obs_r, reward_r, term_r, trunc_r, info_r = step_r
                assert (reward_r, term_r, trunc_r) == (reward_l, term_l, trunc_l), (task_id, action)
                assert normalised(info_r.get("action_error")) == normalised(info_l.get("action_error")), (task_id, action)
                assert normalised(info_r) == normalised(info_l), (task_id, action)
                assert normalised(obs_r) == normalised(obs_l), (task_id, action)
                errors += bool(info_l.get("action_error"))
                done = term_l or trunc_l
            assert done and reward_l == 1.0 and info_l["success"] is True and info_r["success"] is True, task_id
            assert errors == len(BAD_ACTIONS), task_id
            # The final app state, read from the container over the wire, is the in-process one, and
            # the episode really changed it.
            final = remote.get_state()
            assert final == local.unwrapped.get_state()
            assert final != local.unwrapped.initial_state, task_id
    finally:
        remote.close()
        local.close()
    assert handle.removed
    rows = docker_client().api.containers(
        all=True, filters={"label": [f"envgym.session={SESSION_ID}", f"envgym.env_id={env_id}"]})
    assert rows == [], f"containers left behind: {[r['Names'] for r in rows]}"
    assert all(row["Id"] != handle.container_id for row in containers_of())
