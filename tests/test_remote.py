"""Remote envs over a real uvicorn server on 127.0.0.1: semantics, concurrency, endpoints."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings

import httpx
import pytest

import envgym
from envgym.agents.base import Agent
from envgym.agents.loop import run_episode
from envgym.remote.client import AsyncRemoteEnv, RemoteEnv, make_remote
from envgym.remote.errors import ProtocolError
from envgym.remote.loopback import running_server
from envgym.remote.policy import SessionPolicy
from tests.support.containers import wait_until
from tests.support.echo_envs import BUILT, CLOSED_LABELS, ECHO_ID, EchoEnv, gate

# Text, a function-call string, structured tool calls (dict and JSON-string arguments), unicode,
# an invalid tool (answered with info["action_error"]) and the terminating action.
ACTIONS = [
    "hello",
    'echo("héllo wörld 你好 😀")',
    {"name": "echo", "arguments": {"text": "tool call"}},
    {"name": "echo", "arguments": '{"text": "json args"}'},
    {"name": "fly", "arguments": {}},
    "multi\nline\ttext ✓",
    "stop",
]


@pytest.fixture(scope="module")
def echo_url():
    # the kwargs these tests send, allow-listed (clients may send none by default)
    with running_server(ECHO_ID, policy=SessionPolicy(frozenset({"max_turns", "image_size"}))) as url:
        yield url


def _local_run(seed: int, actions: list, **kwargs) -> tuple:
    env = envgym.make(ECHO_ID, **kwargs)
    reset = env.reset(seed=seed)
    steps = [env.step(a) for a in actions]
    state = env.get_state()
    env.close()
    return reset, steps, state


def test_round_trip_matches_local_env(echo_url):
    expected_reset, expected_steps, expected_state = _local_run(7, ACTIONS)
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        assert env.reset(seed=7) == expected_reset
        for action, expected in zip(ACTIONS, expected_steps):
            got = env.step(action)
            assert got == expected
            assert type(got[1]) is float and type(got[2]) is bool and type(got[3]) is bool
        obs = got[0]
        assert isinstance(obs["image"], bytes) and obs["image"].startswith(b"\x89PNG")
        assert expected_steps[4][4]["action_error"]  # the invalid tool came through as an action error
        assert expected_steps[-1][2] is True and expected_steps[-1][4]["success"] is True
        assert env.get_state() == expected_state
    finally:
        env.close()


def test_state_round_trip_and_reset_options(echo_url):
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        env.reset(seed=1)
        env.step("a")
        env.step("b")
        state = env.get_state()
        env.step("c")
        env.set_state(state)
        assert env.get_state() == state
        task = {"task_id": "t-ü", "env_id": ECHO_ID, "instruction": "say ✓", "seed": 5}
        obs, info = env.reset(seed=3, options={"task": task})
        assert info["task_id"] == "t-ü" and obs["instruction"] == "say ✓"
    finally:
        env.close()


def test_observe_load_state_and_oracle_match_local(echo_url):
    local = envgym.make(ECHO_ID)
    local.reset(seed=9)
    local.step("one")
    state = local.get_state()
    task = local.task
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        env.reset(seed=0)
        assert env.load_state(state, task=task) == envgym.make(ECHO_ID).load_state(state, task=task)
        assert env.get_state() == state
        stepped = env.step("two")[0]
        assert env.observe() == stepped  # observe shows the current state and changes nothing
        assert env.get_state()["log"] == state["log"] + ["two"]
        assert env.oracle_action() == local.oracle_action() == "stop"
    finally:
        env.close()
        local.close()


def test_truncation_and_per_session_env_kwargs(echo_url):
    """make_remote sends constructor kwargs (max_turns=2) to the server, for this session only."""
    env = envgym.make(ECHO_ID, runtime="remote", url=echo_url, max_turns=2)
    other = RemoteEnv(echo_url, ECHO_ID)
    try:
        assert env.max_turns == 2 and other.max_turns == EchoEnv.default_max_turns
        env.reset(seed=0)
        assert env.step("a")[3] is False
        _, _, terminated, truncated, info = env.step("b")
        assert (terminated, truncated, info["success"]) == (False, True, False)
    finally:
        env.close()
        other.close()


def test_wrong_env_id_is_refused(echo_url):
    with pytest.raises(ProtocolError, match="serves"):
        RemoteEnv(echo_url, "envgym/Maze-v0")


def test_gymnasium_check_env_passes(echo_url):
    from gymnasium.utils.env_checker import check_env

    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env)
        assert env.action_space.tool_names == ("echo", "stop")
    finally:
        env.close()


def test_render_over_the_wire(echo_url):
    env = RemoteEnv(echo_url, ECHO_ID, render_mode="ansi")
    try:
        env.reset(seed=2)
        env.step("ping")
        frame = env.render()
        assert isinstance(frame, str) and "last=ping" in frame
    finally:
        env.close()


class _ScriptAgent(Agent):
    name = "script"

    def __init__(self, actions):
        self.actions = list(actions)

    def reset(self, observation, info):
        self.queue = list(self.actions)

    def act(self, observation, info):
        return self.queue.pop(0)


def test_run_episode_over_remote_matches_local(echo_url):
    local = run_episode(envgym.make(ECHO_ID), _ScriptAgent(ACTIONS), seed=11)
    env = RemoteEnv(echo_url, ECHO_ID)
    try:
        remote = run_episode(env, _ScriptAgent(ACTIONS), seed=11)
    finally:
        env.close()
    assert remote.env_id == ECHO_ID and remote.infra_error is None and remote.success
    assert [(t.observation, t.reward, t.info) for t in remote.turns] == [
        (t.observation, t.reward, t.info) for t in local.turns
    ]


def test_sync_client_inside_a_running_event_loop(echo_url):
    async def notebook_cell():
        env = RemoteEnv(echo_url, ECHO_ID)  # blocking calls from inside a coroutine, like Jupyter
        try:
            env.reset(seed=4)
            return env.step("inside loop")[4]["echo"]
        finally:
            env.close()

    assert asyncio.run(notebook_cell()) == "inside loop"


def test_async_client_64_concurrent_sessions(echo_url):
    sessions = 64
    expected = {seed: _local_run(seed, ACTIONS)[1] for seed in range(sessions)}

    async def main():
        envs = [AsyncRemoteEnv(echo_url, ECHO_ID) for _ in range(sessions)]
        await asyncio.gather(*(env.connect() for env in envs))
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{echo_url}/health")).json()

        async def episode(seed, env):
            await env.reset(seed=seed)
            return seed, [await env.step(a) for a in ACTIONS]

        try:
            results = await asyncio.gather(*(episode(seed, env) for seed, env in enumerate(envs)))
        finally:
            await asyncio.gather(*(env.close() for env in envs))
        return health, results

    health, results = asyncio.run(main())
    assert health["sessions"] >= sessions
    assert len({env_result[0] for env_result in results}) == sessions
    for seed, steps in results:
        assert steps == expected[seed]


def test_slow_session_does_not_block_others(echo_url):
    """While one session's step is blocked inside the env, another session completes many steps and
    /health answers; the blocked step then completes normally."""
    name = "slow-session"
    held = gate(name)
    slow = RemoteEnv(echo_url, ECHO_ID)
    fast = RemoteEnv(echo_url, ECHO_ID, env_kwargs={"max_turns": 100})
    slow.reset(seed=0)
    fast.reset(seed=0)
    result: dict = {}

    def slow_step():
        result["step"] = slow.step(f"wait:{name}")

    worker = threading.Thread(target=slow_step)
    worker.start()
    try:
        assert held.entered.wait(timeout=30), "the slow step never reached the env"
        order = []
        for i in range(20):
            fast.step(f"fast {i}")
            order.append(("fast", i, worker.is_alive()))
        health = httpx.get(f"{echo_url}/health").json()
        assert all(alive for _, _, alive in order), "the slow step finished before the fast ones"
        assert health["busy"] >= 1
        assert not result
    finally:
        held.release.set()
        worker.join(timeout=30)
    assert result["step"][4]["echo"] == f"wait:{name}"
    slow.close()
    fast.close()


def test_spare_envs_are_built_ahead_and_handed_to_sessions_that_ask_for_nothing_else():
    BUILT.clear()
    CLOSED_LABELS.clear()
    policy = SessionPolicy(frozenset({"label"}))
    with running_server(ECHO_ID, spare_envs=1, env_kwargs={"label": "spare"}, policy=policy) as url:
        wait_until(lambda: len(BUILT) == 1, 10, "the spare env")  # built before any session
        first = RemoteEnv(url, ECHO_ID, env_kwargs={"label": "spare"})  # what the server's kwargs say
        assert len(BUILT) == 1, "the session got the spare: no env was built for it"
        first.reset(seed=0)
        wait_until(lambda: len(BUILT) == 2, 10, "the next spare, after the first reset")
        assert first.step("hi")[4]["echo"] == "hi"
        other = RemoteEnv(url, ECHO_ID, env_kwargs={"label": "own"})  # other kwargs: its own env
        assert BUILT[-1][0] == "own" and CLOSED_LABELS == ["spare"], "the spare it took was closed unused"
        other.reset(seed=1)
        wait_until(lambda: len(BUILT) == 4, 10, "the spare after the second session's first reset")
        first.close()
        other.close()
    # each env was built on the thread of the session that used it ("own" on the thread of the spare it replaced)
    assert BUILT == [("spare", "envgym-session-1"), ("spare", "envgym-session-2"), ("own", "envgym-session-2"),
                     ("spare", "envgym-session-3")]
    assert sorted(CLOSED_LABELS) == ["own", "spare", "spare", "spare"], "the spare left at shutdown was closed too"


def test_health_metadata_and_schema(echo_url):
    health = httpx.get(f"{echo_url}/health").json()
    assert health["status"] == "ok" and health["env_id"] == ECHO_ID and health["max_sessions"] == 256
    metadata = httpx.get(f"{echo_url}/metadata").json()
    assert metadata["env_id"] == ECHO_ID
    assert metadata["envgym_version"] == envgym.__version__
    assert metadata["tags"] == ["test"] and metadata["description"]
    schema = httpx.get(f"{echo_url}/schema").json()
    assert set(schema["requests"]) == {
        "make", "reset", "step", "state", "set_state", "render", "observe", "load_state", "oracle_action",
        "ping", "close",
    }
    assert "env_exception" in schema["error_codes"]
    assert schema["action"]["tool_names"] == ["echo", "stop"]
    assert schema["observation"]["required"] == ["text"]
    assert "$bytes" in schema["observation"]["properties"]["image"]["properties"]
    assert schema["requests"]["reset"]["properties"]["seed"]


def test_make_remote_splits_client_options_from_env_kwargs(echo_url):
    env = make_remote(envgym.spec(ECHO_ID), echo_url, step_timeout_s=12.0, raise_on_infra_error=False, image_size=3)
    try:
        assert env.step_timeout_s == 12.0 and env.raise_on_infra_error is False
        obs, _ = env.reset(seed=0)
        assert len(obs["image"]) == 8 + 3  # the PNG signature plus image_size bytes
    finally:
        env.close()


def test_pipelined_requests_are_answered_in_order(echo_url):
    """Requests sent back to back without waiting are all answered, in order, ids echoed."""
    from websockets.sync.client import connect

    from envgym.remote.client import websocket_url

    with connect(websocket_url(echo_url), compression=None, proxy=None, legacy=True) as ws:
        ws.send(json.dumps({"type": "make", "id": "m", "kwargs": {"max_turns": 500}}))
        ws.send(json.dumps({"type": "reset", "id": "r", "seed": 0}))
        for i in range(200):
            ws.send(json.dumps({"type": "step", "id": i, "action": f"w{i}"}))
        replies = [json.loads(ws.recv(timeout=30)) for _ in range(202)]
    assert [r["id"] for r in replies] == ["m", "r", *range(200)]
    assert [r["info"]["echo"] for r in replies[2:]] == [f"w{i}" for i in range(200)]
