"""Scripted LLM replies for synthesis tests and benchmarks (served by ``agents.openai_stub_server``).

:class:`ScriptedRoles` is a ``replies(endpoint, body)`` callable for
:class:`agents.openai_stub_server.ScriptedOpenAIServer`.  It tells the roles apart by the header line
of their system prompt (``envgym-synth role=...``) and the candidates apart by a ``tag`` the
proposal puts in its spec (every later request quotes the spec):

* proposer: ``proposals[k]`` for "Propose task #k";
* generator / discriminator: ``script[tag][role][round - 1]`` (the last entry repeats), the round
  being one more than the assistant turns already in the conversation;
* critic: ``script[tag]["critic"][i]`` for the i-th critic request about ``tag`` (default ``keep``).

Also here: household states and reward code for scripted candidates (:func:`household_case`,
:func:`household_reward`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

_ROLE = re.compile(r"envgym-synth role=(\w+)")
_INDEX = re.compile(r"Propose task #(\d+)")
_TAG = re.compile(r'"tag":\s*"([^"]+)"')


class ScriptedRoles:
    def __init__(self, proposals: list[dict[str, Any]], script: dict[str, dict[str, Any]]):
        self.proposals = proposals
        self.script = script
        self.log: list[tuple[str, str | None, dict[str, Any]]] = []  # (role, tag, body)
        self._critic_counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, endpoint: str, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        match = _ROLE.search(system)
        role = match.group(1) if match else "?"
        text = "\n".join(str(m.get("content", "")) for m in messages)
        if role == "proposer":
            index = int(_INDEX.search(messages[-1]["content"]).group(1))
            with self._lock:
                self.log.append((role, None, body))
            return json.dumps(self.proposals[index % len(self.proposals)])
        tag_match = _TAG.search(text)
        tag = tag_match.group(1) if tag_match else "?"
        with self._lock:
            self.log.append((role, tag, body))
        entry = self.script.get(tag, {})
        if role in ("generator", "discriminator"):
            replies = entry[role]
            round_index = sum(1 for m in messages if m.get("role") == "assistant")
            reply = replies[min(round_index, len(replies) - 1)]
            return reply if isinstance(reply, str) else json.dumps(reply)
        if role == "critic":
            with self._lock:
                index = self._critic_counts.get(tag, 0)
                self._critic_counts[tag] = index + 1
            votes = entry.get("critic", ["keep"])
            vote = votes[index % len(votes)]
            return json.dumps(vote if isinstance(vote, dict) else {"vote": vote, "reason": "scripted"})
        raise ValueError(f"no scripted reply for role {role!r}")

    def requests(self, role: str, tag: str | None = None) -> list[dict[str, Any]]:
        return [body for r, t, body in self.log if r == role and (tag is None or t == tag)]


def household_case(seed: int, goal_type: str, obj: str, receptacle: str | None, difficulty: str = "easy") -> dict[str, Any]:
    """An initial world for a household goal and the golden world the env's planner reaches from it:
    ``{"initial": world, "golden": world, "actions": [...]}``."""
    from envs.household.env import HouseholdEnv
    from envs.household.generate import build_world
    from envs.household.goals import Goal

    goal = Goal(goal_type, obj, receptacle)
    world = build_world(seed, goal, difficulty)
    state = {"task_id": "case", "instruction": goal.instruction(), "world": world.to_json(),
             "goal": {"type": goal_type, "object": obj, "receptacle": receptacle}, "subgoals_done": 0, "turn": 0}
    env = HouseholdEnv(max_turns=200)
    env.set_state(copy.deepcopy(state))
    actions = []
    while (action := env.oracle_action()) is not None:
        actions.append(action)
        env.step(action)
    return {"initial": state["world"], "golden": env.get_state()["world"], "actions": actions}


def household_reward(obj: str, receptacle: str, state: str | None = None, *, check_state: bool = True,
                     side_effects: bool = True, receptacle_override: str | None = None) -> str:
    """Reward code a discriminator could write for "put a [state] OBJ in RECEPTACLE" (knobs make it
    faulty: ignore the state, ignore side effects, check the wrong receptacle)."""
    place = receptacle_override or receptacle
    state_test = f' and i.get("{state}")' if state and check_state else ""
    lines = [
        "def reward(initial, final, trajectory=None):",
        '    kinds = {r["name"]: r["kind"] for r in final["world"]["receptacles"]}',
        f'    placed = any(i["kind"] == "{obj}" and kinds.get(i["location"]) == "{place}"{state_test}',
        '                 for i in final["world"]["items"])',
    ]
    if side_effects:
        lines += [
            "    def others(state):",
            f'        return {{i["name"]: (i["location"], i.get("clean"), i.get("hot"), i.get("cool"))',
            f'                for i in state["world"]["items"] if i["kind"] != "{obj}"}}',
            "    untouched = others(initial) == others(final)",
        ]
    else:
        lines.append("    untouched = True")
    lines.append('    return {"score": 1.0 if placed and untouched else 0.0, '
                 '"components": {"placed": placed, "no_side_effects": untouched}}')
    return "\n".join(lines) + "\n"
