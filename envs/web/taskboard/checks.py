"""The task board's checker: ``check(params, initial, final, answer) -> (score, components)``.

Card checks (``card_created`` / ``card_updated`` / ``card_deleted``) require every other card and
all project settings to be unchanged; settings checks (``settings``) compare the named settings and
require the cards and the rest of the settings to be unchanged.
"""

from __future__ import annotations

from typing import Any

from envgym.envs.web.checking import answer_matches, norm, result

SETTINGS_KEYS = ("project_name", "columns", "members", "labels")


def _cards(state: dict) -> dict[str, dict]:
    return {c["id"]: c for c in state["cards"]}


def _same(key: str, got: Any, want: Any) -> bool:
    if key == "labels":
        return sorted(got) == sorted(want)
    if key in ("title", "description"):
        return norm(got) == norm(want)
    return got == want


def check(params: dict[str, Any], initial: dict, final: dict, answer: str) -> tuple[float, dict[str, Any]]:
    kind = params.get("type")
    before, after = _cards(initial), _cards(final)
    settings_same = all(initial[k] == final[k] for k in SETTINGS_KEYS)
    if kind == "answer":
        return result({"answer_correct": answer_matches(answer, params["expected"]), "no_side_effects": before == after and settings_same})
    if kind == "card_created":
        return result(_card_created(params, before, after, settings_same))
    if kind == "card_updated":
        return result(_card_updated(params, before, after, settings_same))
    if kind == "card_deleted":
        cid = params["id"]
        return result({"deleted": cid in before and cid not in after, "settings_unchanged": settings_same,
                       "others_unchanged": all(after.get(i) == c for i, c in before.items() if i != cid) and len(after) == len(before) - 1})
    if kind == "settings":
        return result(_settings_changed(params, initial, final, before, after))
    raise ValueError(f"unknown task board check type {kind!r}")


def _card_created(params: dict[str, Any], before: dict[str, dict], after: dict[str, dict], settings_same: bool) -> dict[str, bool]:
    """Exactly one new card, with the wanted fields; the other cards and the settings unchanged."""
    new = [c for i, c in after.items() if i not in before]
    comps = {"exactly_one_new_card": len(new) == 1, "others_unchanged": all(after.get(i) == c for i, c in before.items()),
             "settings_unchanged": settings_same}
    if len(new) == 1:
        for key, want in params["fields"].items():
            comps[f"{key}_matches"] = _same(key, new[0].get(key), want)
    return comps


def _card_updated(params: dict[str, Any], before: dict[str, dict], after: dict[str, dict], settings_same: bool) -> dict[str, bool]:
    """The card's wanted fields changed to the wanted values, its other fields, the other cards and the settings
    unchanged."""
    cid, changes = params["id"], params["changes"]
    c0, c1 = before[cid], after.get(cid)
    comps = {"card_exists": c1 is not None, "settings_unchanged": settings_same,
             "others_unchanged": set(before) == set(after) and all(after[i] == c for i, c in before.items() if i != cid)}
    if c1 is not None:
        for key, want in changes.items():
            comps[f"{key}_changed"] = _same(key, c1[key], want) and not _same(key, c0[key], want)
        comps["rest_unchanged"] = all(_same(k, c1[k], c0[k]) for k in c0 if k not in changes)
    return comps


def _settings_changed(
    params: dict[str, Any], initial: dict, final: dict, before: dict[str, dict], after: dict[str, dict],
) -> dict[str, bool]:
    """The named settings changed as wanted (and a card moved, if named); the cards and settings not named
    unchanged."""
    comps, touched = _named_settings(params, initial, final)
    if "card_column" in params:
        want = params["card_column"]
        comps["card_moved"] = after[want["id"]]["column"] == want["column"] != before[want["id"]]["column"]
        comps["other_cards_unchanged"] = all(after[i] == c for i, c in before.items() if i != want["id"])
    else:
        comps["cards_unchanged"] = before == after
    comps["other_settings_unchanged"] = all(initial[k] == final[k] for k in SETTINGS_KEYS if k not in touched)
    return comps


def _named_settings(params: dict[str, Any], initial: dict, final: dict) -> tuple[dict[str, bool], set[str]]:
    """The components of the settings ``params`` names, and the :data:`SETTINGS_KEYS` they touch."""
    comps: dict[str, bool] = {}
    touched = set()
    if "project_name" in params:
        comps["project_name"] = norm(final["project_name"]) == norm(params["project_name"]) != norm(initial["project_name"])
        touched.add("project_name")
    if "wip" in params:
        limits = {c["id"]: c["wip_limit"] for c in final["columns"]}
        old = {c["id"]: c["wip_limit"] for c in initial["columns"]}
        comps["wip_limits"] = all(limits[k] == v for k, v in params["wip"].items()) and all(
            limits[k] == old[k] for k in old if k not in params["wip"]) and any(old[k] != v for k, v in params["wip"].items())
        touched.add("columns")
    if "member_role" in params:
        want = params["member_role"]
        m = next((x for x in final["members"] if x["email"] == want["email"]), None)
        m0 = next((x for x in initial["members"] if x["email"] == want["email"]), None)
        comps["member_role"] = m is not None and m["role"] == want["role"] and m0["role"] != want["role"]
        comps["other_members_unchanged"] = _members_except(initial, want["email"]) == _members_except(final, want["email"])
        touched.add("members")
    if "member_added" in params:
        want = params["member_added"]
        new = [x for x in final["members"] if x["email"] not in {y["email"] for y in initial["members"]}]
        comps["member_added"] = len(new) == 1 and new[0]["email"] == want["email"].lower() and new[0]["role"] == want["role"] and norm(new[0]["name"]) == norm(want["name"])
        comps["existing_members_unchanged"] = all(x in final["members"] for x in initial["members"])
        touched.add("members")
    return comps, touched


def _members_except(state: dict, email: str) -> list[dict]:
    return [x for x in state["members"] if x["email"] != email]
