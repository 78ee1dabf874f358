"""Web apps agents cannot script or peek into, checked in the real Chromium.

For every app (shop, mail, calendar, task board):

* hostile text typed into every form field through the real pages, and hostile text planted in
  every text field of the state through the state API, is rendered on every page a crawl reaches,
  and nothing runs: no call of the probe function the payloads aim at, no ``alert``/``prompt``
  dialog, no Content-Security-Policy violation (which would mean injected markup got as far as
  trying), and no injected element, event-handler attribute, ``javascript:`` URL, frame or inline
  script in the DOM;
* the state API is unreachable from the page: ``goto`` is an action error, ``fetch``/XHR/iframes
  to it fail, and its real port (behind a token) is out of the page's reach;
* the page reaches no other loopback port by any means (fetch, XHR, WebSocket, EventSource,
  beacons, images, form posts, navigation, popups, workers): a listener counts connections;
* the CSP really blocks inline script and ``eval`` in Chromium.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

import playwright.async_api  # noqa: F401  (installed by scripts/install-browser.sh; never skipped)

from envgym.browser import chromium_path

chromium_path()  # a missing browser fails the suite

from envgym.envs.web.calendar import CalendarEnv  # noqa: E402
from envgym.envs.web.mail import MailEnv  # noqa: E402
from envgym.envs.web.shop import ShopEnv  # noqa: E402
from envgym.envs.web.taskboard import TaskBoardEnv  # noqa: E402

APPS = {"envgym/WebShop-v0": ShopEnv, "envgym/WebMail-v0": MailEnv, "envgym/WebCalendar-v0": CalendarEnv,
        "envgym/WebTaskBoard-v0": TaskBoardEnv}
WEB = Path(__file__).resolve().parents[1] / "envs" / "web"

#: Payloads aimed at every context a value can land in.  Each calls ``__xss(tag)`` (the probe the
#: test exposes to pages) or plants an element with id ``xssprobe``; ``tplx``: template evaluation.
PAYLOADS = [
    "<script>__xss('script')</script>",
    "\"><img id=xssprobe src=x onerror=__xss('img')>",
    "'><svg id=xssprobe onload=__xss('svg')>",
    "');__xss('js-single');//",
    "'+__xss('js-concat')+'",
    "\");__xss('js-double');//",
    "\"+__xss('js-concat-double')+\"",
    "${__xss('js-template')}`+__xss('js-backtick')+`",
    "&#39;);__xss('entity');//",
    "javascript:__xss('url')",
    "\" onmouseover=\"__xss('attr')\" autofocus onfocus=\"__xss('focus')\" x=\"",
    "' onclick='__xss(`attr1`)' x='",
    "</textarea><script>__xss('textarea')</script>",
    "</title><script>__xss('title')</script>",
    "</style><script>__xss('style')</script>",
    "<iframe id=xssprobe srcdoc=\"<script>parent.__xss('srcdoc')</script>\"></iframe>",
    "<a id=xssprobe href=\"javascript:__xss('link')\">x</a>",
    "<meta http-equiv=refresh content=\"0;url=javascript:__xss('meta')\">",
    "<base href=\"http://127.0.0.1:9/\"><form id=xssprobe action=\"http://127.0.0.1:9/\">",
    "<details id=xssprobe open ontoggle=__xss('details')>",
    "{{ 'tplx' ~ 'inj' }}{% raw %}${'tplx'+'inj'}{% endraw %}#{7*7}",
    "<script>alert('xss-alert')</script><img src=x onerror=alert(1)>",
    "\u2028\u2029</script><script>__xss('separators')</script>",
]
#: Short payloads (at most 30 characters, so that length checks let them into the state) for the
#: fields agents type into: each such field gets each of these once.
TYPED = [
    "<script>__xss('s')</script>",
    "\"><img src=x onerror=__xss(2)>",
    "'+__xss('concat')+'",
    "\"+__xss(\"dq\")+\"",
    "');__xss('stmt');//",
    "javascript:__xss('url')",
    "${__xss('tpl')}",
    "\" onfocus=\"__xss('f')\" x=\"",
    "</textarea><b id=xssprobe>",
    "{{'tplx'~'inj'}}",
]
assert all(len(p) <= 30 for p in TYPED)
#: Fields that refer to fixed tables or are parsed (dates, times, enums): planting text there tests
#: the model's validation, not the pages.
STRUCTURAL = {
    "envgym/WebShop-v0": {"category", "status", "shipping_method", "promo_code", "date", "seed"},
    "envgym/WebMail-v0": {"folder", "date"},
    "envgym/WebCalendar-v0": {"calendar", "recurrence", "date", "start", "end"},
    "envgym/WebTaskBoard-v0": {"priority", "role"},
}

def with_cart(state: dict) -> dict:
    """The shop with two items in the cart, so that the cart, promo and checkout forms are reachable."""
    lines = [p for p in state["products"] if p["stock"] > 2][:2]
    state["cart"] = [{"line_id": f"L{i}", "product_id": p["id"], "qty": 1, "color": (p["colors"] or [""])[0],
                      "size": (p["sizes"] or [""])[0]} for i, p in enumerate(lines)]
    return state


#: A state (from the seed's) whose pages show every form the app has.
WITH_EVERY_FORM = {"envgym/WebShop-v0": with_cart}

#: Installed in every page before its own scripts: report CSP violations to the probe.
PROBE_INIT = """
document.addEventListener('securitypolicyviolation', (e) =>
  window.__xss('csp:' + e.violatedDirective + ':' + e.blockedURI + ':' + (e.sample || '')));
