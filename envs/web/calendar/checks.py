"""The calendar's task checker: ``check(params, initial, final, answer) -> (score, components)``.

``event_created``: exactly one new event, with every field the task names; ``event_updated``: the
named fields of one event changed to the requested values and nothing else about it changed;
``event_deleted``: that event is gone.  All checks require every other event to be untouched.
"""

from __future__ import annotations

from typing import Any

from envgym.envs.web.checking import answer_matches, norm, result


def _by_id(state: dict) -> dict[str, dict]:
    return {e["id"]: e for e in state["events"]}


def _same(field: str, got: Any, want: Any) -> bool:
    if field == "invitees":
        return sorted(a.lower() for a in got) == sorted(a.lower() for a in want)
    if field in ("title", "location", "description"):
        return norm(got) == norm(want)
    return got == want


def check(params: dict[str, Any], initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
    kind = params.get("type")
    before, after = _by_id(initial), _by_id(final)
    if kind == "answer":
        return result({"answer_correct": answer_matches(answer, params["expected"]), "no_side_effects": before == after})
    if kind == "event_created":
        new = [e for i, e in after.items() if i not in before]
        comps = {"exactly_one_new_event": len(new) == 1,
                 "others_unchanged": all(after.get(i) == e for i, e in before.items())}
        if len(new) == 1:
            for key, want in params["fields"].items():
                comps[f"{key}_matches"] = _same(key, new[0].get(key), want)
        return result(comps)
    if kind == "event_updated":
        eid, changes = params["id"], params["changes"]
        e0, e1 = before.get(eid), after.get(eid)
        comps = {"event_exists": e1 is not None,
                 "others_unchanged": all(after.get(i) == e for i, e in before.items() if i != eid) and set(after) == set(before)}
        if e1 is not None:
            for key, want in changes.items():
                comps[f"{key}_changed"] = _same(key, e1.get(key), want) and not _same(key, e0.get(key), want)
            comps["rest_unchanged"] = all(_same(k, e1[k], e0[k]) for k in e0 if k not in changes)
        return result(comps)
    if kind == "event_deleted":
        eid = params["id"]
        return result({"deleted": eid in before and eid not in after,
                       "others_unchanged": all(after.get(i) == e for i, e in before.items() if i != eid) and len(after) == len(before) - 1})
    raise ValueError(f"unknown calendar check type {kind!r}")
