"""A browser session: one isolated Chromium context (tabs, cookies) on one app origin.

All methods are coroutines for the private loop (:mod:`envgym.loop_thread`).  Element actions take a
``bid`` from the last observation; pixel actions take viewport coordinates.  Every action is bounded
by ``action_timeout``; a failure raises :class:`envgym.InvalidAction` with a message the agent can act
on, while a dead browser raises :class:`envgym.InfraError`.  After each action the session *settles*:
it waits (bounded, never a fixed sleep) for a navigation the action started to load and for the DOM to
stop changing for one animation frame.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from envgym.actions import Call, InvalidAction
from envgym.browser.launcher import BrowserHost, refusing_proxy
from envgym.browser.page_scripts import DOM_QUIET, EXTRACT, PREFLIGHT
from envgym.errors import InfraError
from envgym.pixel_actions import PIXEL_ACTIONS, normalize_key, parse_pixel_action

#: Paths of the app's origin that the agent's browser may not load (the apps' control endpoints):
#: ``goto`` refuses them and the page's own requests to them are aborted.
PRIVATE_PREFIX = "/__envgym"
ELEMENT_ACTIONS = {
    "click": "click(bid) — click an element",
    "dblclick": "dblclick(bid) — double-click an element",
    "hover": "hover(bid) — move the mouse over an element",
    "fill": "fill(bid, text) — replace the text of a text field",
    "select": "select(bid, option) — choose an option (by its label or value) in a dropdown",
    "press": "press(key) or press(bid, key) — press a key such as 'Enter', 'Tab', 'Control+a'",
    "scroll": "scroll(dy) — scroll the page by dy pixels (negative: up); scroll(bid) — bring an element into view",
    "goto": "goto(url) — open a URL of this app (absolute or a path like '/cart')",
    "go_back": "go_back() — the browser's back button",
    "go_forward": "go_forward() — the browser's forward button",
    "tab_focus": "tab_focus(index) — switch to an open tab",
    "tab_close": "tab_close() — close the current tab",
    "answer": "answer(text) — finish the task, with your answer if the task asks a question",
}
_BROWSER_GONE = ("Target page, context or browser has been closed", "Browser has been closed", "Target closed",
                 "Connection closed", "browser has disconnected", "Browser closed")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return re.sub(r"^(Error|TimeoutError): ", "", message)[:300]


@dataclass
class ActionOutcome:
    feedback: str = ""
    answer: str | None = None
    events: list[str] = field(default_factory=list)


class BrowserSession:
    """Tabs of one isolated browser context, confined to ``origin``."""

    def __init__(
        self,
        host: BrowserHost,
        origin: str,
        *,
        viewport: tuple[int, int] = (1280, 800),
        action_timeout: float = 5.0,
        settle_timeout: float = 3.0,
        max_axtree_chars: int = 60_000,
    ):
        self.host = host
        self.origin = origin.rstrip("/")
        self.viewport = viewport
        self.action_timeout = float(action_timeout)
        self.settle_timeout = float(settle_timeout)
        self.max_axtree_chars = max_axtree_chars
        self.context: Any = None
        self.pages: list[Any] = []
        self.active = 0
        self._events: list[str] = []
        self._blocked: list[str] = []
        self._crashed: set[int] = set()
        self._last_good_url = ""
        self._browser: Any = None
        self._cdp: Any = None
        self._mouse = (viewport[0] // 2, viewport[1] // 2)

    # ------------------------------------------------------------------ lifecycle
    @property
    def page(self) -> Any:
        return self.pages[self.active]

    async def open(self, url: str, *, fresh: bool = False) -> None:
        """Show ``url`` in a clean tab: no cookies, storage, history or other tabs from earlier episodes.

        The context and first tab are reused across episodes when healthy (a new renderer costs
        100-400 ms); cookies and storage are cleared and the tab's history is reset (CDP
        ``Page.resetNavigationHistory``).  ``fresh=True`` (or an unhealthy session) builds a new context.
        """
        if not self._allowed(url):
            raise ValueError(f"cannot open {url!r}: only pages under {self.origin} (outside {PRIVATE_PREFIX}) can be opened")
        try:
            if fresh or not self._reusable():
                await self._new_context()
            else:
                for extra in self.pages[1:]:
                    await extra.close()
                self.pages, self.active = self.pages[:1], 0
                await self.context.clear_cookies()
                try:
                    await self.page.evaluate("() => { try { localStorage.clear(); sessionStorage.clear(); } catch (e) {} }")
                except Exception:
                    pass
            self._events.clear()
            self._blocked.clear()
            page = self.page
            await page.goto(url, wait_until="load", timeout=self.action_timeout * 2000)
            if self._cdp is not None:
                await self._cdp.send("Page.resetNavigationHistory")
            self._last_good_url = page.url
            self._mouse = (self.viewport[0] // 2, self.viewport[1] // 2)
        except InvalidAction:
            raise
        except Exception as exc:
            self._check_alive()
            raise InfraError(f"could not open {url} in the browser: {_first_line(exc)}") from exc

    def _reusable(self) -> bool:
        return (self.context is not None and self.host.connected and self._browser is self.host._browser
                and len(self.pages) >= 1 and not self.pages[0].is_closed() and id(self.pages[0]) not in self._crashed)

    async def _new_context(self) -> None:
        await self.close()
        browser = await self.host.browser()
        self._browser = browser
        self.context = await browser.new_context(
            viewport={"width": self.viewport[0], "height": self.viewport[1]},
            device_scale_factor=1, locale="en-US", timezone_id="UTC", java_script_enabled=True,
            service_workers="block", proxy=self._proxy(),
        )
        self.context.set_default_timeout(self.action_timeout * 1000)
        await self.context.route(self._blocked_requests(), self._block)
        self.context.on("page", self._on_new_page)
        page = await self.context.new_page()
        if page not in self.pages:
            self._attach(page)
        self.active = self.pages.index(page)
        try:
            self._cdp = await self.context.new_cdp_session(page)
        except Exception:
            self._cdp = None

    def _proxy(self) -> dict[str, str]:
        """Only the app's own ``host:port`` is reached directly; everything else (other loopback
        ports included: ``<-loopback>`` drops Chromium's implicit loopback bypass) goes to a proxy
        that refuses every connection.  This holds below the page's JavaScript, for WebSockets and
        workers too, where request routing does not reach."""
        return {"server": refusing_proxy(), "bypass": f"<-loopback>,{urlsplit(self.origin).netloc}"}

    def _blocked_requests(self) -> re.Pattern:
        """Requests to abort: any URL outside the origin, and the origin's :data:`PRIVATE_PREFIX`."""
        private = r"(?:__|%5[fF]%5[fF])" + re.escape(PRIVATE_PREFIX.lstrip("/_")) + r"(?:[/?#]|$)"
        return re.compile(r"^(?!" + re.escape(self.origin) + r"(?:$|[/?#](?!" + private + r")))")

    async def close(self) -> None:
        context, self.context = self.context, None
        self.pages, self.active = [], 0
        self._cdp = None
        self._crashed.clear()
        if context is not None:
            try:
                await context.close()
            except Exception:
                pass

    def _attach(self, page: Any) -> None:
        self.pages.append(page)
        page.on("dialog", self._on_dialog)
        page.on("crash", lambda p: self._crashed.add(id(p)))
        page.on("close", self._on_close)

    def _on_new_page(self, page: Any) -> None:
        if page in self.pages:
            return
        self._attach(page)
        if len(self.pages) > 1:
            self.active = len(self.pages) - 1
            self._events.append("A new tab opened and is now active.")

    def _on_close(self, page: Any) -> None:
        if page in self.pages:
            index = self.pages.index(page)
            self.pages.remove(page)
            if self.active >= index and self.active > 0:
                self.active -= 1

    async def _on_dialog(self, dialog: Any) -> None:
        kind, message = dialog.type, dialog.message
        try:
            if kind == "prompt":
                await dialog.accept(dialog.default_value)
            else:
                await dialog.accept()
        except Exception:
            pass
        self._events.append(f"A JavaScript {kind} dialog appeared saying {message!r}; it was accepted (OK).")

    async def _block(self, route: Any) -> None:
        request = route.request
        if request.is_navigation_request():
            self._blocked.append(request.url)
        try:
            await route.abort("blockedbyclient")
        except Exception:
            pass

    # ------------------------------------------------------------------ errors
    def _check_alive(self) -> None:
        if not self.host.connected:
            raise InfraError("the browser process died (Chromium crashed or was killed); reset() relaunches it")

    def _translate(self, exc: BaseException, what: str) -> InvalidAction:
        self._check_alive()
        message = _first_line(exc)
        if any(s in message for s in _BROWSER_GONE):
            if self.context is None or not self.pages:
                raise InfraError(f"the browser context is gone: {message}")
        if "Timeout" in message or "timeout" in message:
            return InvalidAction(f"{what} did not complete within {self.action_timeout:g} s ({message})")
        return InvalidAction(f"{what} failed: {message}")

    # ------------------------------------------------------------------ element actions
    async def _element(self, bid: Any, kind: str) -> tuple[Any, dict]:
        if not isinstance(bid, (str, int)) or isinstance(bid, bool) or str(bid).strip() == "":
            raise InvalidAction(f"bid must be the string shown in brackets in the page tree, e.g. click('search'), got {bid!r}")
        bid = str(bid).strip().strip("[]")
        info = await self.page.evaluate(PREFLIGHT, [bid, kind])
        if not info["ok"]:
            code = info["code"]
            if code == "missing":
                # the page may have re-rendered since the last observation: mark bids again and retry
                await self.page.evaluate(EXTRACT, {"maxChars": 1})
                info = await self.page.evaluate(PREFLIGHT, [bid, kind])
                if info["ok"]:
                    return self.page.locator(f'[data-bid="{bid}"]').first, info
                code = info["code"]
            raise InvalidAction(self._preflight_message(bid, info | {"code": code}, kind))
        return self.page.locator(f'[data-bid="{bid}"]').first, info

    @staticmethod
    def _preflight_message(bid: str, info: dict, kind: str) -> str:
        code = info["code"]
        return {
            "missing": f"no element with bid {bid!r} on this page; use a bid from the current page tree",
            "hidden": f"element {bid!r} is not visible (hidden or collapsed); open the menu/section that contains it first",
            "disabled": f"element {bid!r} is disabled",
            "not_fillable": f"element {bid!r} is a {info.get('tag')}{'/' + info['type'] if info.get('type') else ''}, not a text field; use click or select",
            "readonly": f"element {bid!r} is read-only",
            "not_select": f"element {bid!r} is a {info.get('tag')}, not a dropdown; use click",
            "modal": f"element {bid!r} is behind an open dialog ({info.get('modal')!r}); finish or close the dialog first",
            "covered": f"element {bid!r} is covered by another element ({info.get('by')}); close what covers it or scroll",
        }.get(code, f"cannot {kind} {bid!r}: {code}")

    async def act(self, call: Call, action_set: str = "element") -> ActionOutcome:
        """Carry out one action; raise InvalidAction (agent's fault) or InfraError (browser's fault)."""
        if self.context is None or not self.pages:
            raise InfraError("the browser session is not open; call reset()")
        self._check_alive()
        table = ELEMENT_ACTIONS if action_set == "element" else PIXEL_ACTIONS
        name = call.name
        if not call.is_call or name not in table:
            listing = "; ".join(table.values())
            raise InvalidAction(f"unknown action {call.text[:60] if call.text else name!r}. Actions: {listing}")
        outcome = ActionOutcome()
        if name == "answer":
            text = call.argument(0, "text", "")
            outcome.answer = "" if text is None else str(text)
            return outcome
        if self.pages and id(self.page) in self._crashed:
            await self._recover_crashed_page()
            raise InvalidAction("the page had crashed; it was reloaded — look at it again before acting")
        self._events.clear()
        self._blocked.clear()
        timeout_ms = self.action_timeout * 1000
        try:
            if action_set == "element":
                await self._element_action(call, timeout_ms)
            else:
                await self._pixel_action(call, timeout_ms)
        except (InvalidAction, InfraError):
            await self._after_action(raise_errors=False)
            raise
        except Exception as exc:
            error = self._translate(exc, f"{name}()")
            await self._after_action(raise_errors=False)
            raise error from None
        await self._after_action(raise_errors=True)
        outcome.events = list(self._events)
        outcome.feedback = " ".join(self._events)
        return outcome

    async def _element_action(self, call: Call, timeout_ms: float) -> None:
        await _ELEMENT_HANDLERS[call.name](self, call, timeout_ms)

    # ------------------------------------------------------------------ element actions, one each
    async def _pointer(self, call: Call, timeout_ms: float) -> None:
        """click / dblclick / hover.  force=True: PREFLIGHT already checked visibility, enabled state
        and the hit target (and scrolled into view), so Playwright's own rAF-based actionability
        polling is skipped."""
        name = call.name
        locator, info = await self._element(call.argument(0, "bid"), "click" if name != "hover" else "hover")
        tabs_before = len(self.pages)
        await getattr(locator, name)(timeout=timeout_ms, force=True)
        if info.get("opensTab") and len(self.pages) == tabs_before:
            # the link opens a new tab: wait (bounded) for it, so the observation shows it
            try:
                await self.context.wait_for_event("page", timeout=timeout_ms)
            except Exception:
                pass

    async def _fill(self, call: Call, timeout_ms: float) -> None:
        text = call.argument(1, "text")
        if not isinstance(text, (str, int, float)) or isinstance(text, bool):
            raise InvalidAction(f"fill() text must be a string, got {type(text).__name__}")
        locator, _ = await self._element(call.argument(0, "bid"), "fill")
        await locator.fill(str(text), timeout=timeout_ms, force=True)

    async def _select(self, call: Call, timeout_ms: float) -> None:
        option = call.argument(1, "option", None)
        if option is None:
            option = call.argument(1, "options")
        wanted = option if isinstance(option, list) else [option]
        locator, info = await self._element(call.argument(0, "bid"), "select")
        values = []
        for want in wanted:
            want_s = str(want).strip()
            match = next((o for o in info["options"] if o["label"] == want_s), None) \
                or next((o for o in info["options"] if o["label"].lower() == want_s.lower()), None) \
                or next((o for o in info["options"] if o["value"] == want_s), None)
            if match is None:
                labels = ", ".join(repr(o["label"]) for o in info["options"][:30])
                raise InvalidAction(f"{want_s!r} is not an option of {call.argument(0, 'bid')!r}; options: {labels}")
            values.append(match["value"])
        await locator.select_option(values, timeout=timeout_ms, force=True)

    async def _press(self, call: Call, timeout_ms: float) -> None:
        if len(call.args) + len(call.kwargs) >= 2:
            locator, _ = await self._element(call.argument(0, "bid"), "press")
            await locator.press(normalize_key(call.argument(1, "key")), timeout=timeout_ms)
        else:
            await self.page.keyboard.press(normalize_key(call.argument(0, "key")))

    async def _scroll(self, call: Call, timeout_ms: float) -> None:
        target = call.argument(0, "dy", None)
        if target is None:
            target = call.argument(0, "bid")
        if isinstance(target, (int, float)) and not isinstance(target, bool):
            dx = call.kwargs.get("dx", 0)
            await self.page.evaluate("([dx, dy]) => window.scrollBy(dx, dy)", [float(dx), float(target)])
        else:
            locator, _ = await self._element(target, "scroll")
            await locator.scroll_into_view_if_needed(timeout=timeout_ms)

    async def _goto(self, call: Call, timeout_ms: float) -> None:
        url = call.argument(0, "url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidAction("goto() needs a URL string")
        absolute = urljoin(self.origin + "/", url.strip())
        if self._private(absolute):
            raise InvalidAction(f"navigation to {absolute!r} is blocked: {PRIVATE_PREFIX} is not part of the app")
        if not self._allowed(absolute):
            raise InvalidAction(f"navigation to {absolute!r} is blocked: only pages under {self.origin} can be opened")
        await self.page.goto(absolute, wait_until="load", timeout=timeout_ms)

    async def _history(self, call: Call, timeout_ms: float) -> None:
        go = self.page.go_back if call.name == "go_back" else self.page.go_forward
        response = await go(wait_until="load", timeout=timeout_ms)
        if response is None and call.name == "go_back":
            self._events.append("There is no earlier page in this tab's history.")

    async def _tab_focus(self, call: Call, timeout_ms: float) -> None:
        index = call.argument(0, "index")
        if not isinstance(index, int) or not 0 <= index < len(self.pages):
            raise InvalidAction(f"tab index must be 0..{len(self.pages) - 1}, got {index!r}")
        self.active = index
        await self.page.bring_to_front()

    async def _tab_close(self, call: Call, timeout_ms: float) -> None:
        if len(self.pages) == 1:
            raise InvalidAction("cannot close the last tab")
        await self.page.close()
        self.active = min(self.active, len(self.pages) - 1)

    async def _pixel_action(self, call: Call, timeout_ms: float) -> None:
        action = parse_pixel_action(call, self.viewport)  # the shared pixel action set (envgym.pixel_actions)
        page = self.page
        mouse = page.mouse
        if action.name in ("click", "double_click", "move"):
            x, y = action.points[0]
            self._mouse = (x, y)
            if action.name == "move":
                await mouse.move(x, y)
            else:
                await mouse.click(x, y, button=action.button, click_count=action.clicks)
        elif action.name == "type":
            await page.keyboard.type(action.text)
        elif action.name == "key":
            await page.keyboard.press("+".join(action.keys))
        elif action.name == "scroll":
            await mouse.move(*self._mouse)
            await mouse.wheel(*action.delta)
        elif action.name == "drag":
            (x1, y1), (x2, y2) = action.points
            await mouse.move(x1, y1)
            await mouse.down()
            await mouse.move(x2, y2, steps=8)
            await mouse.up()
            self._mouse = (x2, y2)

    def _allowed(self, url: str) -> bool:
        return (url == self.origin or url.startswith(self.origin + "/")) and not self._private(url)

    @staticmethod
    def _private(url: str) -> bool:
        path = unquote(urlsplit(url).path)
        return path == PRIVATE_PREFIX or path.startswith(PRIVATE_PREFIX + "/")

    async def _recover_crashed_page(self) -> None:
        page = self.page
        self._crashed.discard(id(page))
        try:
            await page.close()
        except Exception:
            pass
        new_page = await self.context.new_page()
        if new_page not in self.pages:
            self._attach(new_page)
        self.active = self.pages.index(new_page)
        await new_page.goto(self._last_good_url or self.origin + "/", wait_until="load")

    async def _settle(self) -> None:
        """Wait for a navigation started by the action to load and for the DOM to go quiet (bounded)."""
        page = self.page
        budget_ms = self.settle_timeout * 1000
        for _ in range(3):
            try:
                await page.wait_for_load_state("load", timeout=budget_ms)
                await page.evaluate(DOM_QUIET, [8, 500])
                return
            except Exception as exc:
                message = str(exc)
                if "context was destroyed" in message or "navigat" in message:
                    continue  # a navigation replaced the document mid-wait: wait for the new one
                self._check_alive()
                return

    async def _after_action(self, raise_errors: bool) -> None:
        if not self.pages:
            self._check_alive()
            return
        if id(self.page) in self._crashed:
            await self._recover_crashed_page()
            if raise_errors:
                raise InvalidAction("the page crashed during the action; it was reloaded at the last good URL")
            return
        await self._settle()
        url = self.page.url
        if not self._allowed(url):
            blocked = self._blocked[-1] if self._blocked else url
            try:
                await self.page.goto(self._last_good_url or self.origin + "/", wait_until="load")
            except Exception:
                self._check_alive()
            if raise_errors:
                raise InvalidAction(f"navigation to {blocked!r} was blocked: only pages under {self.origin} can be opened")
            return
        self._last_good_url = url
        if self._blocked and raise_errors:
            self._events.append(f"A request to {self._blocked[-1]!r} was blocked (outside this app).")

    # ------------------------------------------------------------------ observation
    async def observe(self, *, axtree: bool = True, screenshot: bool = False, image_format: str = "jpeg",
                      jpeg_quality: int = 70) -> dict[str, Any]:
        """URL, title, tabs, axtree text (``axtree``) and a screenshot (``screenshot``)."""
        if self.context is None or not self.pages:
            raise InfraError("the browser session is not open; call reset()")
        self._check_alive()
        page = self.page
        started = time.perf_counter()
        result: dict[str, Any] = {"url": page.url}
        for attempt in range(3):
            try:
                if axtree:
                    extracted = await page.evaluate(EXTRACT, {"maxChars": self.max_axtree_chars})
                    result["axtree"] = extracted["text"]
                    result["scroll"] = extracted["scroll"]
                if screenshot:
                    kwargs = {"type": image_format}
                    if image_format == "jpeg":
                        kwargs["quality"] = jpeg_quality
                    result["image"] = await page.screenshot(**kwargs, timeout=self.action_timeout * 1000)
                break
            except Exception as exc:
                self._check_alive()
                if attempt == 2:
                    raise InfraError(f"could not read the page: {_first_line(exc)}") from exc
                try:
                    await page.wait_for_load_state("load", timeout=self.settle_timeout * 1000)
                except Exception:
                    pass
        tabs = []
        for i, p in enumerate(self.pages):
            try:
                title = await p.title()
            except Exception:
                title = ""
            tabs.append({"index": i, "title": title, "url": p.url, "active": i == self.active})
        result["tabs"] = tabs
        result["title"] = tabs[self.active]["title"] if tabs else ""
        result["url"] = self.page.url
        result["extract_ms"] = (time.perf_counter() - started) * 1000
        return result


#: ELEMENT_ACTIONS name -> the BrowserSession method carrying it out ("answer" never reaches the page)
_ELEMENT_HANDLERS = {
    "click": BrowserSession._pointer, "dblclick": BrowserSession._pointer, "hover": BrowserSession._pointer,
    "fill": BrowserSession._fill, "select": BrowserSession._select, "press": BrowserSession._press,
    "scroll": BrowserSession._scroll, "goto": BrowserSession._goto, "go_back": BrowserSession._history,
    "go_forward": BrowserSession._history, "tab_focus": BrowserSession._tab_focus, "tab_close": BrowserSession._tab_close,
}
