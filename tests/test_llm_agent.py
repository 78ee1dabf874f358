"""The LLM agent: token-in/token-out prompts, memory, action parsing, episodes in a real env."""

from __future__ import annotations

import asyncio

import pytest

import torch
import transformers  # noqa: F401  (a hard requirement: installed by the dev/train extras)

import envgym  # noqa: E402
from envgym.agents.backends import OpenAIBackend, ScriptedBackend, TransformersBackend  # noqa: E402
from envgym.agents.llm import ChatFormat, LLMAgent, parse_completion  # noqa: E402
from envgym.agents.loop import run_episode  # noqa: E402
from tests.support.openai_stub import ScriptedOpenAIServer  # noqa: E402
from envgym.agents.tiny_policy import build_tiny_policy, load_policy  # noqa: E402
from envgym.trajectory import Episode  # noqa: E402


class CorridorEnv(envgym.Env):
    """Walk right from cell 0 to cell ``length``; ``left``/``right`` text actions, or the ``move``
    tool ``{"name": "move", "arguments": {"direction": "right"}}``."""

    default_max_turns = 8

    def __init__(self, length: int = 3, tools: bool = False, **kwargs):
        self.length = length
        self.use_tools = tools
        super().__init__(tasks=[{"task_id": "corridor", "env_id": "test/Corridor-v0", "instruction": "Reach the end."}], **kwargs)

    def _reset(self, task):
        self.position = 0
        return {}

    def _step(self, call):
        direction = call.argument(0, "direction") if call.is_call else call.text
        if call.is_call and call.name != "move":
            raise envgym.InvalidAction(f"unknown tool {call.name!r}; call move(direction)")
        if direction not in ("left", "right"):
            raise envgym.InvalidAction(f"unknown action {direction!r}; use left or right")
        self.position = max(0, self.position + (1 if direction == "right" else -1))
        done = self.position >= self.length
        return envgym.Transition(reward=1.0 if done else 0.0, terminated=done, success=done,
                                 feedback=f"You moved {direction}.")

    def _observe(self):
        obs = {"text": f"You are in cell {self.position} of {self.length}.", "instruction": self.task.instruction}
        if self.use_tools:
            obs["tools"] = [envgym.function_tool("move", "Move one cell", {"direction": {"type": "string"}})]
        else:
            obs["admissible_actions"] = ["left", "right"]
        return obs


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return load_policy(build_tiny_policy(tmp_path_factory.mktemp("tiny") / "policy"))


@pytest.fixture(scope="module")
def tokenizer(policy):
    return policy[1]


def _obs(i: int) -> dict:
    return {"text": f"You are in cell {i}.", "instruction": "Reach the end.", "admissible_actions": ["left", "right"]}


def _non_canonical_ids(tokenizer, text: str) -> list[int]:
    """``text`` encoded one character at a time: valid ids that are not its canonical tokenisation."""
    ids = []
    for char in text:
        ids.extend(tokenizer.encode(char, add_special_tokens=False))
    return ids


# ---------------------------------------------------------------------------- token-in/token-out
def test_next_prompt_extends_exact_ids_even_when_retokenising_would_differ(tokenizer):
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    completion_1 = _non_canonical_ids(tokenizer, "<action>right</action>") + [eot]
    completion_2 = _non_canonical_ids(tokenizer, "<action>right</action>")  # cut without end-of-turn
    text = tokenizer.decode(completion_1, skip_special_tokens=False)
    assert tokenizer.encode(text, add_special_tokens=False) != completion_1  # re-encoding WOULD differ

    backend = ScriptedBackend(tokenizer, [completion_1, completion_2, "<action>left</action>"])
    agent = LLMAgent(backend, window=None)
    agent.reset(_obs(0), {})
    d1 = agent.act(_obs(0), {})
    d2 = agent.act(_obs(1), {})
    d3 = agent.act(_obs(2), {})
    assert d1.completion_ids == completion_1 and d1.action == "right"
    assert d2.prompt_ids[: len(d1.prompt_ids) + len(completion_1)] == d1.prompt_ids + completion_1
    assert d3.prompt_ids[: len(d2.prompt_ids) + len(completion_2)] == d2.prompt_ids + completion_2
    # the cut completion was closed with the end-of-turn token before the next user message
    assert d3.prompt_ids[len(d2.prompt_ids) + len(completion_2)] == eot
    # a re-tokenised history would NOT have reproduced these prompts
    assert tokenizer.encode(tokenizer.decode(d3.prompt_ids), add_special_tokens=False) != d3.prompt_ids
    # ...but the text is exactly what the chat template renders for this conversation
    fmt = ChatFormat(tokenizer)
    rendered = tokenizer.decode(d3.prompt_ids)
    expected = fmt.render(
        [{"role": "system", "content": agent._system(None)}]
        + [m for i, (u, a) in enumerate([(agent.records[0].user, "<action>right</action>"),
                                          (agent.records[1].user, "<action>right</action>")])
           for m in ({"role": "user", "content": u}, {"role": "assistant", "content": a})]
        + [{"role": "user", "content": agent.records[2].user}],
        add_generation_prompt=True,
    )
    assert rendered == expected
    assert {d.extra["context_id"] for d in (d1, d2, d3)} == {0}
    assert not any(d.extra["prompt_rebuilt"] for d in (d1, d2, d3))


