"""Hostile clients against the env server: web pages (a real Chromium page included), env kwargs,
tasks whose reward is code, exposure beyond loopback, malformed frames, slow and half-open
connections.  Every refusal is checked on what the server did, not only on what it answered: no env
built, no reward code run, sessions still usable, sockets closed."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from envgym.errors import UsageError
from envgym.remote.client import RemoteEnv, websocket_url
from envgym.remote.errors import ProtocolError
from envgym.remote.loopback import running_server, running_server_process
from envgym.remote.policy import SessionPolicy, check_bind, is_loopback
from envgym.remote.server import build_server, create_app
from tests.support.echo_envs import CLOSED_LABELS, ECHO_ID, IMPORTS

#: A task whose reward is code (it would pay 1 once the counter reached 1).
PYTHON_TASK = {"task_id": "client-code", "env_id": ECHO_ID, "instruction": "say stop",
               "reward": {"kind": "python", "code": "def reward(i, f, t=None):\n    return float(f['count'] == 1)"}}


@pytest.fixture(scope="module")
def url():
    with running_server(ECHO_ID, handshake_timeout_s=0.5) as served:
        yield served


def _raw(url: str, path: str = "/ws", **kwargs):
    return connect(websocket_url(url).replace("/ws", path), open_timeout=10, **kwargs)


def _ask(ws, message) -> dict:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv(timeout=10))


def _sessions_opened(url: str) -> int:
    return httpx.get(f"{url}/health").json()["total_sessions"]


# ------------------------------------------------------------------------------ browser origins
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:8080", "chrome-extension://abc"])
def test_requests_from_web_pages_are_refused_on_every_route(url, origin):
    opened = _sessions_opened(url)
    for path in ("/ws", "/openenv/ws"):
        with pytest.raises(InvalidStatus) as refused:
            _raw(url, path, origin=origin)
        assert refused.value.response.status_code == 403
    headers = {"Origin": origin}
    for method, path in (("GET", "/metadata"), ("GET", "/schema"), ("GET", "/health"), ("POST", "/openenv/reset"),
                         ("POST", "/openenv/step")):
        reply = httpx.request(method, f"{url}{path}", headers=headers, json={})
        assert reply.status_code == 403 and reply.json()["code"] == "forbidden", path
    assert _sessions_opened(url) == opened  # nothing was built for the page
    with _raw(url) as ws:  # a client that is not a page (no Origin) is served
        assert _ask(ws, {"type": "ping", "id": 1})["type"] == "pong"


def test_a_real_page_in_chromium_cannot_open_a_session_unless_its_origin_is_allowed():
    """The agent's own browser: a page on another loopback port tries the WebSocket and a blind
    POST (the attack the issue found); only ``--allow-origin`` of that page lets it in."""
    from playwright.sync_api import sync_playwright

    from envgym.browser.launcher import CHROMIUM_ARGS, chromium_path

    page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlankPage)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    page_origin = f"http://127.0.0.1:{page_server.server_address[1]}"
    script = """async (url) => {
        const opened = await new Promise(done => {
            const ws = new WebSocket(url.replace("http", "ws") + "/ws");
            ws.onopen = () => done(true); ws.onerror = () => done(false); setTimeout(() => done(false), 5000);
        });
        await fetch(url + "/openenv/reset", {method: "POST", mode: "no-cors", body: "{}"}).catch(() => null);
        return opened;
    }"""
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
            page = browser.new_page()
            page.goto(page_origin + "/")
            for policy, allowed in ((None, False), (SessionPolicy(allowed_origins=frozenset({page_origin})), True)):
                with running_server(ECHO_ID, policy=policy) as server:
                    assert page.evaluate(script, server) is allowed
                    sessions = httpx.get(f"{server}/health").json()["total_sessions"]
                    assert sessions == (1 if allowed else 0), "a page got a session or an env built"
            browser.close()
    finally:
        page_server.shutdown()


class _BlankPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"<!doctype html><title>somewhere else</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


# ------------------------------------------------------------------------------ env kwargs
@pytest.mark.parametrize("kwargs", [
    {"label": "refused-1"}, {"runtime": "container", "label": "refused-2"}, {"tasks": "/etc/passwd", "label": "refused-3"},
    {"db_dir": "/tmp/owned", "label": "refused-4"},
])
def test_env_kwargs_from_clients_are_refused_by_default(url, kwargs):
    with _raw(url) as ws:
        reply = _ask(ws, {"type": "make", "id": 1, "kwargs": kwargs})
        assert (reply["type"], reply["code"]) == ("error", "forbidden") and "--allow-kwarg" in reply["message"]
        assert _ask(ws, {"type": "ping", "id": 2})["type"] == "pong"  # the session goes on
    with pytest.raises(ProtocolError, match="not accepted from clients"):
        RemoteEnv(url, ECHO_ID, env_kwargs=kwargs)
    time.sleep(0.2)
    assert kwargs["label"] not in CLOSED_LABELS  # no env was ever built with them


def test_allow_listed_kwargs_pass_within_bounds():
    policy = SessionPolicy(allowed_kwargs=frozenset({"label", "step_sleep_s", "max_turns"}), max_kwarg_seconds=5)
    with running_server(ECHO_ID, policy=policy) as server:
        env = RemoteEnv(server, ECHO_ID, env_kwargs={"label": "allowed-kwarg", "max_turns": 3})
        env.close()
        for bad in ({"step_sleep_s": 1e9}, {"step_sleep_s": -1}, {"step_sleep_s": 6}, {"max_turns": 2, "runtime": "container"}):
            with pytest.raises(ProtocolError, match="not accepted|outside"):
                RemoteEnv(server, ECHO_ID, env_kwargs=bad)
        with _raw(server) as ws:
            reply = _ask(ws, '{"type": "make", "id": 1, "kwargs": {"step_sleep_s": 1e999}}')
            assert reply["type"] == "error"  # infinity is not JSON: refused before any policy question
    time.sleep(0.2)
    assert "allowed-kwarg" in CLOSED_LABELS


def test_the_serve_command_takes_the_allow_list():
    with running_server_process(ECHO_ID, imports=IMPORTS, args=("--allow-kwarg", "label")) as (server, _):
        RemoteEnv(server, ECHO_ID, env_kwargs={"label": "cli-allowed"}).close()
        with pytest.raises(ProtocolError, match="max_turns"):
            RemoteEnv(server, ECHO_ID, env_kwargs={"max_turns": 2})
        assert httpx.get(f"{server}/metadata").json()["policy"]["client_kwargs"] == ["label"]


# ------------------------------------------------------------------------------ tasks with reward code
def test_tasks_with_reward_code_are_refused_unless_the_operator_allows_them(url):
    with _raw(url) as ws:
        for request in ({"type": "reset", "id": 1, "options": {"task": PYTHON_TASK}},
                        {"type": "load_state", "id": 2, "state": {"count": 0, "log": [], "secret": 0}, "task": PYTHON_TASK}):
            reply = _ask(ws, request)
            assert (reply["type"], reply["code"]) == ("error", "forbidden") and "reward code" in reply["message"]
        assert _ask(ws, {"type": "ping", "id": 3})["type"] == "pong"
    with _raw(url, "/openenv/ws") as ws:  # OpenEnv's route builds its env the same way
        ws.send(json.dumps({"type": "reset", "data": {"task": PYTHON_TASK}}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and "reward code" in json.dumps(reply)
    for path, body in (("/openenv/reset", {"task": PYTHON_TASK}), ("/openenv/step", {"task": PYTHON_TASK, "action": "stop"})):
        reply = httpx.post(f"{url}{path}", json=body)  # OpenEnv's stateless routes
        assert reply.status_code >= 400 and "reward code" in reply.text, (path, reply.text[:300])
    env = RemoteEnv(url, ECHO_ID)
    with pytest.raises(PermissionError):
        env.reset(options={"task": PYTHON_TASK})
    env.close()


def test_allowed_reward_code_runs_jailed_and_pays():
    with running_server(ECHO_ID, policy=SessionPolicy(allow_python_rewards=True)) as server:
        env = RemoteEnv(server, ECHO_ID)
        env.reset(options={"task": PYTHON_TASK})
        _, reward, terminated, _, info = env.step("stop")
        assert (reward, terminated, info["success"]) == (1.0, True, True) and "infra_error" not in info
        hostile = {**PYTHON_TASK, "reward": {"kind": "python", "code": "def reward(i, f, t=None):\n    while f:\n        pass\n    return 1.0"}}
        env.reset(options={"task": hostile})
        _, reward, _, _, info = env.step("stop")
        assert reward == 0.0 and "longer than" in info["infra_error"]
        env.close()


# ------------------------------------------------------------------------------ exposure
@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
                                             ("localhost", True), ("0.0.0.0", False), ("::", False),
                                             ("192.168.1.20", False), ("example.com", False)])
def test_a_token_is_required_beyond_loopback(host, loopback):
    assert is_loopback(host) is loopback
    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(UsageError, match="token"):
            check_bind(host, None)
        check_bind(host, "s3cret")
        with pytest.raises(UsageError, match="token"):
            build_server(create_app(ECHO_ID), host=host, port=0)


def test_the_serve_command_refuses_to_bind_beyond_loopback_without_a_token():
    done = subprocess.run([sys.executable, "-m", "envgym", "serve", ECHO_ID, "--host", "0.0.0.0", "--port", "0",
                           "--import", IMPORTS[0]], capture_output=True, text=True, timeout=120, env=_clean_env())
    assert done.returncode != 0 and "token" in (done.stdout + done.stderr) and "READY" not in done.stdout


def _clean_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "ENVGYM_TOKEN"} | {"PYTHONPATH": os.pathsep.join(sys.path)}


# ------------------------------------------------------------------------------ malformed frames
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("frame, code", [
    ('{"type": ["reset"], "id": 1}', "unknown_type"),
    ('{"type": {"reset": 1}, "id": 2}', "unknown_type"),
    ('{"type": 5, "id": 3}', "unknown_type"),
    ('{"type": null, "id": 4}', "validation_error"),
    ('{"type": "step", "id": 5, "action": {"$bytes": "!!not base64!!"}}', "validation_error"),
    ('{"type": "step", "id": 6, "action": {"$bytes": 12}}', "validation_error"),
    ('{"type": "step", "id": 7, "action": {"$bytes": ["x"]}}', "validation_error"),
    ('{"type": "step", "id": 8, "action": ' + _nested(500) + "}", "validation_error"),
    ('{"type": "set_state", "id": 9, "state": {"a": ' + _nested(1000) + "}}", "validation_error"),
    ('{"type": "step", "id": 10, "action": ' + _nested(5000) + "}", "invalid_json"),
    ('{"type": "ping", "id": 99999999999999999999999999}', "validation_error"),
    ('{"type": "ping", "id": [1]}', "validation_error"),
    ('{"type": "reset", "id": 11, "options": {"task": {"task_id": []}}}', "env_exception"),
    ('{"type": "reset", "id": 12, "seed": 1e400}', "invalid_json"),
])
def test_malformed_frames_get_a_typed_error_and_the_session_lives(url, frame, code):
    with _raw(url) as ws:
        reply = _ask(ws, frame)
        assert (reply["type"], reply["code"]) == ("error", code), reply
        assert _ask(ws, {"type": "ping", "id": "after"})["id"] == "after"


@pytest.mark.parametrize("frame", ['{"type": ["reset"]}', '{"type": {"a": 1}}', '{"type": "reset", "data": ' + _nested(900) + "}",
                                   '{"type": "step", "data": {"action": {"$bytes": "!!"}}}', "[]", "null"])
def test_malformed_frames_on_the_openenv_route_get_an_answer_too(url, frame):
    with _raw(url, "/openenv/ws") as ws:
        ws.send(frame)
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        ws.send(json.dumps({"type": "state"}))
        assert json.loads(ws.recv(timeout=10))["type"] in ("state", "error")  # still answering


# ------------------------------------------------------------------------------ slow and half-open connections
def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("opening", [
    b"",  # connects, says nothing
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",  # headers never finish
    b"POST /openenv/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"se",  # body never finishes
])
def test_half_open_and_slow_connections_are_closed(url, opening):
    port = int(url.rsplit(":", 1)[1])
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for sock in sockets:
        sock.sendall(opening)
    start = time.monotonic()
    assert all(_closed_within(sock, 5.0) for sock in sockets)
    assert time.monotonic() - start < 5.0
    for sock in sockets:
        sock.close()
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_an_open_session_outlives_the_handshake_deadline(url):
    with _raw(url) as ws:
        time.sleep(1.5)  # three handshake deadlines
        assert _ask(ws, {"type": "ping", "id": 1})["type"] == "pong"