"""
#: What a clean page looks like (run after load): a list of problems, empty when clean.
DOM_CHECK = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name)) problems.push(`handler ${attr.name} on <${el.tagName}>`);
      if (['href', 'src', 'action', 'formaction', 'data'].includes(attr.name) && /^\\s*javascript:/i.test(attr.value))
        problems.push(`javascript: URL in ${attr.name} of <${el.tagName}>`);
    }
  }
  for (const s of document.querySelectorAll('script'))
    if (s.getAttribute('src') !== '/static/app.js' || s.textContent.trim()) problems.push('a script other than /static/app.js');
  for (const sel of ['iframe', 'frame', 'object', 'embed', 'base', 'meta[http-equiv]', '#xssprobe', 'svg', 'img'])
    if (document.querySelector(sel)) problems.push(`injected element ${sel}`);
  for (const f of document.forms)
    if (new URL(f.action, location.href).origin !== location.origin) problems.push(`form to ${f.action}`);
  if (document.body && document.body.innerText.includes('tplxinj')) problems.push('a template expression was evaluated');
  return problems;
}"""


#: Run every form's submit handlers without submitting (a dispatched submit event never submits):
#: what runs when the agent submits, e.g. a confirmation built from a label name.
DISPATCH_SUBMITS = """() => { for (const f of document.forms) f.dispatchEvent(new Event('submit', {cancelable: true})); }"""
#: Whether the page shows planted text as text (or as a form value): it was rendered, not dropped.
SHOWS_PLANTED_TEXT = """() => !!document.body && (document.body.innerText.includes('__xss(')
  || [...document.querySelectorAll('input, textarea')].some(e => e.value.includes('__xss(')))"""


def task(env_id: str) -> dict:
    return {"task_id": "probe", "env_id": env_id, "instruction": "Explore.", "seed": 0,
            "reward": {"kind": "env", "params": {"type": "answer", "expected": {"text": "zzz"}}}}


class Probe:
    """Records what hostile input managed to run: probe calls and non-confirm dialogs."""

    def __init__(self, env):
        self.env = env
        self.hits: list[str] = []
        env.loop.run(self._install(), timeout=30)

    async def _install(self) -> None:
        context = self.env.session.context
        await context.expose_binding("__xss", lambda source, tag="?": self.hits.append(f"{source['frame'].url}: {tag}"))
        await context.add_init_script(PROBE_INIT)
        for page in context.pages:
            self._watch(page)
        context.on("page", self._watch)

    def _watch(self, page) -> None:
        page.on("dialog", lambda dialog: dialog.type != "confirm" and self.hits.append(f"{dialog.type}: {dialog.message}"))

    def run(self, coro, timeout: float = 300):
        return self.env.loop.run(coro, timeout=timeout)


@pytest.fixture(scope="module", params=list(APPS), ids=lambda env_id: env_id.split("/")[1])
def web(request):
    env = APPS[request.param]()
    env.env_id = request.param
    env.reset(options={"task": task(request.param)})
    probe = Probe(env)
    yield env, probe
    env.close()


