"""HiPER hierarchical agent: subgoal feedback, segment ids, per-token part masks."""

from __future__ import annotations

import pytest

import torch  # noqa: F401  (a hard requirement: installed by the dev/train extras)
import transformers  # noqa: F401  (a hard requirement: installed by the dev/train extras)

import envgym  # noqa: E402
from envgym.agents.backends import ScriptedBackend, TransformersBackend  # noqa: E402
from envgym.agents.hierarchical import HierarchicalAgent, part_masks  # noqa: E402
from envgym.agents.loop import run_episode  # noqa: E402
from envgym.agents.tiny_policy import build_tiny_policy, load_policy  # noqa: E402
from envgym.trajectory import Episode  # noqa: E402


class KeysEnv(envgym.Env):
    """Pick up a key, then open the door: ``take key`` then ``open door``."""

    default_max_turns = 8

    def __init__(self, **kwargs):
        super().__init__(tasks=[{"task_id": "keys", "env_id": "test/Keys-v0", "instruction": "Open the door."}], **kwargs)

    def _reset(self, task):
        self.has_key = False
        return {}

    def _step(self, call):
        if call.text == "take key":
            self.has_key = True
            return envgym.Transition(feedback="You take the key.")
        if call.text == "open door":
            if not self.has_key:
                raise envgym.InvalidAction("the door is locked")
            return envgym.Transition(reward=1.0, terminated=True, success=True, feedback="The door opens.")
        if call.text == "wait":
            return envgym.Transition(feedback="Time passes.")
        raise envgym.InvalidAction(f"unknown action {call.text!r}")

    def _observe(self):
        return {"text": "A room with a door." + (" You hold a key." if self.has_key else " A key lies here."),
                "instruction": self.task.instruction, "admissible_actions": ["take key", "open door", "wait"]}


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return load_policy(build_tiny_policy(tmp_path_factory.mktemp("tiny") / "policy"))


@pytest.fixture(scope="module")
def tokenizer(policy):
    return policy[1]


def _hiper(switch: str, subgoal: str, action: str) -> str:
    return f"<switch>{switch}</switch><subgoal>{subgoal}</subgoal><action>{action}</action>"


def test_segments_levels_and_subgoal_feedback(tokenizer):
    replies = [
        _hiper("SWITCH", "get the key", "wait"),
        _hiper("KEEP", "something else", "take key"),  # KEEP: the emitted subgoal is ignored
        "I am confused",  # malformed -> invalid action
        _hiper("SWITCH", "open the door", "open door"),
    ]
    agent = HierarchicalAgent(ScriptedBackend(tokenizer, replies))
    episode = run_episode(KeysEnv(), agent, seed=0)
    assert episode.success and episode.num_turns == 4
    turns = episode.turns
    assert [t.segment_id for t in turns] == [0, 0, 0, 1]
    assert [t.level for t in turns] == ["high", "low", None, "high"]
    assert [t.extra["switch"] for t in turns] == [True, False, None, True]
    assert [t.extra["subgoal"] for t in turns] == ["get the key", "get the key", "get the key", "open the door"]
    assert [t.extra["parse_error"] for t in turns] == [False, False, True, False]
    assert turns[2].action == "I am confused" and "action_error" in turns[2].info
    prompts = [tokenizer.decode(t.prompt_ids[len(prev.prompt_ids):]) if prev else tokenizer.decode(t.prompt_ids)
               for prev, t in zip([None] + turns[:-1], turns)]
    assert "Current subgoal: none yet" in prompts[0]
    assert "Current subgoal: get the key" in prompts[1]
    assert "Current subgoal: get the key" in prompts[2] and "something else" not in prompts[2].split("assistant")[-1]
    assert "Current subgoal: get the key" in prompts[3]
    assert "<switch>KEEP|SWITCH</switch>" in prompts[0]
    # masks are stored with the episode and survive a JSON round trip
    restored = Episode.from_dict(episode.to_dict())
    assert restored.turns[3].extra["action_mask"] == turns[3].extra["action_mask"]
    assert sum(turns[2].extra["switch_mask"] + turns[2].extra["subgoal_mask"] + turns[2].extra["action_mask"]) == 0


