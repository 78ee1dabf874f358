"""Drives an env server with OpenEnv's own clients; runs in the ``openenv`` peer venv (never imports
envgym).  ``python openenv_driver.py SCENARIO URL SPEC_JSON`` prints one JSON object.

Scenarios:

* ``generic`` — ``GenericEnvClient(...).sync()``: ``reset(**spec["reset"])``, then ``step(a)`` for
  each ``a`` in ``spec["steps"]``, then ``state()``; each result as ``{"observation", "reward", "done"}``
  (an error as ``{"error": str}``).
* ``mcp`` — ``MCPToolClient`` (over ``/ws``, with rewards): ``reset``, ``list_tools``, then
  ``call_tool(name, **arguments)`` for each ``[name, arguments]`` in ``spec["calls"]``.
* ``mcp_http`` — the same client in production mode (HTTP ``/mcp`` sessions), then ``close``.
"""

from __future__ import annotations

import asyncio
import json
import sys


def _result(result):
    return {"observation": result.observation, "reward": result.reward, "done": result.done}


def generic(url, spec):
    from openenv.core.generic_client import GenericEnvClient

    out = {"steps": []}
    with GenericEnvClient(base_url=url, **spec.get("client", {})).sync() as env:
        out["reset"] = _result(env.reset(**spec.get("reset", {})))
        for action in spec.get("steps", []):
            try:
                out["steps"].append(_result(env.step(action)))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                out["steps"].append({"error": str(exc)})
        out["state"] = env.state()
    return out


async def mcp(url, spec, production=False):
    from openenv.core.mcp_client import MCPToolClient

    out = {"calls": []}
    env = MCPToolClient(base_url=url)
    env.use_production_mode = production
    try:
        if not production:
            await env.connect()
            out["reset"] = (await env.reset(**spec.get("reset", {}))).observation.model_dump()
        tools = await env.list_tools()
        out["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]
        for name, arguments in spec.get("calls", []):
            try:
                out["calls"].append({"result": await env.call_tool(name, **arguments)})
            except Exception as exc:  # noqa: BLE001 - reported to the test
                out["calls"].append({"error": str(exc)})
        out["session_id"] = env._production_session_id
    finally:
        await env.close()
    return out


def main():
    scenario, url, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if scenario == "generic":
        out = generic(url, spec)
    else:
        out = asyncio.run(mcp(url, spec, production=scenario == "mcp_http"))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
