"""``envgym mcp ID``: an env's tools over MCP, driven with the official SDK's own client over stdio
and streamable HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import sys

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import envgym
from envgym.remote.loopback import read_ready_line


def oracle_episode(env_id: str, seed: int) -> tuple[dict, list, list]:
    """``(first obs, [(name, arguments)], [(text, reward, terminated)])`` of the oracle in process."""
    env = envgym.make(env_id)
    obs, _ = env.reset(seed=seed)
    calls, outcomes = [], []
    while (action := env.unwrapped.oracle_action()) is not None:
        step_obs, reward, terminated, truncated, _ = env.step(action)
        calls.append((action["name"], action["arguments"]))
        outcomes.append((step_obs["text"], reward, terminated))
        if terminated or truncated:
            break
    env.close()
    return obs, calls, outcomes


async def play(client: Client, seed: int, calls: list) -> dict:
    tools = (await client.list_tools()).tools
    reset = await client.call_tool("reset", {"seed": seed})
    unknown = await client.call_tool("no_such_tool", {})
    results = [await client.call_tool(name, arguments) for name, arguments in calls]
    after = await client.call_tool(calls[0][0], calls[0][1])  # the episode is over by now
    episode = json.loads((await client.read_resource("envgym://episode")).contents[0].text)
    return {"tools": tools, "reset": reset, "results": results, "after": after, "episode": episode, "unknown": unknown}


def check_sql_episode(got: dict, obs: dict, outcomes: list) -> None:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in obs["tools"]}
    listed = {t.name: t.input_schema for t in got["tools"]}
    assert listed.pop("reset")["properties"].keys() == {"seed", "task"}
    assert listed == schemas
    assert got["reset"].content[0].text == obs["text"]
    for result, (text, reward, terminated) in zip(got["results"], outcomes):
        assert result.content[0].text == text
        assert result.structured_content["reward"] == reward and result.structured_content["terminated"] == terminated
    assert got["after"].is_error and "reset" in got["after"].content[0].text
    assert got["episode"]["terminated"] and got["episode"]["return"] == pytest.approx(sum(o[1] for o in outcomes))
    assert got["episode"]["success"] is True
    assert got["unknown"].is_error and "unknown tool" in got["unknown"].content[0].text


def test_stdio_server_plays_sql_like_in_process():
    obs, calls, outcomes = oracle_episode("envgym/SQL-v0", seed=0)
    params = StdioServerParameters(command=sys.executable, args=["-m", "envgym", "mcp", "envgym/SQL-v0"])

    async def main() -> dict:
        async with Client(params) as client:
            return await play(client, 0, calls)

    check_sql_episode(asyncio.run(main()), obs, outcomes)


@pytest.fixture
def http_mcp(request):
    import subprocess
    import tempfile

    env_id, *extra = request.param
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen([sys.executable, "-m", "envgym", "mcp", env_id, "--http", "--port", "0", *extra],
                                   stdout=subprocess.PIPE, stderr=stderr)
        try:
            yield read_ready_line(process, 120, stderr)
        finally:
            process.terminate()
            process.wait(timeout=30)
            process.stdout.close()


@pytest.mark.parametrize("http_mcp", [("envgym/SQL-v0", "--token", "t0k")], indirect=True)
def test_http_server_plays_sql_behind_a_token(http_mcp):
    obs, calls, outcomes = oracle_episode("envgym/SQL-v0", seed=0)

    async def main() -> dict:
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer t0k"})
        async with http, Client(streamable_http_client(http_mcp, http_client=http)) as client:
            return await play(client, 0, calls)

    check_sql_episode(asyncio.run(main()), obs, outcomes)
    refused = httpx.post(http_mcp, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401


@pytest.mark.parametrize("http_mcp", [("envgym/WebShop-v0", "--kw", "screenshot=true")], indirect=True)
def test_http_server_web_env_offers_act_and_returns_screenshots(http_mcp):
    async def main():
        async with Client(http_mcp) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("act", {"action": "scroll(0, 200)"})
            bad = await client.call_tool("act", {})
            return tools, result, bad

    tools, result, bad = asyncio.run(main())
    assert [t.name for t in tools] == ["act", "reset"] and tools[0].input_schema["required"] == ["action"]
    text, image = result.content
    assert "Page:" in text.text and image.mime_type == "image/jpeg"
    assert base64.b64decode(image.data)[:2] == b"\xff\xd8"
    assert result.structured_content["terminated"] is False
    assert bad.is_error and "string 'action'" in bad.content[0].text
