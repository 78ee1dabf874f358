"""Model backends: a real tiny torch model and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest

import torch
import transformers  # noqa: F401  (a hard requirement: installed by the dev/train extras)

from envgym.agents.backends import (  # noqa: E402
    BackendError,
    BackendTimeout,
    Generation,
    GenerationRequest,
    OpenAIBackend,
    ScriptedBackend,
    TransformersBackend,
    make_backend,
)
from tests.support.openai_stub import ScriptedOpenAIServer  # noqa: E402
from envgym.agents.tiny_policy import STAMP_FILE, build_tiny_policy, load_policy  # noqa: E402


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return build_tiny_policy(tmp_path_factory.mktemp("tiny") / "policy")


@pytest.fixture(scope="module")
def policy(policy_dir):
    return load_policy(policy_dir)


@pytest.fixture()
def backend(policy_dir):
    model, tokenizer = load_policy(policy_dir)  # fresh weights per test: some tests change them
    return TransformersBackend(model, tokenizer)


def _prompts(tokenizer):
    texts = ["You are in the kitchen.", "north", "SELECT name FROM users WHERE age > 30 ORDER BY name;"]
    return [tokenizer.encode(t, add_special_tokens=False) for t in texts]


def _recomputed_logprobs(model, prompt, completion, temperature=1.0):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return [logp[len(prompt) - 1 + i, token].item() for i, token in enumerate(completion)]


# ---------------------------------------------------------------------------- tiny policy
def test_tiny_policy_loads_like_a_real_checkpoint_and_tokenizer_round_trips(policy_dir, policy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(policy_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert model.config.vocab_size == len(tokenizer) <= 2048
    for text in ["go to fridge 1", 'sql(query="SELECT * FROM t;")', "~!@#$%^&*()_+{}|:<>?\t\n", "héllo 漢字 🙂"]:
        assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == model.config.eos_token_id
    # envgym words are single tokens (the tokenizer was trained on env text)
    assert len(tokenizer.encode("north", add_special_tokens=False)) == 1


def test_tiny_policy_build_is_cached_by_config(tmp_path):
    small = {"hidden_size": 16, "heads": 2, "vocab_size": 400}
    path = build_tiny_policy(tmp_path / "p", **small)
    stamp = path / STAMP_FILE
    before = stamp.stat().st_mtime_ns
    assert build_tiny_policy(tmp_path / "p", **small) == path
    assert stamp.stat().st_mtime_ns == before  # same config: reused, not rebuilt
    build_tiny_policy(tmp_path / "p", **{**small, "hidden_size": 32})  # same path, new config: rebuilt
    assert json.loads(stamp.read_text())["config"]["hidden_size"] == 32
    model, tokenizer = load_policy(path)
    assert model.config.hidden_size == 32 and len(tokenizer) <= 400


# ---------------------------------------------------------------------------- transformers backend
def test_generate_batch_lengths_and_logprobs_match_a_forward_pass(backend):
    tokenizer = backend.tokenizer
    prompts = _prompts(tokenizer)
    requests = [GenerationRequest(prompt_ids=p, max_new_tokens=12, temperature=1.0, seed=i) for i, p in enumerate(prompts)]
    generations = backend.generate(requests)
    assert len(generations) == 3
    for prompt, generation in zip(prompts, generations):
        assert 1 <= len(generation.completion_ids) <= 12
        assert len(generation.logprobs) == len(generation.completion_ids)
        assert all(lp <= 0.0 for lp in generation.logprobs)
        assert generation.text == tokenizer.decode(generation.completion_ids)
        assert generation.policy_version == 0
        assert generation.finish_reason in ("stop", "length")
        recomputed = _recomputed_logprobs(backend.model, prompt, generation.completion_ids)
        assert max(abs(a - b) for a, b in zip(recomputed, generation.logprobs)) < 1e-4


def test_logprobs_follow_temperature_and_greedy_is_argmax(backend):
    prompt = _prompts(backend.tokenizer)[0]
    hot = backend.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=8, temperature=0.7, seed=3, ignore_eos=True)])[0]
    recomputed = _recomputed_logprobs(backend.model, prompt, hot.completion_ids, temperature=0.7)
    assert max(abs(a - b) for a, b in zip(recomputed, hot.logprobs)) < 1e-4

    greedy = backend.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=8, temperature=0.0, ignore_eos=True)])[0]
    ids = torch.tensor([prompt + greedy.completion_ids])
    with torch.no_grad():
        logits = backend.model(ids).logits[0]
    argmax = logits[len(prompt) - 1 : -1].argmax(-1).tolist()
    assert greedy.completion_ids == argmax


def test_seeded_request_is_reproducible_whatever_the_batch(backend):
    prompts = _prompts(backend.tokenizer)
    alone = backend.generate([GenerationRequest(prompt_ids=prompts[2], max_new_tokens=10, seed=42, ignore_eos=True)])[0]
    batched = backend.generate(
        [GenerationRequest(prompt_ids=p, max_new_tokens=10, seed=42 if i == 2 else 7, ignore_eos=True) for i, p in enumerate(prompts)]
    )[2]
    assert batched.completion_ids == alone.completion_ids
    other_seed = backend.generate([GenerationRequest(prompt_ids=prompts[2], max_new_tokens=10, seed=43, ignore_eos=True)])[0]
    assert other_seed.completion_ids != alone.completion_ids


def test_stop_token_ids_and_stop_strings_end_the_completion(backend):
    prompt = _prompts(backend.tokenizer)[1]

    def run(**kwargs):
        request = GenerationRequest(prompt_ids=prompt, max_new_tokens=10, seed=5, ignore_eos=True, **kwargs)
        return backend.generate([request])[0]

    base = run()  # seeded: every run below draws the same tokens until it stops
    assert base.finish_reason == "length" and len(base.completion_ids) == 10
    k = next(i for i, t in enumerate(base.completion_ids) if i >= 2 and t not in base.completion_ids[:i])
    stopped = run(stop_token_ids=[base.completion_ids[k]])
    assert stopped.completion_ids == base.completion_ids[: k + 1]
    assert stopped.finish_reason == "stop"

    stop_text = backend.tokenizer.decode(base.completion_ids[:4])
    by_string = run(stop=[stop_text])
    assert by_string.completion_ids == base.completion_ids[:4]
    assert by_string.finish_reason == "stop"
    assert by_string.text.endswith(stop_text)


def test_update_weights_bumps_version_and_changes_outputs(backend):
    prompt = _prompts(backend.tokenizer)[0]
    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=6, temperature=0.0, ignore_eos=True)
    before = backend.generate([request])[0]
    new_state = {k: v + 0.05 * torch.randn_like(v) for k, v in backend.model.state_dict().items()}
    assert backend.update_weights(new_state) == 1
    assert backend.policy_version == 1
    after = backend.generate([request])[0]
    assert after.policy_version == 1
    assert after.completion_ids != before.completion_ids or after.logprobs != pytest.approx(before.logprobs, abs=1e-3)
    assert torch.equal(backend.model.state_dict()["model.norm.weight"], new_state["model.norm.weight"])
    assert backend.update_weights(backend.model, version=5) == 5
    with pytest.raises(ValueError):
        backend.update_weights(new_state, version=2)  # versions never go backwards
    with pytest.raises(KeyError):
        backend.update_weights({"not.a.parameter": torch.zeros(1)})


def test_update_weights_accepts_a_state_dict_without_the_tied_lm_head(backend, policy):
    model, _ = policy
    state = {k: v.clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    backend.update_weights(state)
    assert torch.equal(backend.model.lm_head.weight, model.model.embed_tokens.weight)


def test_request_validation():
    with pytest.raises(ValueError):
        GenerationRequest(prompt_ids=[], max_new_tokens=4)
    with pytest.raises(ValueError):
        GenerationRequest(prompt_ids=[1], max_new_tokens=0)
    with pytest.raises(ValueError):
        GenerationRequest(prompt_ids=[1], top_p=0.0)
    with pytest.raises(ValueError):
        Generation(completion_ids=[1, 2], logprobs=[-1.0], text="", finish_reason="stop")


def test_scripted_backend_returns_exact_ids(policy):
    _, tokenizer = policy
    backend = ScriptedBackend(tokenizer, [[5, 6, 7], "north"])
    first, second = backend.generate([GenerationRequest(prompt_ids=[1]), GenerationRequest(prompt_ids=[1])])
    assert first.completion_ids == [5, 6, 7] and first.logprobs == [-0.5] * 3
    assert second.completion_ids[-1] == tokenizer.eos_token_id
    with pytest.raises(IndexError):
        backend.generate([GenerationRequest(prompt_ids=[1])])


def test_make_backend_specs(policy_dir):
    backend = make_backend(f"hf:{policy_dir}")
    assert isinstance(backend, TransformersBackend)
    with pytest.raises(ValueError):
        make_backend("nonsense")


def test_vllm_backend_import_failure_is_explained():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vLLM is installed here")
    from envgym.agents.backends import VLLMBackend

    with pytest.raises(ImportError, match="pip install 'envgym\\[vllm\\]'"):
        VLLMBackend("some/model")


# ---------------------------------------------------------------------------- OpenAI backend over HTTP
def test_openai_backend_passes_token_ids_and_logprobs_through(policy):
    _, tokenizer = policy
    reply = {"text": "ignored by ids", "token_ids": [11, 12, 13, 14], "logprobs": [-0.5, -1.5, -0.25, -2.0]}
    with ScriptedOpenAIServer(lambda endpoint, body: reply, tokenizer=tokenizer) as server:
        with OpenAIBackend(server.base_url, tokenizer=tokenizer) as backend:
            generation = backend.generate([GenerationRequest(prompt_ids=[3, 4, 5], max_new_tokens=8, seed=1, stop=["</action>"])])[0]
            assert backend.model == "stub-model"  # discovered through GET /v1/models
    assert generation.completion_ids == [11, 12, 13, 14]
    assert generation.logprobs == [-0.5, -1.5, -0.25, -2.0]
    assert generation.ids_exact
    endpoint, body = server.requests[-1]
    assert endpoint == "completions"
    assert body["prompt"] == [3, 4, 5] and body["max_tokens"] == 8 and body["seed"] == 1
    assert body["stop"] == ["</action>"] and body["return_token_ids"] is True
    assert backend.usage["prompt_tokens"] == 3 and backend.usage["completion_tokens"] == 4


def test_openai_backend_reads_ids_from_token_id_strings(policy):
    _, tokenizer = policy
    with ScriptedOpenAIServer(["go to fridge 1"], tokenizer=tokenizer) as server:
        # a vLLM without return_token_ids: ids come from "token_id:N" logprob tokens
        backend = OpenAIBackend(server.base_url, tokenizer=tokenizer, extra_body={"return_token_ids": False})
        generation = backend.generate([GenerationRequest(prompt_ids=[1, 2], max_new_tokens=20)])[0]
        backend.close()
    assert generation.completion_ids == tokenizer.encode("go to fridge 1", add_special_tokens=False)
    assert generation.ids_exact and len(generation.logprobs) == len(generation.completion_ids)


def test_openai_backend_retries_after_http_500_and_malformed_json(policy):
    _, tokenizer = policy
    with ScriptedOpenAIServer(["north", "south"], tokenizer=tokenizer) as server:
        with OpenAIBackend(server.base_url, model="stub-model", tokenizer=tokenizer, backoff=0.01) as backend:
            server.add_fault("http_500")
            first = backend.generate([GenerationRequest(prompt_ids=[1])])[0]
            server.add_fault("malformed_json")
            second = backend.generate([GenerationRequest(prompt_ids=[1])])[0]
    assert (first.text, second.text) == ("north", "south")
    assert backend.usage["retries"] == 2
    assert len(server.requests) == 4


def test_openai_backend_gives_up_with_clear_errors(policy):
    _, tokenizer = policy
    with ScriptedOpenAIServer(["never"], tokenizer=tokenizer) as server:
        backend = OpenAIBackend(server.base_url, model="m", tokenizer=tokenizer, backoff=0.01, max_retries=2)
        server.add_fault("http_500", times=3)
        with pytest.raises(BackendError, match="HTTP 500") as failed:
            backend.generate([GenerationRequest(prompt_ids=[1])])
        assert not isinstance(failed.value, BackendTimeout)
        assert len(server.requests) == 3

        slow = OpenAIBackend(server.base_url, model="m", tokenizer=tokenizer, timeout=0.3, max_retries=1, backoff=0.01)
        server.add_fault("slow", seconds=60, times=2)
        with pytest.raises(BackendTimeout, match="timed out"):
            slow.generate([GenerationRequest(prompt_ids=[1])])
        assert slow.usage["retries"] == 1
        backend.close()
        slow.close()


def test_openai_backend_falls_back_to_text_prompts_when_ids_are_refused(policy):
    _, tokenizer = policy
    prompt = tokenizer.encode("<|im_start|>user\nhello<|im_end|>\n", add_special_tokens=False)
    with ScriptedOpenAIServer(["north", "south"], tokenizer=tokenizer, token_prompts=False) as server:
        with OpenAIBackend(server.base_url, model="m", tokenizer=tokenizer) as backend:
            generation = backend.generate([GenerationRequest(prompt_ids=prompt)])[0]
            assert backend.token_prompts is False
            backend.generate([GenerationRequest(prompt_ids=prompt)])  # goes straight to text now
    assert generation.text == "north"
    bodies = [body for _, body in server.requests]
    assert isinstance(bodies[0]["prompt"], list)
    assert bodies[1]["prompt"] == tokenizer.decode(prompt) and bodies[2]["prompt"] == bodies[1]["prompt"]
    assert len(bodies) == 3


def test_openai_backend_marks_retokenised_ids_inexact(policy):
    _, tokenizer = policy
    with ScriptedOpenAIServer(["north"], tokenizer=tokenizer, faults=["drop_ids"]) as server:
        with OpenAIBackend(server.base_url, model="m", tokenizer=tokenizer) as backend:
            generation = backend.generate([GenerationRequest(prompt_ids=[1])])[0]
    assert not generation.ids_exact and generation.logprobs is None
    assert generation.completion_ids == tokenizer.encode("north", add_special_tokens=False)


def test_openai_backend_chat_with_tool_calls_and_logprobs(policy):
    _, tokenizer = policy
    reply = {"text": "", "token_ids": [7, 8], "logprobs": [-0.2, -0.3],
             "tool_calls": [{"name": "sql", "arguments": {"query": "SELECT 1"}}]}
    with ScriptedOpenAIServer([reply], tokenizer=tokenizer) as server:
        with OpenAIBackend(server.base_url, model="m") as backend:  # no tokenizer: plain chat use
            generation = backend.generate(
                [GenerationRequest(messages=[{"role": "user", "content": "count rows"}], max_new_tokens=5)]
            )[0]
    endpoint, body = server.requests[-1]
    assert endpoint == "chat" and body["messages"][0]["content"] == "count rows" and body["logprobs"] is True
    assert generation.tool_calls == [{"name": "sql", "arguments": {"query": "SELECT 1"}}]
    assert generation.completion_ids == [7, 8] and generation.logprobs == [-0.2, -0.3]


def test_openai_backend_async_concurrent_requests(policy):
    _, tokenizer = policy

    def echo(endpoint, body):
        return {"token_ids": [len(body["prompt"])]}

    with ScriptedOpenAIServer(echo, tokenizer=tokenizer) as server:
        backend = OpenAIBackend(server.base_url, model="m", tokenizer=tokenizer, max_concurrency=4)

        async def main():
            try:
                return await backend.agenerate([GenerationRequest(prompt_ids=list(range(1, n + 2))) for n in range(10)])
            finally:
                await backend.aclose()

        generations = asyncio.run(main())
    assert [g.completion_ids for g in generations] == [[n + 1] for n in range(10)]