def test_transformers_backend_episode_records_tokens_and_logprobs(policy):
    model, tokenizer = policy
    backend = TransformersBackend(model, tokenizer)
    agent = LLMAgent(backend, sampling={"max_new_tokens": 12, "temperature": 1.0, "seed": 0})
    env = CorridorEnv(length=3, max_turns=4)
    episode = run_episode(env, agent, seed=0)
    assert episode.num_turns == 4  # a random model does not solve it: the episode is truncated
    for turn in episode.turns:
        assert turn.prompt_ids and 1 <= len(turn.completion_ids) <= 12
        assert len(turn.logprobs) == len(turn.completion_ids) and all(lp <= 0 for lp in turn.logprobs)
        assert turn.policy_version == 0
        assert isinstance(turn.extra["parse_error"], bool)
        if turn.extra["parse_error"]:
            assert turn.action == turn.extra["response"].strip()
    for before, after in zip(episode.turns, episode.turns[1:]):
        assert after.prompt_ids[: len(before.prompt_ids) + len(before.completion_ids)] == before.prompt_ids + before.completion_ids
    # the trainer can recompute the recorded logprobs from the stored ids alone
    turn = episode.turns[-1]
    ids = torch.tensor([turn.prompt_ids + turn.completion_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
    start = len(turn.prompt_ids) - 1
    recomputed = [logp[start + i, t].item() for i, t in enumerate(turn.completion_ids)]
    assert max(abs(a - b) for a, b in zip(recomputed, turn.logprobs)) < 1e-4
    assert Episode.from_dict(episode.to_dict()).turns[0].completion_ids == episode.turns[0].completion_ids


def test_scripted_agent_solves_the_corridor_and_parse_failures_become_invalid_actions(tokenizer):
    replies = ["I will go <action>right</action>", "hmm\nnot sure", "right", '<action>jump("up")</action>',
               "<action>right</action>"]
    agent = LLMAgent(ScriptedBackend(tokenizer, replies))
    episode = run_episode(CorridorEnv(length=3, invalid_action_penalty=0.1), agent, seed=0)
    assert episode.success and episode.num_turns == 5
    flags = [t.extra["parse_error"] for t in episode.turns]
    assert flags == [False, True, False, False, False]
    bad = episode.turns[1]
    assert bad.action == "hmm\nnot sure" and "action_error" in bad.info and bad.reward == -0.1
    assert "action_error" in episode.turns[3].info  # parsed fine, but the env rejects the unknown tool
    # the error reached the model in the next prompt
    assert "Invalid action" in tokenizer.decode(episode.turns[2].prompt_ids[len(bad.prompt_ids):])


def test_window_memory_rebuilds_from_stored_ids_and_records_it(tokenizer):
    completions = [_non_canonical_ids(tokenizer, f"<action>right</action> #{i}") for i in range(5)]
    agent = LLMAgent(ScriptedBackend(tokenizer, completions), window=2)
    agent.reset(_obs(0), {})
    decisions = [agent.act(_obs(i), {}) for i in range(5)]
    assert [d.extra["prompt_rebuilt"] for d in decisions] == [False, False, False, True, True]
    assert [d.extra["context_id"] for d in decisions] == [0, 0, 0, 1, 2]
    fourth = decisions[3]
    text = tokenizer.decode(fourth.prompt_ids)
    assert "cell 0." not in text and "cell 1." in text and "cell 3." in text
    # kept completions appear as their exact (non-canonical) ids
    for kept in (completions[1], completions[2]):
        assert any(fourth.prompt_ids[i : i + len(kept)] == kept for i in range(len(fourth.prompt_ids)))
    # within a context the prefix property holds again
    assert decisions[2].prompt_ids[: len(decisions[1].prompt_ids)] == decisions[1].prompt_ids


def test_summary_memory_keeps_a_line_per_dropped_turn(tokenizer):
    agent = LLMAgent(ScriptedBackend(tokenizer, ["<action>right</action>", "left", "<action>right</action>", "x\ny"]),
                     memory="summary", window=1)
    agent.reset(_obs(0), {})
    observations = [_obs(0), _obs(1), {**_obs(1), "last_action_error": "wall"}, _obs(2)]
    decisions = [agent.act(o, {}) for o in observations]
    text = tokenizer.decode(decisions[3].prompt_ids)
    assert "Summary of earlier turns (2 turns):" in text
    assert "1. right -> You are in cell 1." in text and "2. left -> invalid (wall)" in text
    assert decisions[3].extra["prompt_rebuilt"]


def test_max_prompt_tokens_forces_a_rebuild(tokenizer):
    agent = LLMAgent(ScriptedBackend(tokenizer, ["<action>right</action>"], cycle=True), window=None)
    agent.reset(_obs(0), {})
    first = agent.act(_obs(0), {})
    limit = len(first.prompt_ids) + len(first.completion_ids) + 10
    agent.max_prompt_tokens = limit
    decisions = [agent.act(_obs(i), {}) for i in range(1, 6)]
    assert all(len(d.prompt_ids) <= limit for d in decisions)
    assert any(d.extra["prompt_rebuilt"] for d in decisions)


# ---------------------------------------------------------------------------- action formats
@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("Let me think. <action>go to fridge 1</action>", "tagged", "go to fridge 1"),
        ('<action>click("12")</action>', "auto", 'click("12")'),
        ('Thought: the button.\nclick("12")', "function", 'click("12")'),
        ('```\nfill(bid="3", text="hi")\n```', "auto", 'fill(bid="3", text="hi")'),
        ('{"name": "sql", "arguments": {"query": "SELECT 1"}}', "json", {"name": "sql", "arguments": {"query": "SELECT 1"}}),
        ('```json\n{"name": "sql", "arguments": "{\\"query\\": \\"SELECT 2\\"}"}\n```', "auto",
         {"name": "sql", "arguments": {"query": "SELECT 2"}}),
        ('<action>{"name": "move", "arguments": {"direction": "left"}}</action>', "tagged",
         {"name": "move", "arguments": {"direction": "left"}}),
        ("<think>left? no</think>\nRIGHT", "auto", "right"),  # canonical admissible form
        ("<action>north", "tagged", "north"),  # cut off before </action>
    ],
)
def test_parse_each_action_format(text, fmt, expected):
    parsed = parse_completion(text, fmt, admissible=["left", "right"])
    assert parsed.ok and parsed.action == expected


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("go north", "tagged"), ("north", "json"), ("north", "function"), ('click("12"', "function"),
     ("<action>click(x)</action>", "auto"), ("a\nb\nc", "auto"), ("", "auto"), ('{"name": 3}', "json")],
)
def test_parse_failures_return_the_raw_text(text, fmt):
    parsed = parse_completion(text, fmt)
    assert not parsed.ok and parsed.action == text.strip() and parsed.error


