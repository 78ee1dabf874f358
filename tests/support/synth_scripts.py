"""Scripted LLM replies for synthesis tests and benchmarks (served by :mod:`tests.support.openai_stub`).

:class:`ScriptedRoles` is a ``replies(endpoint, body)`` callable for
:class:`tests.support.openai_stub.ScriptedOpenAIServer`.  It tells the roles apart by the header line
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

from envgym.oracle import roll_out
from envgym.envs.household.env import HouseholdEnv
from envgym.envs.household.generate import build_world
from envgym.envs.household.goals import Goal

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
    goal = Goal(goal_type, obj, receptacle)
    world = build_world(seed, goal, difficulty)
    state = {"task_id": "case", "instruction": goal.instruction(), "world": world.to_json(),
             "goal": {"type": goal_type, "object": obj, "receptacle": receptacle}, "subgoals_done": 0, "turn": 0}
    env = HouseholdEnv(max_turns=200)
    env.set_state(copy.deepcopy(state))
    actions = roll_out(env).actions
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
            '        return {i["name"]: (i["location"], i.get("clean"), i.get("hot"), i.get("cool"))',
            f'                for i in state["world"]["items"] if i["kind"] != "{obj}"}}',
            "    untouched = others(initial) == others(final)",
        ]
    else:
        lines.append("    untouched = True")
    lines.append('    return {"score": 1.0 if placed and untouched else 0.0, '
                 '"components": {"placed": placed, "no_side_effects": untouched}}')
    return "\n".join(lines) + "\n"


def taskboard_reward(changes: list[dict[str, Any]], *, side_effects: bool = True, skip_fields: tuple[str, ...] = (),
                     override: dict[str, Any] | None = None) -> str:
    """Reward code a discriminator could write for a Trackly spec (``envgym/WebTaskBoard-v0``): every
    operation of ``changes`` holds in ``final`` and, with ``side_effects``, nothing else changed.
    Knobs make it faulty: ``skip_fields`` (card fields of ``update_card`` it forgets to check),
    ``side_effects=False`` (it never looks at the rest of the board), ``override`` (values it expects
    instead of the spec's, e.g. ``{"column": "done"}``)."""
    checked = []
    for change in changes:
        change = copy.deepcopy(change)
        if change["op"] == "update_card":
            change["set"] = {k: (override or {}).get(k, v) for k, v in change["set"].items() if k not in skip_fields}
        checked.append(change)
    return _TASKBOARD_REWARD.replace("@CHANGES@", repr(checked)).replace("@ALL@", repr(changes)).replace(
        "@SIDE@", repr(bool(side_effects)))


_TASKBOARD_REWARD = '''\
CHANGES = @CHANGES@
ALL_CHANGES = @ALL@
CHECK_SIDE_EFFECTS = @SIDE@


def norm(text):
    return " ".join(str(text or "").split()).lower()


def same(key, got, want):
    if key == "labels":
        return isinstance(got, list) and sorted(got) == sorted(want)
    if key in ("title", "description"):
        return norm(got) == norm(want)
    return got == want


def reward(initial, final, trajectory=None):
    comps = {}
    before = {c["id"]: c for c in initial["cards"]}
    after = {c["id"]: c for c in final["cards"]}
    for i, ch in enumerate(CHANGES):
        op = ch["op"]
        name = str(i) + "_" + op
        if op == "update_card":
            card = after.get(ch["card"])
            comps[name] = card is not None and all(same(k, card.get(k), v) for k, v in ch["set"].items())
        elif op == "create_card":
            comps[name] = any(all(same(k, c.get(k), v) for k, v in ch["fields"].items())
                              for cid, c in after.items() if cid not in before)
        elif op == "delete_card":
            comps[name] = ch["card"] in before and ch["card"] not in after
        elif op == "rename_project":
            comps[name] = norm(final["project_name"]) == norm(ch["name"])
        elif op == "set_wip_limit":
            comps[name] = any(c["id"] == ch["column"] and c["wip_limit"] == ch["limit"] for c in final["columns"])
        elif op == "set_member_role":
            comps[name] = any(m["id"] == ch["member"] and m["role"] == ch["role"] for m in final["members"])
        elif op == "add_member":
            comps[name] = any(m["email"].lower() == ch["email"].lower() and m["role"] == ch["role"]
                              and norm(m["name"]) == norm(ch["name"]) for m in final["members"])
    if CHECK_SIDE_EFFECTS:
        updated = {ch["card"]: ch["set"] for ch in ALL_CHANGES if ch["op"] == "update_card"}
        deleted = {ch["card"] for ch in ALL_CHANGES if ch["op"] == "delete_card"}
        created = sum(1 for ch in ALL_CHANGES if ch["op"] == "create_card")
        cards_ok = len([cid for cid in after if cid not in before]) == created
        for cid, card in before.items():
            if cid in deleted:
                continue
            now = after.get(cid)
            keep = [k for k in card if k not in updated.get(cid, {})]
            cards_ok = cards_ok and now is not None and all(same(k, now.get(k), card.get(k)) for k in keep)
        comps["other_cards_unchanged"] = cards_ok
        renamed = any(ch["op"] == "rename_project" for ch in ALL_CHANGES)
        comps["project_name_unchanged"] = renamed or final["project_name"] == initial["project_name"]
        limits = {ch["column"] for ch in ALL_CHANGES if ch["op"] == "set_wip_limit"}
        old_cols = [(c["id"], c["name"], None if c["id"] in limits else c["wip_limit"]) for c in initial["columns"]]
        new_cols = [(c["id"], c["name"], None if c["id"] in limits else c["wip_limit"]) for c in final["columns"]]
        comps["columns_unchanged"] = old_cols == new_cols
        roles = {ch["member"] for ch in ALL_CHANGES if ch["op"] == "set_member_role"}
        added = sum(1 for ch in ALL_CHANGES if ch["op"] == "add_member")
        old_members = {m["id"]: (m["name"], m["email"], None if m["id"] in roles else m["role"]) for m in initial["members"]}
        new_members = {m["id"]: (m["name"], m["email"], None if m["id"] in roles else m["role"]) for m in final["members"]}
        comps["members_unchanged"] = all(new_members.get(k) == v for k, v in old_members.items()) and \\
            len(new_members) == len(old_members) + added
        comps["labels_unchanged"] = final["labels"] == initial["labels"]
    score = 1.0 if comps and all(comps.values()) else 0.0
    return {"score": score, "components": comps}
'''
