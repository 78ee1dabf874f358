"""BrowserGym vs envgym's browser env on the same page and machine (prints JSON):
``python bench/browsergym_compare.py [--steps 30] [--resets 5] [--bg-python /tmp/bgvenv/bin/python]``.

BrowserGym lives in its own venv so that its pinned Playwright does not replace the project's::

    python3 -m venv /tmp/bgvenv && /tmp/bgvenv/bin/pip install browsergym-core

(``browsergym-core`` 0.14.3 pins ``playwright==1.44.0``; the project runs a newer one.)

What runs: one Lumen Market app (``envgym.envs.web.shop``, seed 0) served on 127.0.0.1 through the apps'
Python API.  BrowserGym's open-ended task (``browsergym/openended``, ``start_url`` = that app's home
page, viewport 1280x800) runs in a subprocess under the BrowserGym venv; envgym's ``ShopEnv`` runs in
this process, bound to the same app server.  Both click the same navigation links
(``bench/web.py``'s sequence: cart, orders, home, books, wishlist, home), each step's latency being
the action plus the env's observation.

Chromium: BrowserGym launches Playwright's bundled Chromium (``playwright install chromium``),
which cannot be downloaded here.  The worker wraps ``playwright.sync_api.BrowserType.launch`` so a
launch without ``executable_path`` uses ``/usr/bin/chromium`` (Debian's, the one envgym uses) —
BrowserGym's ``pw_chromium_kwargs`` would cover the page browser only, not the chat window's
browser that it launches as well.

Reported:

* ``browsergym.reset_s``: ``env.reset()`` (BrowserGym launches two browsers, the page's and the
  chat's, at every reset, then loads the page and extracts the observation).
* ``browsergym.click_obs``: ``env.step('click("<bid>")')`` as shipped: the task's Playwright
  ``slow_mo`` (1000 ms: every Playwright operation is delayed by 1 s) and
  ``pre_observation_delay=0.5`` s; ``click_obs_no_waits`` / ``reset_s_no_waits`` with both set to 0
  (the mechanism alone: action, DOM snapshot, AXTree, PNG screenshot decoded to an array, extra
  properties).  ``click_obs_phases*_p50_ms`` split a step by BrowserGym's own ``info`` timestamps.
  BrowserGym's bids are its own, read
  from the page before each step (untimed).  ``axtree_to_text`` is ``flatten_axtree_to_str`` on the
  observation (what an LLM agent adds to get text, untimed in ``click_obs``).
* ``envgym.reset_s`` (warm browser: new context + page load + observation), ``envgym.first_reset_s``
  (cold: includes the Chromium launch), ``click_obs`` (element mode: action + axtree text) and
  ``click_obs_screenshot`` (the same plus a JPEG screenshot, closer to BrowserGym's observation).
* ``ratio``: BrowserGym / envgym for the p50s.

If BrowserGym cannot run, ``browsergym`` says why (``ran: false``, the command and the error).
Timings depend on the machine's load; ``load_avg`` is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("ENVGYM_CHROMIUM", "/usr/bin/chromium")
DEFAULT_BG_PYTHON = "/tmp/bgvenv/bin/python"
#: Element ids of the app's navigation links, clicked in this order (bench/web.py's sequence), and
#: the URL path each click must land on.
NAV = [("nav-cart", "/cart"), ("nav-orders", "/orders"), ("home-link", "/"), ("cat-books", "/search"),
       ("nav-wishlist", "/wishlist"), ("home-link", "/")]
VIEWPORT = (1280, 800)
#: Phases of a BrowserGym step, from the timestamps it puts in ``info``.
PHASES = {"action": ("action_exec_start", "action_exec_stop"),
          "wait_incl_pre_observation_delay": ("wait_for_page_loading_start", "wait_for_page_loading_stop"),
          "validation": ("validation_start", "validation_stop"),
          "observation_extraction": ("get_observation_start", "get_observation_stop")}


# ---------------------------------------------------------------------- BrowserGym (its own venv)
def browsergym_worker(url: str, steps: int, resets: int) -> dict[str, Any]:
    """Runs under the BrowserGym venv (no envgym imports): raw timings in seconds."""
    from urllib.parse import urlparse

    from playwright.sync_api._generated import BrowserType

    original_launch = BrowserType.launch

    def launch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("executable_path") is None:
            kwargs["executable_path"] = CHROMIUM
        return original_launch(self, *args, **kwargs)

    BrowserType.launch = launch  # type: ignore[method-assign]

    import logging
    from importlib.metadata import version

    import gymnasium as gym
    import browsergym.core  # noqa: F401  (registers browsergym/openended)
    from browsergym.utils.obs import flatten_axtree_to_str

    logging.getLogger("browsergym").setLevel(logging.ERROR)  # the viewport override warns every reset
    out: dict[str, Any] = {"versions": {"browsergym-core": version("browsergym-core"), "playwright": version("playwright")}}
    for key, slow_mo, delay in (("defaults", None, 0.5), ("no_waits", 0, 0.0)):
        env = gym.make("browsergym/openended", task_kwargs={"start_url": url, "goal": "Browse the shop."},
                       headless=True, pre_observation_delay=delay, slow_mo=slow_mo,
                       viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
        try:
            reset_s = []
            for _ in range(resets):
                start = time.perf_counter()
                obs, _info = env.reset()
                reset_s.append(time.perf_counter() - start)
            page = env.unwrapped.page
            out["chromium"] = env.unwrapped.browser.version
            clicks, flatten, errors, wrong_page, text_chars = [], [], [], 0, []
            phases: dict[str, list[float]] = {}
            for i in range(steps):
                element, path = NAV[i % len(NAV)]
                bid = page.evaluate("id => document.getElementById(id)?.getAttribute('bid')", element)
                start = time.perf_counter()
                obs, _reward, _term, _trunc, info = env.step(f'click("{bid}")')
                clicks.append(time.perf_counter() - start)
                for phase, (begin, end) in PHASES.items():
                    phases.setdefault(phase, []).append(info[end] - info[begin])
                page = env.unwrapped.page
                if obs["last_action_error"]:
                    errors.append(obs["last_action_error"][:200])
                wrong_page += urlparse(obs["url"]).path != path
                start = time.perf_counter()
                text = flatten_axtree_to_str(obs["axtree_object"])
                flatten.append(time.perf_counter() - start)
                text_chars.append(len(text))
            out[key] = {"slow_mo_ms": env.unwrapped.task.slow_mo if slow_mo is None else slow_mo,
                        "pre_observation_delay_s": delay, "reset_s": reset_s, "click_obs_s": clicks,
                        "axtree_to_text_s": flatten, "phases_s": phases, "action_errors": errors, "wrong_page": wrong_page,
                        "axtree_text_chars": sorted(text_chars)[len(text_chars) // 2],
                        "screenshot_shape": list(obs["screenshot"].shape)}
        finally:
            env.close()
    return out


def run_browsergym(python: str, url: str, steps: int, resets: int) -> dict[str, Any]:
    """The worker in a subprocess; ``{"ran": False, "command", "error"}`` when it cannot run."""
    command = [python, os.path.abspath(__file__), "--browsergym-worker", url, "--steps", str(steps), "--resets", str(resets)]
    shown = " ".join(command)
    if not os.path.exists(python):
        return {"ran": False, "command": shown,
                "error": f"{python} does not exist: create it with "
                         "`python3 -m venv /tmp/bgvenv && /tmp/bgvenv/bin/pip install browsergym-core`"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd="/tmp")
    if proc.returncode != 0:
        return {"ran": False, "command": shown, "exit_code": proc.returncode, "error": proc.stderr[-3000:]}
    return {"ran": True, **json.loads(proc.stdout.strip().splitlines()[-1])}


# ---------------------------------------------------------------------- envgym (this process)
def run_envgym(app: Any, steps: int, resets: int) -> dict[str, Any]:
    sys.path.insert(0, REPO)
    from envgym.browser.launcher import BrowserHost
    from envgym.envs.web.shop import ShopEnv
    from web import TASK, timed  # bench/web.py

    class SharedAppShopEnv(ShopEnv):
        """ShopEnv bound to the app server BrowserGym used (not closed with the env)."""

        def make_app(self) -> Any:
            return app

        def close(self) -> None:
            self.app = _Unclosable(app)
            super().close()

    out: dict[str, Any] = {}
    for screenshot in (False, True):
        env = SharedAppShopEnv(own_browser=True, screenshot=screenshot, viewport=VIEWPORT, max_turns=100_000)
        assert isinstance(env.host, BrowserHost)
        try:
            first, _ = timed(lambda: env.reset(options={"task": TASK}))
            reset_s = [timed(lambda: env.reset(options={"task": TASK}))[0] for _ in range(resets)]
            clicks, errors, wrong_page, chars = [], [], 0, []
            for i in range(steps):
                element, path = NAV[i % len(NAV)]
                dt, (obs, _r, _t, _tr, info) = timed(env.step, f'click("{element}")')
                clicks.append(dt)
                if info.get("action_error"):
                    errors.append(info["action_error"][:200])
                wrong_page += obs["url"].split("?")[0] != app.origin + path
                chars.append(len(obs.get("axtree", "")))
            key = "with_screenshot" if screenshot else "axtree"
            out[key] = {"first_reset_s": first, "reset_s": reset_s, "click_obs_s": clicks, "action_errors": errors,
                        "wrong_page": wrong_page, "axtree_text_chars": sorted(chars)[len(chars) // 2]}
            out["chromium"] = env._run(env.host.browser()).version
        finally:
            env.close()
    return out


class _Unclosable:
    def __init__(self, app: Any):
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--resets", type=int, default=5)
    parser.add_argument("--bg-python", default=DEFAULT_BG_PYTHON, help="python of the BrowserGym venv")
    parser.add_argument("--browsergym-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.browsergym_worker:
        print(json.dumps(browsergym_worker(args.browsergym_worker, args.steps, args.resets)))
        return

    sys.path.insert(0, REPO)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from importlib.metadata import version

    from envgym.envs.web.shop import ShopEnv
    from web import summary  # bench/web.py

    app = ShopEnv.app_class().serve()
    app.reset(seed=0)
    url = app.origin + "/"
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
                           "page": {"app": "envgym.envs.web.shop (Lumen Market), seed 0", "start_url": url,
                                    "clicks": [f"#{element} -> {path}" for element, path in NAV],
                                    "viewport": list(VIEWPORT)}}
    try:
        bg = run_browsergym(args.bg_python, url, args.steps, args.resets)
        eg = run_envgym(app, args.steps, args.resets)
    finally:
        app.close()

    envgym_out = {
        "playwright": version("playwright"), "chromium": eg["chromium"],
        "first_reset_ms_cold_browser": round(eg["axtree"]["first_reset_s"] * 1000, 1),
        "reset_s": summary(eg["axtree"]["reset_s"]),
        "click_obs": summary(eg["axtree"]["click_obs_s"]),
        "click_obs_screenshot": summary(eg["with_screenshot"]["click_obs_s"]),
        "action_errors": eg["axtree"]["action_errors"] + eg["with_screenshot"]["action_errors"],
        "wrong_page": eg["axtree"]["wrong_page"] + eg["with_screenshot"]["wrong_page"],
        "axtree_text_chars_p50": eg["axtree"]["axtree_text_chars"],
    }
    out["envgym"] = envgym_out
    if bg["ran"]:
        d, z = bg["defaults"], bg["no_waits"]
        out["browsergym"] = {
            "ran": True, **bg["versions"], "chromium": bg["chromium"],
            "chromium_executable": f"{CHROMIUM} (BrowserType.launch wrapped to pass executable_path)",
            "defaults": {"slow_mo_ms": d["slow_mo_ms"], "pre_observation_delay_s": d["pre_observation_delay_s"]},
            "reset_s": summary(d["reset_s"]),
            "click_obs": summary(d["click_obs_s"]),
            "click_obs_phases_p50_ms": {k: summary(v)["p50_ms"] for k, v in d["phases_s"].items()},
            "no_waits": {"slow_mo_ms": 0, "pre_observation_delay_s": 0.0},
            "reset_s_no_waits": summary(z["reset_s"]),
            "click_obs_no_waits": summary(z["click_obs_s"]),
            "click_obs_phases_no_waits_p50_ms": {k: summary(v)["p50_ms"] for k, v in z["phases_s"].items()},
            "axtree_to_text": summary(d["axtree_to_text_s"] + z["axtree_to_text_s"]),
            "action_errors": d["action_errors"] + z["action_errors"],
            "wrong_page": d["wrong_page"] + z["wrong_page"],
            "axtree_text_chars_p50": d["axtree_text_chars"],
            "screenshot_shape": d["screenshot_shape"],
        }
        b = out["browsergym"]

        def ratio(x: dict, y: dict, key: str = "p50_ms") -> float:
            return round(x[key] / y[key], 1)

        out["ratio"] = {
            "note": "BrowserGym / envgym, p50 (p99 where named); higher = envgym faster",
            "reset_p50": ratio(b["reset_s"], envgym_out["reset_s"]),
            "click_obs_p50": ratio(b["click_obs"], envgym_out["click_obs"]),
            "click_obs_p99": ratio(b["click_obs"], envgym_out["click_obs"], "p99_ms"),
            "reset_no_waits_p50": ratio(b["reset_s_no_waits"], envgym_out["reset_s"]),
            # BrowserGym launches its browsers at every reset; envgym's first reset launches one too.
            "reset_no_waits_p50_vs_envgym_cold_first_reset": round(
                b["reset_s_no_waits"]["p50_ms"] / envgym_out["first_reset_ms_cold_browser"], 1),
            "click_obs_no_waits_p50": ratio(b["click_obs_no_waits"], envgym_out["click_obs"]),
            "click_obs_no_waits_p99": ratio(b["click_obs_no_waits"], envgym_out["click_obs"], "p99_ms"),
            "click_obs_no_waits_vs_envgym_screenshot_p50": ratio(b["click_obs_no_waits"], envgym_out["click_obs_screenshot"]),
        }
    else:
        out["browsergym"] = bg
    out["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