def test_admissible_line_is_picked_from_chatter():
    parsed = parse_completion("I should move.\nRight\n", "auto", admissible=["left", "right"])
    assert parsed.ok and parsed.action == "right"


def test_json_tool_calls_play_a_tool_env(tokenizer):
    call = '{"name": "move", "arguments": {"direction": "right"}}'
    agent = LLMAgent(ScriptedBackend(tokenizer, [call], cycle=True), action_format="json")
    episode = run_episode(CorridorEnv(length=2, tools=True), agent, seed=0)
    assert episode.success and episode.turns[0].action == {"name": "move", "arguments": {"direction": "right"}}
    system = tokenizer.decode(episode.turns[0].prompt_ids)
    assert "- move(direction: string): Move one cell" in system and '"name":"move"' in system


# ---------------------------------------------------------------------------- other backends
def test_agent_over_http_sends_exact_prompt_ids(tokenizer):
    with ScriptedOpenAIServer(["<action>right</action>"], tokenizer=tokenizer, cycle=True) as server:
        with OpenAIBackend(server.base_url, model="stub-model", tokenizer=tokenizer) as backend:
            episode = run_episode(CorridorEnv(length=2), LLMAgent(backend), seed=0)
    assert episode.success
    prompts = [body["prompt"] for endpoint, body in server.requests if endpoint == "completions"]
    assert prompts == [turn.prompt_ids for turn in episode.turns]
    assert all(turn.logprobs and len(turn.logprobs) == len(turn.completion_ids) for turn in episode.turns)


def test_agent_with_a_chat_only_backend_sends_messages(tokenizer):
    with ScriptedOpenAIServer(["<action>right</action>"], cycle=True) as server:
        with OpenAIBackend(server.base_url, model="stub-model") as backend:  # no tokenizer: chat mode
            episode = run_episode(CorridorEnv(length=2), LLMAgent(backend, window=1), seed=0)
    assert episode.success and episode.turns[0].prompt_ids is None
    messages = server.requests[-1][1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_async_act_and_batched_prepare_finish(tokenizer):
    backend = ScriptedBackend(tokenizer, ["<action>right</action>", "<action>left</action>"], cycle=True)
    agents = [LLMAgent(backend, sampling={"seed": 10}) for _ in range(2)]
    for agent in agents:
        agent.reset(_obs(0), {})
    requests = [agent.prepare(_obs(0), {}) for agent in agents]
    decisions = [agent.finish(g) for agent, g in zip(agents, backend.generate(requests))]
    assert [d.action for d in decisions] == ["right", "left"]
    assert requests[0].seed == 10 and requests[0].stop_token_ids == [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    decision = asyncio.run(agents[0].aact(_obs(1), {}))
    assert decision.prompt_ids[: len(requests[0].prompt_ids)] == requests[0].prompt_ids


def test_bad_configuration_is_refused(tokenizer):
    backend = ScriptedBackend(tokenizer, ["x"])
    with pytest.raises(ValueError):
        LLMAgent(backend, memory="everything")
    with pytest.raises(ValueError):
        LLMAgent(backend, action_format="xml")
    with pytest.raises(ValueError):
        LLMAgent(backend, sampling={"temprature": 1.0})
