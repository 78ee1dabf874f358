"""OpenEnv's protocol on envgym's server, driven by OpenEnv's own clients (``GenericEnvClient``,
``MCPToolClient``) and CLI (``openenv validate``) from ``openenv-core`` in its own venv."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

import envgym
from envgym.interop.peer_venvs import peer_python
from envgym.remote.loopback import running_server, running_server_process
from tests.support.interop_envs import INFRA_FAIL_ID

DRIVER = Path(__file__).parent / "support" / "openenv_driver.py"
CLIENT_LIMIT = 100 * 1024 * 1024  # GenericEnvClient's default max_message_size_mb


@pytest.fixture(scope="module")
def openenv_python() -> str:
    return peer_python("openenv")


def drive(python: str, scenario: str, url: str, spec: dict) -> dict:
    done = subprocess.run([python, str(DRIVER), scenario, url, json.dumps(spec)], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def replay(env_id: str, seed: int, actions: list, **kwargs) -> list:
    """The same episode in process: ``[(obs, info), (obs, reward, terminated, truncated, info), ...]``."""
    env = envgym.make(env_id, **kwargs)
    try:
        out = [env.reset(seed=seed)]
        out += [env.step(action) for action in actions]
        out.append(env.get_state())
        return out
    finally:
        env.close()


def test_generic_client_plays_maze_like_in_process(openenv_python):
    actions = ["north", {"name": "move", "arguments": {"direction": "east"}}, "east"]
    with running_server("envgym/Maze-v0") as url:
        got = drive(openenv_python, "generic", f"{url}/openenv", {
            "reset": {"seed": 3, "episode_id": "ep-1"},
            "steps": [{"action": a} for a in actions] + [{"bogus": 1}],
        })
    local = replay("envgym/Maze-v0", 3, actions)
    assert got["reset"]["observation"]["text"] == local[0][0]["text"]
    assert got["reset"]["done"] is False and got["reset"]["reward"] is None
    assert got["reset"]["observation"]["metadata"]["info"]["task_id"] == local[0][1]["task_id"]
    for step, (obs, reward, terminated, truncated, info) in zip(got["steps"], local[1:4]):
        assert step["observation"]["text"] == obs["text"]
        assert step["reward"] == reward and step["done"] == (terminated or truncated)
        meta = step["observation"]["metadata"]
        assert (meta["terminated"], meta["truncated"]) == (terminated, truncated)
        assert meta["info"]["turn"] == info["turn"] and meta["episode_id"] == "ep-1"
    assert "VALIDATION_ERROR" in got["steps"][3]["error"]
    assert got["state"]["step_count"] == 3 and got["state"]["episode_id"] == "ep-1"
    assert got["state"]["env_state"] == local[-1]


def test_mcp_tool_client_solves_sql_over_ws_and_http(openenv_python):
    env = envgym.make("envgym/SQL-v0")
    obs, _ = env.reset(seed=0)
    calls, texts, rewards = [], [], []
    while (action := env.unwrapped.oracle_action()) is not None:
        calls.append([action["name"], action["arguments"]])
        step_obs, reward, terminated, truncated, _ = env.step(action)
        texts.append(step_obs["text"])
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in obs["tools"]}
    with running_server("envgym/SQL-v0") as url:
        ws = drive(openenv_python, "mcp", f"{url}/openenv", {"reset": {"seed": 0}, "calls": calls + [["nope", {}]]})
        http = drive(openenv_python, "mcp_http", f"{url}/openenv", {"calls": [calls[0], ["sql", {"query": 42}]]})
        health = json.loads(subprocess.run(["curl", "-s", f"{url}/health"], capture_output=True, text=True).stdout)
    assert {t["name"]: t["input_schema"] for t in ws["tools"]} == schemas
    assert [c["result"] for c in ws["calls"][:-1]] == texts  # each tool's result is the observation text
    assert rewards[-1] > 0  # the answer is rewarded
    assert "tool_not_found" in ws["calls"][-1]["error"]
    assert {t["name"] for t in http["tools"]} == set(schemas) and http["session_id"]
    query_result = texts[0].split("Question:")[0]  # the HTTP session's task is another, the query's table the same
    assert http["calls"][0]["result"].startswith(query_result) and "145" in query_result
    assert "'query' must be a string" in http["calls"][1]["result"]  # an invalid call is told, as in envgym
    assert health["sessions"] == 0  # the client's close ended its HTTP session


def test_web_env_sends_screenshots_as_base64_under_the_client_limit(openenv_python):
    kwargs = {"screenshot": True, "image_format": "png"}
    with running_server("envgym/WebShop-v0", env_kwargs=kwargs, max_sessions=2) as url:
        got = drive(openenv_python, "generic", f"{url}/openenv", {"reset": {"seed": 0}, "steps": [{"action": "scroll(0, 200)"}]})
    for result in (got["reset"], got["steps"][0]):
        obs = result["observation"]
        png = base64.b64decode(obs["image"])
        assert png.startswith(b"\x89PNG") and obs["image_media_type"] == "image/png"
        assert 1000 < len(json.dumps(result)) < CLIENT_LIMIT
    assert "Page:" in got["reset"]["observation"]["text"]


def test_containerised_sandbox_env_over_mcp(openenv_python, engine):
    calls = [["python", {"code": "print(6 * 7)"}], ["answer", {"text": "42"}]]
    with running_server("envgym/PythonSandbox-v0", max_sessions=2) as url:
        got = drive(openenv_python, "mcp", f"{url}/openenv", {"reset": {"seed": 0}, "calls": calls})
    assert "42" in got["calls"][0]["result"]
    assert {t["name"] for t in got["tools"]} == {"python", "answer"}


def test_openenv_at_the_root_passes_openenv_validate(openenv_python):
    with running_server_process("envgym/Maze-v0", args=("--openenv",)) as (url, _process):
        got = drive(openenv_python, "generic", url, {"reset": {"seed": 1}, "steps": [{"action": "south"}]})
        validate = subprocess.run([str(Path(openenv_python).parent / "openenv"), "validate", "--url", url],
                                  capture_output=True, text=True, timeout=120)
        from envgym.remote.client import RemoteEnv

        native = RemoteEnv(f"{url}/envgym", "envgym/Maze-v0")
        native_obs, _ = native.reset(seed=1)
        native.close()
    assert got["reset"]["observation"]["text"] == native_obs["text"]
    report = json.loads(validate.stdout)
    assert report["passed"], report
    assert report["standard_profile"] == "openenv-http/1.x" and report["mode"] == "simulation"


# ------------------------------------------------------------------ protocol details (raw frames)
def ws_exchange(url: str, frames: list[str], **connect) -> list[dict]:
    from websockets.sync.client import connect as ws_connect

    replies = []
    with ws_connect(url.replace("http", "ws") + "/openenv/ws", **connect) as ws:
        for frame in frames:
            ws.send(frame)
            replies.append(json.loads(ws.recv(timeout=30)))
    return replies


def test_errors_use_openenv_codes_and_keep_infra_errors_distinct():
    frames = ["{not json", json.dumps({"type": "nope"}), json.dumps({"type": "step", "data": {"action": "x"}}),
              json.dumps({"type": "reset", "data": {"seed": -1}}), json.dumps({"type": "reset", "data": {"colour": 1}}),
              json.dumps({"type": "reset"}), json.dumps({"type": "step", "data": {"action": "bug"}}),
              json.dumps({"type": "step", "data": {"action": "infra"}}), json.dumps({"type": "step", "data": {"action": "win"}})]
    with running_server(INFRA_FAIL_ID) as url:
        replies = ws_exchange(url, frames)
    codes = [r["data"].get("code") if r["type"] == "error" else r["type"] for r in replies]
    assert codes == ["INVALID_JSON", "UNKNOWN_TYPE", "EXECUTION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR",
                     "observation", "EXECUTION_ERROR", "EXECUTION_ERROR", "observation"]
    assert replies[2]["data"]["exc_type"] == "ResetNeeded"
    assert replies[6]["data"]["exc_type"] == "ValueError" and "infra_error" not in replies[6]["data"]
    assert replies[7]["data"]["infra_error"] is True and replies[7]["data"]["exc_type"] == "InfraError"
    final = replies[8]["data"]
    assert final["done"] is True and final["reward"] == 1.0 and final["observation"]["metadata"]["terminated"] is True
    assert base64.b64decode(final["observation"]["image"]) == b"\x89PNG\r\n\x1a\nfake"


def test_openenv_routes_refuse_what_the_native_route_refuses():
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect as ws_connect

    with running_server("envgym/Maze-v0", token="s3cret", max_sessions=1) as url:
        ws_url = url.replace("http", "ws")
        for path in ("/ws", "/openenv/ws", "/openenv/mcp"):
            with pytest.raises(InvalidStatus) as refused:
                ws_connect(ws_url + path)
            assert refused.value.response.status_code == 401
        for method, path in (("POST", "/openenv/reset"), ("POST", "/openenv/step"), ("GET", "/openenv/schema"),
                             ("GET", "/openenv/metadata"), ("POST", "/openenv/mcp")):
            status = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, url + path],
                                    capture_output=True, text=True).stdout
            assert status == "401", (path, status)
        auth = {"additional_headers": {"Authorization": "Bearer s3cret"}}
        with ws_connect(ws_url + "/ws", **auth):  # the one session the server allows, taken natively
            with contextlib.suppress(ConnectionClosed), ws_connect(ws_url + "/openenv/ws", **auth) as ws:
                capacity = json.loads(ws.recv(timeout=30))  # told at once, then closed with 1013
            mcp = subprocess.run(["curl", "-s", "-H", "Authorization: Bearer s3cret", "-d",
                                  '{"jsonrpc": "2.0", "id": 1, "method": "openenv/session/create"}', url + "/openenv/mcp"],
                                 capture_output=True, text=True).stdout
    assert capacity["data"]["code"] == "CAPACITY_REACHED" and capacity["data"]["envgym_code"] == "capacity_reached"
    assert json.loads(mcp)["error"]["code"] == -32000


def test_policy_refusals_keep_their_meaning_in_openenv_codes():
    code_task = {"task_id": "client-code", "env_id": "envgym/Maze-v0", "instruction": "x",
                 "reward": {"kind": "python", "code": "def reward(i, f, t=None):\n    return 1.0"}}
    with running_server("envgym/Maze-v0") as url:
        reply = ws_exchange(url, [json.dumps({"type": "reset", "data": {"task": code_task}}), json.dumps({"type": ["reset"]})])
        status = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", json.dumps({"task": code_task}),
                                 url + "/openenv/reset"], capture_output=True, text=True).stdout
    assert reply[0]["data"]["code"] == "VALIDATION_ERROR" and reply[0]["data"]["envgym_code"] == "forbidden"
    assert reply[1]["data"]["code"] == "UNKNOWN_TYPE"
    assert status == "403"


def test_mcp_over_websocket_message_and_route_and_http_sessions_are_reaped():
    import time

    import httpx

    rpc = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
    call = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "move", "arguments": {"direction": "east"}}}
    with running_server("envgym/Maze-v0", idle_timeout_s=0.5) as url:
        via_message = ws_exchange(url, [json.dumps({"type": "reset", "data": {"seed": 1}}), json.dumps({"type": "mcp", "data": rpc})])[1]
        from websockets.sync.client import connect as ws_connect

        with ws_connect(url.replace("http", "ws") + "/openenv/mcp") as ws:  # JSON-RPC frames, no envelope
            ws.send(json.dumps(call))
            via_route = json.loads(ws.recv(timeout=30))
        created = httpx.post(url + "/openenv/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "openenv/session/create"}).json()
        session_id = created["result"]["session_id"]
        assert httpx.get(url + "/health").json()["sessions"] == 1
        time.sleep(2.0)  # idle past idle_timeout_s: the reaper ends the HTTP session like a WebSocket one
        health = httpx.get(url + "/health").json()
        late = httpx.post(url + "/openenv/mcp", json={**call, "params": {**call["params"], "session_id": session_id}}).json()
    assert via_message["type"] == "mcp" and via_message["data"]["result"]["tools"][0]["name"] == "move"
    assert via_route["id"] == 8 and via_route["result"]["structured_content"]["turn"] == 1
    assert health["sessions"] == 0 and health["reaped_sessions"] >= 1
    assert late["error"]["code"] == -32602 and "Unknown session_id" in late["error"]["message"]