# ---------------------------------------------------------------------- crawling
async def check_page(page, problems: dict, label: str, response=None) -> bool:
    """Record what is wrong with the loaded page; True when it shows planted text (as text)."""
    await page.wait_for_load_state("load")
    await page.evaluate(DISPATCH_SUBMITS)
    found = await page.evaluate(DOM_CHECK)
    if response is not None and response.status >= 500:
        found.append(f"HTTP {response.status}")
    if found:
        problems[label] = found
    return await page.evaluate(SHOWS_PLANTED_TEXT)


async def crawl(env, limit: int = 45) -> tuple[dict, dict, int, int]:
    """Visit same-origin links breadth-first from ``/``; ``(problems, forms by shape, pages seen,
    pages showing planted text)``."""
    page, origin = env.session.page, env.app.origin
    queue, seen, problems, forms = ["/"], {"/"}, {}, {}
    visited = showing = 0
    while queue and visited < limit:
        path = queue.pop(0)
        response = await page.goto(origin + path, wait_until="load")
        visited += 1
        showing += await check_page(page, problems, f"GET {path}", response)
        links = await page.evaluate("() => [...document.links].map(a => a.getAttribute('href'))")
        for href in links:
            if href and href.startswith("/") and not href.startswith("//") and href not in seen:
                seen.add(href)
                queue.append(href)
        for shape in await page.evaluate(FORM_SHAPES):
            forms.setdefault(shape["key"], {**shape, "path": path})
    return problems, forms, visited, showing


FORM_SHAPES = """() => [...document.forms].map((f, index) => {
  const fields = [...f.elements].filter(e => e.name && (e.tagName === 'TEXTAREA' || e.tagName === 'INPUT')
    && !['checkbox', 'radio', 'submit'].includes(e.type));
  const buttons = [...f.querySelectorAll('button[type=submit], button:not([type])')].map(b => b.id).sort();
  return {index, fields: fields.length, typed: fields.filter(e => e.type !== 'hidden').length,
          key: (f.getAttribute('method') || 'get') + ' ' + fields.map(e => e.name).sort().join(',') + ' ' + buttons.join(',')};
})"""
FILL_AND_SUBMIT = """([index, payloads]) => {
  const form = document.forms[index];
  let i = 0;
  for (const el of form.elements) {
    if (!el.name || !(el.tagName === 'TEXTAREA' || el.tagName === 'INPUT') || ['checkbox', 'radio', 'submit'].includes(el.type)) continue;
    if (el.tagName === 'INPUT') el.type = 'text';   // number, date, hidden: what a crafted request could send
    el.value = payloads[i++ % payloads.length];
  }
  const button = form.querySelector('button[type=submit], button:not([type])');
  form.requestSubmit(button || undefined);
}"""


async def fuzz_forms(env, forms: dict) -> tuple[dict, int, int]:
    """Every form shape, submitted once per :data:`TYPED` payload (rotated over its fields) when it
    has fields an agent types into, else once (hidden fields only: a crafted request);
    ``(problems, submissions, result pages showing planted text)``."""
    page, origin = env.session.page, env.app.origin
    problems, submitted, showing = {}, 0, 0
    for shape in sorted(forms.values(), key=lambda s: s["key"]):
        rounds = len(TYPED) if shape["typed"] else (1 if shape["fields"] else 0)
        for n in range(rounds):
            await page.goto(origin + shape["path"], wait_until="load")
            try:
                async with page.expect_navigation(wait_until="load", timeout=5000):
                    await page.evaluate(FILL_AND_SUBMIT, [shape["index"], TYPED[n:] + TYPED[:n]])
            except playwright.async_api.TimeoutError:
                pass  # a form the page validates client-side stays put: checked as it is
            submitted += 1
            showing += await check_page(page, problems, f"after submitting {shape['key']} on {shape['path']} ({n})")
    return problems, submitted, showing