def test_masks_match_part_boundaries_exactly_when_tokens_align(tokenizer):
    parts = ["<switch>SWITCH</switch>", "<subgoal>get the key</subgoal>", "<action>take key</action>"]
    encoded = [tokenizer.encode(p, add_special_tokens=False) for p in parts]
    ids = [i for chunk in encoded for i in chunk] + [tokenizer.eos_token_id]
    agent = HierarchicalAgent(ScriptedBackend(tokenizer, [ids]))
    agent.reset({"text": "x"}, {})
    decision = agent.act({"text": "x"}, {})
    assert decision.action == "take key" and decision.segment_id == 0
    a, b, c = (len(e) for e in encoded)
    assert decision.extra["switch_mask"] == [1] * a + [0] * (b + c + 1)
    assert decision.extra["subgoal_mask"] == [0] * a + [1] * b + [0] * (c + 1)
    assert decision.extra["action_mask"] == [0] * (a + b) + [1] * c + [0]


def test_masks_are_disjoint_and_cover_each_part_for_canonical_tokens(tokenizer):
    text = "Plan first.\n<switch> KEEP </switch>\n<subgoal>find the mug</subgoal> <action>go to cabinet 1</action>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    agent = HierarchicalAgent(ScriptedBackend(tokenizer, ["<switch>SWITCH</switch><subgoal>s</subgoal><action>wait</action>", ids]))
    agent.reset({"text": "x"}, {})
    agent.act({"text": "x"}, {})
    decision = agent.act({"text": "y"}, {})
    assert decision.level == "low" and decision.segment_id == 0 and decision.action == "go to cabinet 1"
    masks = [decision.extra[f"{p}_mask"] for p in ("switch", "subgoal", "action")]
    assert all(len(m) == len(ids) for m in masks)
    assert all(sum(column) <= 1 for column in zip(*masks))  # disjoint
    picked = [tokenizer.decode([t for t, m in zip(ids, mask) if m]) for mask in masks]
    assert "KEEP" in picked[0] and "<switch>" in picked[0] and "Plan" not in picked[0]
    assert "find the mug" in picked[1] and "go to cabinet 1" in picked[2]
    assert masks[0][0] == 0  # "Plan first." precedes every part


def test_part_masks_handle_multibyte_characters(tokenizer):
    text = "<switch>SWITCH</switch><subgoal>prendre la clé 🔑</subgoal><action>wait</action>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    spans = {"switch": (0, 23), "subgoal": (23, text.index("<action>")), "action": (text.index("<action>"), len(text))}
    masks = part_masks(tokenizer, ids, spans)
    assert sum(masks["switch_mask"]) + sum(masks["subgoal_mask"]) + sum(masks["action_mask"]) == len(ids)
    assert tokenizer.decode([t for t, m in zip(ids, masks["subgoal_mask"]) if m]).count("🔑") == 1


@pytest.mark.parametrize(
    "reply",
    [
        "<switch>MAYBE</switch><subgoal>x</subgoal><action>wait</action>",
        "<switch>SWITCH</switch><subgoal>  </subgoal><action>wait</action>",  # new subgoal empty
        "<subgoal>x</subgoal><switch>SWITCH</switch><action>wait</action>",  # wrong order
        "<switch>SWITCH</switch><subgoal>x</subgoal><action>click(x)</action>",  # non-literal call
        "<switch>SWITCH</switch><subgoal>x</subgoal>",
    ],
)
def test_malformed_output_is_an_invalid_action(tokenizer, reply):
    agent = HierarchicalAgent(ScriptedBackend(tokenizer, [reply]))
    agent.reset({"text": "x"}, {})
    decision = agent.act({"text": "x"}, {})
    assert decision.extra["parse_error"] is True and decision.action == reply.strip()
    assert decision.level is None and agent.subgoal is None and decision.segment_id == 0


def test_real_model_episode_never_crashes(policy):
    model, tokenizer = policy
    agent = HierarchicalAgent(TransformersBackend(model, tokenizer), sampling={"max_new_tokens": 16, "seed": 1})
    episode = run_episode(KeysEnv(max_turns=3), agent, seed=0)
    assert episode.num_turns == 3 and episode.infra_error is None
    for turn in episode.turns:
        assert len(turn.extra["action_mask"]) == len(turn.completion_ids) == len(turn.logprobs)
        assert turn.segment_id == 0
