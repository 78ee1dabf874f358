"""The mail client's task checker: ``check(params, initial, final, answer) -> (score, components)``.

Opening a message marks it read, so read flags are ignored when checking for side effects (except
in the ``unread`` check, which is about them).  Every other change to messages or labels that the
task did not ask for fails the ``no_side_effects`` component.
"""

from __future__ import annotations

from typing import Any

from envgym.envs.web.checking import answer_matches, norm, result


def _strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if k != "read"}


def _others_unchanged(initial: dict, final: dict, targets: set[str], allow_new: set[str] = frozenset()) -> bool:
    before = {m["id"]: _strip(m) for m in initial["messages"] if m["id"] not in targets}
    after = {m["id"]: _strip(m) for m in final["messages"] if m["id"] not in targets and m["id"] not in allow_new}
    return before == after and initial["labels"] == final["labels"]


def _new_messages(initial: dict, final: dict) -> list[dict]:
    ids = {m["id"] for m in initial["messages"]}
    return [m for m in final["messages"] if m["id"] not in ids]


def _msg(state: dict, mid: str) -> dict | None:
    return next((m for m in state["messages"] if m["id"] == mid), None)


def check(params: dict[str, Any], initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
    kind = params.get("type")
    if kind == "answer":
        return result({"answer_correct": answer_matches(answer, params["expected"]),
                       "no_side_effects": _others_unchanged(initial, final, set()) and not _new_messages(initial, final)})
    if kind == "sent":
        new = _new_messages(initial, final)
        sent = [m for m in new if m["folder"] == "sent"]
        m = sent[0] if len(sent) == 1 else None
        comps = {"exactly_one_sent": m is not None and len(new) == 1}
        if m is not None:
            comps["recipients"] = sorted(a.lower() for a in m["to"]) == sorted(a.lower() for a in params["to"])
            if "cc" in params:
                comps["cc"] = sorted(a.lower() for a in m["cc"]) == sorted(a.lower() for a in params["cc"])
            if "subject" in params:
                comps["subject"] = norm(m["subject"]) == norm(params["subject"])
            comps["body"] = all(norm(b) in norm(m["body"]) for b in params.get("body_contains", []))
            comps["in_reply_to"] = m["in_reply_to"] == params.get("in_reply_to", "")
            comps["forwarded_from"] = m["forwarded_from"] == params.get("forwarded_from", "")
        comps["no_side_effects"] = _others_unchanged(initial, final, set(), {x["id"] for x in new})
        return result(comps)
    if kind == "folder":
        ids = set(params["ids"])
        moved = all((_msg(final, i) or {}).get("folder") == params["folder"] for i in ids)
        was_elsewhere = all((_msg(initial, i) or {}).get("folder") != params["folder"] for i in ids)
        rest_same = all({k: v for k, v in _strip(_msg(final, i)).items() if k != "folder"} ==
                        {k: v for k, v in _strip(_msg(initial, i)).items() if k != "folder"} for i in ids if _msg(final, i))
        return result({"moved": moved and was_elsewhere and rest_same,
                       "no_side_effects": _others_unchanged(initial, final, ids) and not _new_messages(initial, final)})
    if kind in ("label", "star", "unread"):
        mid = params["id"]
        before, after = _msg(initial, mid), _msg(final, mid)
        if kind == "label":
            done = params["label"] in after["labels"] and params["label"] not in before["labels"]
            rest = {k: v for k, v in _strip(after).items() if k != "labels"} == {k: v for k, v in _strip(before).items() if k != "labels"}
            done = done and sorted(set(after["labels"]) - {params["label"]}) == sorted(before["labels"])
        elif kind == "star":
            done = after["starred"] and not before["starred"]
            rest = {k: v for k, v in _strip(after).items() if k != "starred"} == {k: v for k, v in _strip(before).items() if k != "starred"}
        else:
            done = before["read"] and not after["read"]
            rest = _strip(after) == _strip(before)
        return result({"done": done and rest, "no_side_effects": _others_unchanged(initial, final, {mid}) and not _new_messages(initial, final)})
    if kind == "create_label":
        want = params["name"]
        added = [label for label in final["labels"] if label not in initial["labels"]]
        same_msgs = [_strip(m) for m in initial["messages"]] == [_strip(m) for m in final["messages"]]
        return result({"label_created": added == [want], "existing_labels_kept": all(label in final["labels"] for label in initial["labels"]),
                       "no_side_effects": same_msgs})
    raise ValueError(f"unknown mail check type {kind!r}")
