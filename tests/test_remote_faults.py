"""Faults of remote envs: malformed input, limits, auth, reaping, dead servers, raising envs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import envgym
from envgym.agents.base import Agent
from envgym.agents.loop import run_episode
from envgym.remote.client import AsyncRemoteEnv, RemoteEnv, websocket_url
from envgym.remote.errors import (
    CapacityReached,
    ConnectionLost,
    ProtocolError,
    RemoteEnvError,
    RemoteEnvInfraError,
    SessionExpired,
    Unauthorized,
)
from envgym.remote.protocol import CloseCode
from envgym.remote.loopback import running_server, running_server_process
from envgym.remote.policy import SessionPolicy
from tests.support.echo_envs import CLOSED_LABELS, ECHO_ID, IMPORTS, gate

CAP = 64 * 1024  # a small request cap, so oversized messages stay cheap
POLICY = SessionPolicy(frozenset({"raise_on", "label", "no_such_kwarg", "max_turns"}))  # the kwargs these tests send


@pytest.fixture(scope="module")
def echo_url():
    with running_server(ECHO_ID, max_message_bytes=CAP, policy=POLICY) as url:
        yield url


def _raw(url: str, **kwargs):
    return connect(websocket_url(url), compression=None, proxy=None, open_timeout=10, legacy=True, **kwargs)


def _ask(ws, message) -> dict:
    ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
    return json.loads(ws.recv(timeout=10))


def _assert_server_healthy(url: str) -> None:
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    env = RemoteEnv(url, ECHO_ID)
    try:
        env.reset(seed=0)
        assert env.step("still alive")[4]["echo"] == "still alive"
    finally:
        env.close()


# ------------------------------------------------------------------------------ malformed input
@pytest.mark.parametrize(
    "message, code",
    [
        ("this is not json {", "invalid_json"),
        ("", "invalid_json"),
        (b"\x00\xffbinary frame", "invalid_json"),
        (b'{"type": "ping", "id": 1}', "invalid_json"),  # JSON, but in a binary frame
        ("[1, 2, 3]", "validation_error"),
        ('{"id": 3}', "validation_error"),
        ('{"type": "launch_missiles", "id": 4}', "unknown_type"),
        ('{"type": "reset", "id": 5, "seed": "abc"}', "validation_error"),
        ('{"type": "reset", "id": 6, "seed": true}', "validation_error"),
        ('{"type": "reset", "id": 7, "options": [1]}', "validation_error"),
        ('{"type": "step", "id": 8}', "validation_error"),
        ('{"type": "set_state", "id": 9, "state": "nope"}', "validation_error"),
        ('{"type": "ping", "id": 10, "surprise": 1}', "validation_error"),
        ('{"type": "make", "id": 11, "kwargs": []}', "validation_error"),
    ],
)
def test_malformed_message_gets_typed_error_and_session_survives(echo_url, message, code):
    with _raw(echo_url) as ws:
        reply = _ask(ws, message)
        assert reply["type"] == "error" and reply["code"] == code, reply
        if isinstance(message, str) and message.startswith("{") and '"id": ' in message:
            assert reply["id"] == json.loads(message)["id"]  # the id is echoed even on errors
        assert _ask(ws, {"type": "reset", "id": 99, "seed": 1})["type"] == "reset"  # same session works
        assert _ask(ws, {"type": "step", "id": 100, "action": "ok"})["info"]["echo"] == "ok"
    _assert_server_healthy(echo_url)


def test_validation_error_lists_the_bad_field(echo_url):
    with _raw(echo_url) as ws:
        reply = _ask(ws, {"type": "reset", "id": "r1", "seed": "abc"})
    assert reply["id"] == "r1" and reply["code"] == "validation_error"
    assert any(error["loc"][-1] == "seed" for error in reply["errors"])


def test_protocol_errors_raise_protocol_error_in_client(echo_url):
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        with pytest.raises(ProtocolError) as caught:
            env.reset(seed="not an int")  # type: ignore[arg-type]
        assert caught.value.code == "validation_error"
        assert env.reset(seed=1)[1]["turn"] == 0  # the session is still usable
    finally:
        env.close()


def test_oversized_message_gets_message_too_large(echo_url):
    with _raw(echo_url, max_size=None) as ws:
        reply = _ask(ws, json.dumps({"type": "step", "id": 1, "action": "x" * (CAP + 10)}))
        assert reply["code"] == "message_too_large"
        assert _ask(ws, {"type": "ping", "id": 2})["type"] == "pong"
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        env.reset(seed=0)
        with pytest.raises(ProtocolError) as caught:
            env.step("y" * (CAP + 10))
        assert caught.value.code == "message_too_large"
        assert env.step("small")[4]["echo"] == "small"
    finally:
        env.close()
    _assert_server_healthy(echo_url)


def test_message_above_transport_limit_closes_with_1009(echo_url):
    with _raw(echo_url) as ws:
        ws.send("z" * (3 * CAP + 200_000))
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=10)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG
    _assert_server_healthy(echo_url)


# ------------------------------------------------------------------------------ env exceptions
def test_env_exception_is_typed_and_session_stays_usable(echo_url):
    env = RemoteEnv(echo_url, ECHO_ID, env_kwargs={"raise_on": "explode"})
    try:
        env.reset(seed=0)
        with pytest.raises(RemoteEnvError) as caught:
            env.step("explode")
        error = caught.value
        assert error.code == "env_exception" and error.exc_type == "RuntimeError"
        assert isinstance(error, RuntimeError)  # built-in types are mirrored
        assert "told to fail" in str(error) and "EchoEnv" in error.remote_traceback
        assert env.step("fine")[4]["echo"] == "fine"
    finally:
        env.close()


def test_env_infra_error_reaches_the_client_as_infra_error_and_the_session_recovers():
    """An env server in its own process; the env raises envgym.InfraError on a reset and on a step."""
    allow = ("--allow-kwarg", "infra_on", "--allow-kwarg", "infra_resets")
    with running_server_process(ECHO_ID, imports=IMPORTS, args=allow) as (url, _process):
        env = RemoteEnv(url, ECHO_ID, env_kwargs={"infra_on": "crash", "infra_resets": 1})
        try:
            with pytest.raises(envgym.InfraError) as caught:
                env.reset(seed=0)
            error = caught.value
            assert isinstance(error, RemoteEnvInfraError) and isinstance(error, RemoteEnvError)
            assert error.code == "env_infra_error" and error.exc_type == "InfraError"
            assert "backend is down" in str(error) and "_reset" in error.remote_traceback
            assert env.reset(seed=0)[1]["turn"] == 0  # the session survived; the env recovered
            with pytest.raises(RemoteEnvInfraError, match="backend crashed"):
                env.step("crash")
            assert env.step("fine")[4]["echo"] == "fine"
        finally:
            env.close()

        lenient = RemoteEnv(url, ECHO_ID, env_kwargs={"infra_on": "crash"}, raise_on_infra_error=False)
        try:
            lenient.reset(seed=0)
            obs, reward, terminated, truncated, info = lenient.step("crash")
            assert (reward, terminated, truncated) == (0.0, False, True) and info["success"] is False
            assert info["infra_error"].startswith("RemoteEnvInfraError: InfraError: EchoEnv's backend crashed")
            assert "The environment failed" in obs["text"]
            lenient.reset(seed=1)
            assert lenient.step("again")[4]["echo"] == "again"
        finally:
            lenient.close()

        async def play_async() -> None:
            async with AsyncRemoteEnv(url, ECHO_ID, env_kwargs={"infra_on": "crash"}) as aenv:
                await aenv.reset(seed=0)
                with pytest.raises(RemoteEnvInfraError):
                    await aenv.step("crash")
                assert (await aenv.step("fine"))[4]["echo"] == "fine"

        asyncio.run(play_async())


def test_step_before_reset_raises_reset_needed(echo_url):
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        with pytest.raises(envgym.ResetNeeded):
            env.step("too early")
    finally:
        env.close()


def test_failing_env_constructor_is_env_exception(echo_url):
    with pytest.raises(RemoteEnvError) as caught:
        RemoteEnv(echo_url, ECHO_ID, env_kwargs={"no_such_kwarg": 1})
    assert caught.value.exc_type == "TypeError"


# ------------------------------------------------------------------------------ limits and auth
def test_capacity_reached():
    with running_server(ECHO_ID, max_sessions=2) as url:
        first, second = RemoteEnv(url, ECHO_ID), RemoteEnv(url, ECHO_ID)
        with pytest.raises(CapacityReached) as caught:
            RemoteEnv(url, ECHO_ID)
        assert isinstance(caught.value, envgym.InfraError)
        with _raw(url) as ws:  # the raw protocol: an error message, then close code 1013
            assert json.loads(ws.recv(timeout=10))["code"] == "capacity_reached"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == CloseCode.TRY_AGAIN_LATER
        assert httpx.get(f"{url}/health").json()["refused_sessions"] == 2
        first.close()
        third = RemoteEnv(url, ECHO_ID)  # a freed slot is usable again
        third.reset(seed=0)
        assert third.step("in")[4]["echo"] == "in"
        third.close()
        second.close()


def test_token_is_required_when_set():
    with running_server(ECHO_ID, token="s3cret") as url:
        for token in (None, "wrong"):
            with pytest.raises(Unauthorized):
                RemoteEnv(url, ECHO_ID, token=token)
        with pytest.raises(InvalidStatus) as caught:
            _raw(url)
        assert caught.value.response.status_code == 401
        with _raw(url + "/ws?token=s3cret") as ws:
            assert _ask(ws, {"type": "ping", "id": 1})["type"] == "pong"
        env = RemoteEnv(url, ECHO_ID, token="s3cret")
        env.reset(seed=0)
        assert env.step("authorised")[4]["echo"] == "authorised"
        env.close()
        assert httpx.get(f"{url}/schema").status_code == 401
        assert httpx.get(f"{url}/metadata", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/metadata", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200  # health checks need no token


# ------------------------------------------------------------------------------ idle reaping
def _wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_idle_session_is_reaped_and_env_closed():
    with running_server(ECHO_ID, idle_timeout_s=0.3, policy=POLICY) as url:
        with _raw(url) as ws:
            assert _ask(ws, {"type": "make", "id": 1, "kwargs": {"label": "reaped-raw"}})["type"] == "made"
            expired = json.loads(ws.recv(timeout=20))  # the server speaks first, once it reaps us
            assert expired["code"] == "session_expired" and expired["id"] is None
            assert "reaped-raw" in CLOSED_LABELS  # the env was closed before the message was sent
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == CloseCode.SESSION_EXPIRED

        raising = RemoteEnv(url, ECHO_ID)
        flagged = RemoteEnv(url, ECHO_ID, raise_on_infra_error=False)
        raising.reset(seed=0)
        flagged.reset(seed=0)
        reaped_before = httpx.get(f"{url}/health").json()["reaped_sessions"]
        _wait_for(lambda: httpx.get(f"{url}/health").json()["reaped_sessions"] >= reaped_before + 2)
        with pytest.raises(SessionExpired):
            raising.step("late")
        obs, reward, terminated, truncated, info = flagged.step("late")
        assert "SessionExpired" in info["infra_error"] and reward == 0.0 and truncated
        raising.reset(seed=1)  # reset after an infra error reconnects with a fresh session
        assert raising.step("back")[4]["echo"] == "back"
        raising.close()
        flagged.close()


def test_busy_session_is_not_reaped():
    """A step running longer than the idle timeout is not idleness: the session survives it."""
    name = "busy-not-idle"
    held = gate(name)
    with running_server(ECHO_ID, idle_timeout_s=0.3) as url:
        env = RemoteEnv(url, ECHO_ID)
        env.reset(seed=0)
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("step", env.step(f"wait:{name}")))
        worker.start()
        try:
            assert held.entered.wait(timeout=30)
            with _raw(url) as idle:  # connected after the step began, reaped after the timeout
                idle.send(json.dumps({"type": "ping", "id": 1}))
                idle.recv(timeout=10)
                assert json.loads(idle.recv(timeout=20))["code"] == "session_expired"
        finally:
            held.release.set()
            worker.join(timeout=30)
        assert result["step"][4]["echo"] == f"wait:{name}"
        env.close()


# ------------------------------------------------------------------------------ dead or stuck servers
class _Repeat(Agent):
    def act(self, observation, info):
        return "again"


def test_server_killed_mid_step_is_infra_error_within_5s():
    with running_server_process(ECHO_ID, imports=IMPORTS, args=("--allow-kwarg", "max_turns")) as (url, process):
        raising = RemoteEnv(url, ECHO_ID)
        flagged = RemoteEnv(url, ECHO_ID, raise_on_infra_error=False, env_kwargs={"max_turns": 1000})
        raising.reset(seed=0)
        raising.step("before the kill")
        outcome: dict = {}

        def blocked_step():
            try:
                raising.step("wait:never-released")  # blocks inside the server's env
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                outcome["error"] = exc
                outcome["at"] = time.monotonic()

        worker = threading.Thread(target=blocked_step)
        worker.start()
        _wait_for(lambda: httpx.get(f"{url}/health").json()["busy"] >= 1)
        episode_box: dict = {}
        runner = threading.Thread(target=lambda: episode_box.setdefault("episode", run_episode(flagged, _Repeat(), seed=0)))
        killed_at = time.monotonic()
        os.kill(process.pid, signal.SIGKILL)
        runner.start()
        worker.join(timeout=30)
        runner.join(timeout=30)
        assert isinstance(outcome["error"], envgym.InfraError)
        assert isinstance(outcome["error"], ConnectionLost)
        assert outcome["at"] - killed_at < 5.0
        episode = episode_box["episode"]
        assert episode.infra_error and not episode.success
        with pytest.raises(envgym.InfraError):
            raising.step("after")
        with pytest.raises(ConnectionLost):
            raising.reset(seed=0)  # reconnecting to a dead server fails as an infra error too
        raising.close()
        flagged.close()


def test_async_client_sees_killed_server_as_infra_error():
    with running_server_process(ECHO_ID, imports=IMPORTS) as (url, process):

        async def scenario():
            env = AsyncRemoteEnv(url, ECHO_ID)
            flagged = AsyncRemoteEnv(url, ECHO_ID, raise_on_infra_error=False)
            await env.reset(seed=0)
            await flagged.reset(seed=0)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            start = time.monotonic()
            with pytest.raises(envgym.InfraError):
                await env.step("after the kill")
            elapsed = time.monotonic() - start
            step = await flagged.step("after the kill")
            await env.close()
            await flagged.close()
            return elapsed, step

        elapsed, (obs, reward, terminated, truncated, info) = asyncio.run(scenario())
        assert elapsed < 5.0
        assert info["infra_error"] and reward == 0.0 and truncated and not terminated


def test_frozen_server_is_detected_by_keepalive_within_5s():
    """A server that stops answering (SIGSTOP: socket open, nothing read) is caught by pings."""
    with running_server_process(ECHO_ID, imports=IMPORTS) as (url, process):
        env = RemoteEnv(url, ECHO_ID, ping_interval_s=0.5, ping_timeout_s=1.0)
        env.reset(seed=0)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(envgym.InfraError):
                env.step("into the void")
            assert time.monotonic() - start < 5.0
        finally:
            os.kill(process.pid, signal.SIGCONT)
        env.close()


def test_step_timeout_is_infra_error(echo_url):
    name = "step-timeout"
    held = gate(name)
    env = RemoteEnv(echo_url, ECHO_ID, step_timeout_s=0.5)
    env.reset(seed=0)
    try:
        with pytest.raises(ConnectionLost, match="within"):
            env.step(f"wait:{name}")
    finally:
        held.release.set()
    env.close()
    _assert_server_healthy(echo_url)


def test_no_server_is_connection_lost():
    with running_server(ECHO_ID) as url:
        pass  # the server is gone once the block ends; its port is closed
    with pytest.raises(ConnectionLost):
        RemoteEnv(url, ECHO_ID, connect_timeout_s=2.0)


def _resetting_peer():
    """A loopback TCP peer that accepts each connection and resets it at once (SO_LINGER 0): a
    server dying during the handshake.  Returns (url, stop)."""
    import socket
    import struct

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopped = threading.Event()

    def serve():
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop():
        stopped.set()
        thread.join(timeout=5)
        listener.close()

    return f"http://127.0.0.1:{listener.getsockname()[1]}", stop


def test_a_connection_reset_during_the_handshake_is_connection_lost():
    """Seen in CI: reconnecting while a killed server's port was answered by something that reset
    the connection raised websockets' ConnectionClosedError instead of an infra error."""
    import asyncio

    from envgym.remote.client import AsyncRemoteEnv

    url, stop = _resetting_peer()
    try:
        for _ in range(10):  # the reset reaches the client before, during or after it sends its request
            with pytest.raises(ConnectionLost, match="cannot connect"):
                RemoteEnv(url, ECHO_ID, connect_timeout_s=2.0)
            with pytest.raises(ConnectionLost, match="cannot connect"):
                asyncio.run(AsyncRemoteEnv(url, ECHO_ID, connect_timeout_s=2.0).connect())
    finally:
        stop()
