"""The click task's page in a real Chromium: the layout as HTML, a screenshot, and clicks hit-tested by
the browser itself (a real mouse click; the clicked button is whatever element Chromium delivered
the click event to).

One isolated browser context per env, JavaScript on only for the listener envgym installs (the page
holds no script), every network request refused (the page is set as content, it loads nothing).
"""

from __future__ import annotations

from typing import Any

from envgym.browser.launcher import shared_host
from envgym.errors import InfraError

from envgym.envs.pixel_click.layout import Layout, page_html

_LISTEN = """() => { window.__clicked = []; document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-id]');
  window.__clicked.push(button ? Number(button.dataset.id) : -1); }, true); }"""


class ChromiumPage:
    """``render(layout, marks) -> PNG`` and ``click(x, y) -> index of the button hit or -1``."""

    def __init__(self, timeout: float = 30.0):
        self.host = shared_host()
        self.timeout = timeout
        self._context: Any = None
        self._page: Any = None

    def render(self, layout: Layout, marks: list[tuple[float, float]], disabled_distractors: bool = False) -> bytes:
        return self._run(self._render(layout, marks, disabled_distractors))

    def click(self, x: float, y: float) -> int:
        return self._run(self._click(x, y))

    def close(self) -> None:
        if self._context is not None and self.host.loop.alive:
            try:
                self.host.loop.run(self._context.close(), timeout=10)
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
        self._context = self._page = None

    async def _render(self, layout: Layout, marks: list[tuple[float, float]], disabled: bool) -> bytes:
        if self._page is None or self._page.is_closed() or self._page.viewport_size != {"width": layout.width, "height": layout.height}:
            await self._open(layout)
        await self._page.set_content(page_html(layout, marks, disabled))
        await self._page.evaluate(_LISTEN)
        return await self._page.screenshot(type="png")

    async def _click(self, x: float, y: float) -> int:
        await self._page.mouse.click(x, y)
        hits = await self._page.evaluate("() => window.__clicked")
        return int(hits[-1]) if hits else -1

    async def _open(self, layout: Layout) -> None:
        if self._context is not None:
            await self._context.close()
        browser = await self.host.browser()
        self._context = await browser.new_context(viewport={"width": layout.width, "height": layout.height},
                                                  device_scale_factor=1, locale="en-US", timezone_id="UTC")
        await self._context.route("**/*", lambda route: route.abort())
        self._page = await self._context.new_page()

    def _run(self, coro: Any) -> Any:
        try:
            return self.host.loop.run(coro, timeout=self.timeout)
        except TimeoutError as exc:
            raise InfraError(f"the browser stopped responding: {exc}") from None
        except InfraError:
            raise
        except Exception as exc:  # noqa: BLE001 - a crashed browser or page is an infrastructure failure
            raise InfraError(f"the browser failed: {type(exc).__name__}: {exc}") from None
