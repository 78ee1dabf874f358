"""The synthesis chat client against the real loopback OpenAI-compatible stub server."""

from __future__ import annotations

import asyncio
import json

import pytest

import httpx  # noqa: F401  (a hard requirement: installed by the dev/train extras)
import fastapi  # noqa: F401  (a hard requirement: installed by the dev/train extras)

from tests.support.openai_stub import ScriptedOpenAIServer  # noqa: E402
from envgym.synth.llm import ChatClient, LLMBadJSON, LLMError, extract_json  # noqa: E402

MESSAGES = [{"role": "user", "content": "give me JSON"}]


def run(coro):
    return asyncio.run(coro)


async def _json_once(server: ScriptedOpenAIServer, **kwargs):
    async with ChatClient(server.base_url, "stub-model", backoff=0.01, max_backoff=0.05, **kwargs) as llm:
        value, reply = await llm.chat_json(MESSAGES, role="generator")
        return value, reply, llm


def test_json_mode_request_and_usage_counted_with_cost():
    with ScriptedOpenAIServer(['{"a": 1}']) as server:
        value, reply, llm = run(_json_once(server, price_prompt_per_1k=2.0, price_completion_per_1k=4.0))
        endpoint, body = server.requests[0]
    assert value == {"a": 1}
    assert endpoint == "chat" and body["response_format"] == {"type": "json_object"}
    assert body["messages"] == MESSAGES and body["model"] == "stub-model"
    report = llm.report()
    assert report["prompt_tokens"] == reply.prompt_tokens > 0
    assert report["completion_tokens"] == reply.completion_tokens > 0
    expected = reply.prompt_tokens / 1000 * 2.0 + reply.completion_tokens / 1000 * 4.0
    assert report["cost"] == pytest.approx(expected, abs=1e-6)
    assert report["by_role"]["generator"]["requests"] == 1


@pytest.mark.parametrize("fault", ["http_500", "http_429", "malformed_json"])
def test_retries_after_server_faults(fault):
    with ScriptedOpenAIServer(['{"ok": true}'], faults=[fault, fault]) as server:
        value, _, llm = run(_json_once(server))
        assert len(server.requests) == 3
    assert value == {"ok": True}
    assert llm.usage.retries == 2 and llm.usage.failures == 0


def test_timeout_is_retried():
    with ScriptedOpenAIServer(['{"ok": 1}']) as server:
        server.add_fault("slow", seconds=5)
        value, _, llm = run(_json_once(server, timeout=0.3))
    assert value == {"ok": 1} and llm.usage.retries == 1


def test_gives_up_with_llm_error_after_retries():
    with ScriptedOpenAIServer(['{"ok": 1}']) as server:
        server.add_fault("http_500", times=10)
        with pytest.raises(LLMError, match="after 3 attempts"):
            run(_json_once(server, max_retries=2))
        assert len(server.requests) == 3


def test_json_fallback_extracts_first_object_from_prose():
    text = 'Sure! Here it is:\n```json\n{"reward_code": "def reward(i, f, t=None): return 0"}\n```\nanything else?'
    with ScriptedOpenAIServer([text, "no json here at all"]) as server:
        value, _, _ = run(_json_once(server))
        assert value == {"reward_code": "def reward(i, f, t=None): return 0"}
        with pytest.raises(LLMBadJSON) as info:
            run(_json_once(server))
    assert info.value.text == "no json here at all"


def test_extract_json_edge_cases():
    assert extract_json('[1, 2] then {"x": {"y": [1]}} and {"z": 2}') == {"x": {"y": [1]}}
    assert extract_json("{broken {\"ok\": 1}") == {"ok": 1}
    assert extract_json(json.dumps({"k": "}{"})) == {"k": "}{"}
    assert extract_json("nothing") is None


def test_a_proxy_in_the_environment_never_serves_loopback(monkeypatch):
    """An operator's HTTP(S)_PROXY is for remote endpoints: a model server on this machine is reached
    directly (through the proxy, here a closed port, every call would fail)."""
    from envgym.llm_http import is_loopback

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with ScriptedOpenAIServer(['{"a": 1}']) as server:
        value, _reply, _llm = run(_json_once(server))
    assert value == {"a": 1}
    assert is_loopback("http://localhost:8000/v1") and is_loopback("http://[::1]:8000/v1")
    assert not is_loopback("https://api.example.com/v1") and not is_loopback("http://10.0.0.5:8000/v1")
