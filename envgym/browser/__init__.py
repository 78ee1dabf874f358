"""Browser environments: Playwright (async API, private loop thread) over a system Chromium.

* :class:`~envgym.browser.env.BrowserEnv` — the Gymnasium env base for web apps (element and pixel
  action sets, axtree/screenshot observations, infra-error handling).
* :class:`~envgym.browser.session.BrowserSession` — one isolated browser context confined to an origin.
* :mod:`~envgym.browser.launcher` — Chromium discovery, launch flags, process accounting.

Importing this package does not import Playwright; it loads when the first browser starts.
"""

from envgym.browser.env import BrowserEnv
from envgym.browser.launcher import BrowserHost, BrowserUnavailable, chromium_path, shared_host
from envgym.browser.loop import shared_loop
from envgym.browser.session import ELEMENT_ACTIONS, PIXEL_ACTIONS, BrowserSession, normalize_key

__all__ = ["BrowserEnv", "BrowserHost", "BrowserSession", "BrowserUnavailable", "ELEMENT_ACTIONS",
           "PIXEL_ACTIONS", "chromium_path", "normalize_key", "shared_host", "shared_loop"]