# ---------------------------------------------------------------------- hostile state
def hostile_state(state: dict, structural: set[str]) -> tuple[dict, int]:
    """Every non-empty string of ``state`` (outside ``structural`` keys) with a payload appended;
    equal strings get equal replacements, so ids and the references to them still match."""
    mapping: dict[str, str] = {}

    def plant(value, key=None):
        if isinstance(value, dict):
            return {k: plant(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [plant(v, key) for v in value]
        if isinstance(value, str) and value and key not in structural:
            if value not in mapping:
                mapping[value] = f"{value} {PAYLOADS[len(mapping) % len(PAYLOADS)]}"
            return mapping[value]
        return value

    return plant(state), len(mapping)


# ---------------------------------------------------------------------- the tests
def test_hostile_text_typed_into_every_form_never_runs(web):
    env, probe = web
    env.reset(options={"task": task(env.env_id)})
    env.set_state(WITH_EVERY_FORM.get(env.env_id, dict)(env.get_state()))
    before, forms, _, _ = probe.run(crawl(env))
    assert not before, before
    fuzzed, submitted, echoed = probe.run(fuzz_forms(env, forms))
    assert submitted >= 2 * len(TYPED), f"only {submitted} submissions: too few forms with text fields"
    after, _, visited, showing = probe.run(crawl(env))  # the planted text, now on every page that shows it
    assert visited >= 10 and echoed + showing >= 1, (visited, echoed, showing)  # shown, as text
    assert probe.hits == [], probe.hits
    assert fuzzed == {} and after == {}, {**fuzzed, **after}


def test_hostile_state_in_every_text_field_never_runs(web):
    env, probe = web
    env.reset(options={"task": task(env.env_id)})
    state, planted = hostile_state(env.get_state(), STRUCTURAL[env.env_id])
    assert planted >= 30
    url, token = env.app.serve_state_api()
    response = httpx.put(url + "/__envgym/state", json=state, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text[:500]
    problems, _, visited, showing = probe.run(crawl(env, limit=60))
    assert visited >= 10 and showing >= 5, (visited, showing)  # the payloads are on the pages, as text
    assert probe.hits == [], probe.hits
    assert problems == {}, problems


STATE_API_FROM_PAGE = """async () => {
  const out = {};
  try { const r = await fetch('/__envgym/state'); out.fetch = r.status + ' ' + (await r.text()).slice(0, 80); } catch (e) { out.fetch = 'failed'; }
  try { const r = await fetch('/%5F%5Fenvgym/state'); out.encoded = r.status + ' ' + (await r.text()).slice(0, 80); } catch (e) { out.encoded = 'failed'; }
  try { const r = await fetch('/__envgym/state', {method: 'PUT', body: '{}'}); out.put = String(r.status); } catch (e) { out.put = 'failed'; }
  out.xhr = await new Promise(done => { const x = new XMLHttpRequest(); x.open('GET', '/__envgym/state');
    x.onload = () => done(x.status + ' ' + x.responseText.slice(0, 80)); x.onerror = () => done('failed'); x.send(); });
  const frame = document.createElement('iframe'); frame.src = '/__envgym/state'; document.body.appendChild(frame);
  await new Promise(r => setTimeout(r, 300));
  try { out.iframe = frame.contentDocument ? frame.contentDocument.body.innerText.slice(0, 80) : 'no document'; } catch (e) { out.iframe = 'blocked'; }
  return out;
}"""


def test_the_state_api_is_unreachable_from_the_agents_page(web):
    env, probe = web
    env.reset(options={"task": task(env.env_id)})
    secret = json.dumps(env.get_state())[:40]
    _, _, _, _, info = env.step('goto("/__envgym/state")')
    assert "blocked" in info["action_error"]
    _, _, _, _, info = env.step('goto("/%5F%5Fenvgym/reset")')
    assert "blocked" in info["action_error"]
    url, _ = env.app.serve_state_api()
    _, _, _, _, info = env.step(f'goto("{url}/__envgym/state")')
    assert "blocked" in info["action_error"]
    seen = probe.run(env.session.page.evaluate(STATE_API_FROM_PAGE))
    assert all(not v[:1].isdigit() or v.startswith("404") for v in seen.values()), seen
    assert all(secret not in v and '"products"' not in v and '"messages"' not in v for v in seen.values()), seen
    before = env.get_state()
    assert probe.run(env.session.page.evaluate(
        f"async () => {{ try {{ return (await fetch('{url}/__envgym/state', {{method: 'PUT', body: '{{}}'}})).status; }} catch (e) {{ return 'failed'; }} }}")) == "failed"
    assert env.get_state() == before


REACH_OUT = """async (port) => {
  const target = `http://127.0.0.1:${port}/`;
  const tries = [
    fetch(target).catch(() => 0),
    fetch(`http://localhost:${port}/`, {mode: 'no-cors'}).catch(() => 0),
    new Promise(done => { const x = new XMLHttpRequest(); x.open('POST', target); x.onloadend = done; x.send('x'); }),
    new Promise(done => { try { const w = new WebSocket(`ws://127.0.0.1:${port}/`); w.onopen = w.onerror = w.onclose = done; } catch (e) { done(); } }),
    new Promise(done => { try { const s = new EventSource(target); s.onerror = () => { s.close(); done(); }; } catch (e) { done(); } }),
    new Promise(done => { const i = new Image(); i.onload = i.onerror = done; i.src = target + 'img.png'; }),
  ];
  try { navigator.sendBeacon(target, 'x'); } catch (e) {}
  try { new Worker(URL.createObjectURL(new Blob([`fetch('${target}')`], {type: 'text/javascript'}))); } catch (e) {}
  try { window.open(target); } catch (e) {}
  const form = document.createElement('form'); form.method = 'post'; form.action = target; form.target = '_blank';
  document.body.appendChild(form); try { form.submit(); } catch (e) {}
  await Promise.race([Promise.all(tries), new Promise(r => setTimeout(r, 4000))]);
  try { location.href = target; } catch (e) {}
  return true;
}"""


def test_the_page_reaches_no_other_loopback_port(web):
    env, probe = web
    env.reset(options={"task": task(env.env_id)})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[float] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        probe.run(env.session.page.evaluate(REACH_OUT, port))
        time.sleep(1.0)
        obs, _, _, _, info = env.step("scroll(0)")  # the session notices a navigation away, if any
        assert obs["url"].startswith(env.app.origin)
        _, _, _, _, info = env.step(f'goto("http://127.0.0.1:{port}/")')
        assert "blocked" in info["action_error"]
        time.sleep(0.5)
        assert accepted == [], f"{len(accepted)} connection(s) reached the listener"
    finally:
        stop.set()
        thread.join()
        listener.close()


#: What an attacker with a foothold in the page would try; each must be blocked by the CSP (string
#: timers run as the page's own code, unlike the DevTools evaluation that starts this).
CSP_PROBE = """async () => {
  const s = document.createElement('script'); s.textContent = "window.__xss('inline-script-ran')"; document.body.appendChild(s);
  const d = document.createElement('div'); d.innerHTML = "<img src=x onerror=\\"window.__xss('handler-ran')\\">"; document.body.appendChild(d);
  setTimeout("window.__xss('string-timer-ran')", 0);
  const a = document.createElement('a'); a.href = "javascript:window.__xss('javascript-url-ran')"; document.body.appendChild(a); a.click();
  const f = document.createElement('iframe'); f.srcdoc = "<script>parent.__xss('srcdoc-ran')</script>"; document.body.appendChild(f);
  await new Promise(r => setTimeout(r, 800));
  return true;
}"""


def test_the_csp_blocks_inline_script_handlers_and_eval_in_chromium(web):
    env, probe = web
    env.reset(options={"task": task(env.env_id)})
    headers = httpx.get(env.app.origin + "/").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    probe.hits.clear()
    probe.run(env.session.page.evaluate(CSP_PROBE))
    ran = [h for h in probe.hits if "-ran" in h and "csp:" not in h]
    violations = {m.group(1) for h in probe.hits for m in [re.search(r": csp:([a-z-]+):", h)] if m}
    assert ran == [], probe.hits
    assert {"script-src-elem", "script-src-attr", "script-src"} <= violations, probe.hits  # each block reported
    probe.hits.clear()


def test_templates_carry_no_inline_script_handlers_or_unescaped_output():
    templates = sorted(WEB.glob("**/templates/*.html"))
    assert len(templates) >= 25
    for path in templates:
        text = path.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), f"{path}: an inline event handler"
        assert not re.search(r"<script(?![^>]*\bsrc=)", text, re.I), f"{path}: an inline script"
        assert "|safe" not in text and "autoescape false" not in text and "Markup(" not in text, path
    python = [p for p in WEB.rglob("*.py") if "templates" not in p.parts]
    for path in python:
        assert not re.search(r"""["']<(div|a|form|input|span|p|tr|td|h\d)[\s>]""", path.read_text()), \
            f"{path}: HTML built in Python instead of an autoescaped template"
