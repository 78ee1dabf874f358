"""A planner for Trackly: the browser actions (element ids, "bids") that turn one board state into
another through the app's own pages.

:func:`plan` reads the difference between ``initial`` and ``target`` (two :class:`BoardState` dicts)
and returns ``click``/``fill``/``select`` actions ending with ``answer("done")``.  It handles the
changes a user can make in the UI:

* project: rename (Settings → General), WIP limits (Settings → WIP limits);
* members: change a role, invite a member (the app gives the new member id ``u<max+1>`` and
  lower-cases the email);
* cards: edit title / description / status column / assignee / priority / labels / due date,
  create a card (id ``<key>-<next_card>``), delete a card.

Anything else (columns added or renamed, members removed or renamed, the project key, the label
catalogue, card ids the app would not assign) raises :class:`Unsolvable` with the reason.  The order
respects the app's rules: deletions first, WIP limits that rise before card moves and those that
fall after, promotions before demotions (a project keeps one Admin), and card moves ordered so no
column goes over its WIP limit (the app refuses such a move).  The plan is pure (no browser): the
caller replays it in the real env and compares the final state with ``target``.
"""

from __future__ import annotations

import json
import re
from typing import Any

CARD_FIELDS = ("title", "description", "column", "assignee", "priority", "labels", "due")
PRIORITIES = ("Low", "Medium", "High", "Critical")
ROLES = ("Admin", "Member", "Viewer")


class Unsolvable(ValueError):
    """The target differs from the initial state in a way the app's UI cannot produce."""


def q(text: Any) -> str:
    """A string literal for an action argument."""
    return json.dumps(str(text), ensure_ascii=False)


def plan(initial: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """Actions from ``initial`` to ``target`` (see the module docstring); raises :class:`Unsolvable`."""
    for key in ("seed", "key", "labels"):
        if initial.get(key) != target.get(key):
            raise Unsolvable(f"{key!r} cannot be changed through the app (initial {initial.get(key)!r}, target {target.get(key)!r})")
    columns0 = {c["id"]: c for c in initial["columns"]}
    columns1 = {c["id"]: c for c in target["columns"]}
    if [c["id"] for c in initial["columns"]] != [c["id"] for c in target["columns"]] or any(
            columns0[i]["name"] != columns1[i]["name"] for i in columns0):
        raise Unsolvable("columns cannot be added, removed, reordered or renamed through the app; only WIP limits change")
    actions: list[str] = []
    on = {"page": "board"}

    def settings() -> None:
        if on["page"] != "settings":
            actions.append('click("tab-settings")')
            on["page"] = "settings"

    def board() -> None:
        if on["page"] != "board":
            actions.append('click("tab-board")')
            on["page"] = "board"

    # ------------------------------------------------------------------ cards: what changes
    cards0 = {c["id"]: c for c in initial["cards"]}
    cards1 = {c["id"]: c for c in target["cards"]}
    deleted = [i for i in cards0 if i not in cards1]
    created = [cards1[i] for i in cards1 if i not in cards0]
    edited = [i for i in cards0 if i in cards1 and _card_view(cards0[i]) != _card_view(cards1[i])]
    for cid in cards0:
        if cid in cards1 and cards1[cid].get("id") != cid:
            raise Unsolvable(f"card {cid} changes its id")
    expected_ids = [f"{initial['key']}-{initial['next_card'] + n}" for n in range(len(created))]
    if sorted(c["id"] for c in created) != sorted(expected_ids):
        raise Unsolvable(f"the app numbers new cards {', '.join(expected_ids) or '(none)'} (key-next_card), "
                         f"the target has {', '.join(sorted(c['id'] for c in created))}")
    if target["next_card"] != initial["next_card"] + len(created):
        raise Unsolvable(f"next_card must be {initial['next_card'] + len(created)} after creating {len(created)} card(s), "
                         f"the target has {target['next_card']}")
    created.sort(key=lambda c: expected_ids.index(c["id"]))

    # ------------------------------------------------------------------ members (settings page)
    members0 = {m["id"]: m for m in initial["members"]}
    members1 = {m["id"]: m for m in target["members"]}
    removed = [i for i in members0 if i not in members1]
    if removed:
        raise Unsolvable(f"members cannot be removed by this planner ({', '.join(removed)})")
    role_changes = []
    for mid, m0 in members0.items():
        m1 = members1[mid]
        if (m0["name"], m0["email"]) != (m1["name"], m1["email"]):
            raise Unsolvable(f"member {mid}'s name or email cannot be edited through the app")
        if m0["role"] != m1["role"]:
            if m1["role"] not in ROLES:
                raise Unsolvable(f"unknown role {m1['role']!r}")
            role_changes.append(mid)
    invited = [m for i, m in members1.items() if i not in members0]
    next_id = max((int(i[1:]) for i in members0 if re.fullmatch(r"u\d+", i)), default=0) + 1
    for n, m in enumerate(sorted(invited, key=lambda m: _member_number(m["id"]))):
        if m["id"] != f"u{next_id + n}":
            raise Unsolvable(f"the app gives the next invited member the id u{next_id + n}, the target has {m['id']!r}")
        if m["email"] != m["email"].strip().lower() or m["name"] != m["name"].strip() or not m["name"]:
            raise Unsolvable(f"the app stores invited members' emails lower-case and names trimmed ({m['id']})")
        if m["role"] not in ROLES:
            raise Unsolvable(f"unknown role {m['role']!r}")
    if [m["id"] for m in target["members"]] != [m["id"] for m in initial["members"]] + [
            m["id"] for m in sorted(invited, key=lambda m: _member_number(m["id"]))]:
        raise Unsolvable("the app keeps members in their order and appends invited ones")

    # ------------------------------------------------------------------ settings: name, raised WIP limits, members
    if initial["project_name"] != target["project_name"]:
        name = target["project_name"]
        if name != re.sub(r"\s+", " ", name).strip() or not 3 <= len(name) <= 40:
            raise Unsolvable("project names are 3 to 40 characters, trimmed, single-spaced")
        settings()
        actions += [f'fill("settings-project-name", {q(name)})', 'click("save-general")']
    raised = {i: columns1[i]["wip_limit"] for i in columns0 if _limit_rank(columns1[i]["wip_limit"]) > _limit_rank(columns0[i]["wip_limit"])}
    lowered = {i: columns1[i]["wip_limit"] for i in columns0
               if columns1[i]["wip_limit"] != columns0[i]["wip_limit"] and i not in raised}
    for limits in (raised, lowered):
        for i, limit in limits.items():
            if not isinstance(limit, int) or not 0 <= limit <= 20:
                raise Unsolvable(f"WIP limits are whole numbers from 0 to 20 ({i}: {limit!r})")
    if raised:
        settings()
        actions += [f'fill("wip-{i}", "{limit}")' for i, limit in raised.items()] + ['click("save-wip")']
    admins = sum(1 for m in initial["members"] if m["role"] == "Admin")
    for mid in sorted(role_changes, key=lambda i: members1[i]["role"] != "Admin"):  # promotions first
        settings()
        if members0[mid]["role"] == "Admin":
            if admins <= 1:
                raise Unsolvable(f"demoting {mid} would leave the project without an Admin")
            admins -= 1
        elif members1[mid]["role"] == "Admin":
            admins += 1
        actions += [f'select("role-{mid}", {q(members1[mid]["role"])})', f'click("save-role-{mid}")']
    for m in sorted(invited, key=lambda m: _member_number(m["id"])):
        settings()
        actions += [f'fill("invite-name", {q(m["name"])})', f'fill("invite-email", {q(m["email"])})',
                    f'select("invite-role", {q(m["role"])})', 'click("send-invite")']

    # ------------------------------------------------------------------ cards
    names = {m["id"]: m["name"] for m in target["members"]}
    label_order = list(target["labels"])
    for card in list(created) + [cards1[i] for i in edited]:
        _check_card(card, columns1, names, label_order)
    for cid in deleted:
        board()
        actions += [f'click("card-{cid}")', 'click("delete-card")', 'click("confirm-delete-button")']
    counts = {i: sum(1 for c in cards0.values() if c["column"] == i and c["id"] not in deleted) for i in columns0}
    limits = {i: columns1[i]["wip_limit"] if i in raised else columns0[i]["wip_limit"] for i in columns0}
    pending: list[tuple[str | None, dict[str, Any]]] = [(i, cards1[i]) for i in edited] + [(None, c) for c in created]
    while pending:
        for index, (cid, card) in enumerate(pending):
            source = cards0[cid]["column"] if cid else None
            dest = card["column"]
            if dest == source or not limits[dest] or counts[dest] < limits[dest]:
                break
        else:
            stuck = ", ".join(f"{c['id']} → {c['column']}" for _, c in pending)
            raise Unsolvable(f"every remaining card move goes over a WIP limit ({stuck}); raise the limit in the target too")
        pending.pop(index)
        if source is not None:
            counts[source] -= 1
        counts[dest] += 1
        board()
        if cid is None:
            actions.append('click("new-card")')
            actions += _card_fields({"title": "", "description": "", "column": "backlog", "assignee": "", "priority": "Medium",
                                     "labels": [], "due": ""}, card, columns1, names)
        else:
            actions.append(f'click("card-{cid}")')
            actions += _card_fields(cards0[cid], card, columns1, names)
        actions.append('click("save-card")')
    if lowered:
        settings()
        actions += [f'fill("wip-{i}", "{limit}")' for i, limit in lowered.items()] + ['click("save-wip")']
    actions.append('answer("done")')
    return actions


def _card_view(card: dict[str, Any]) -> dict[str, Any]:
    return {k: (sorted(card.get(k) or []) if k == "labels" else card.get(k)) for k in CARD_FIELDS}


def _member_number(mid: str) -> int:
    return int(mid[1:]) if re.fullmatch(r"u\d+", mid) else 1 << 30


def _limit_rank(limit: Any) -> float:
    """0 means no limit: the highest."""
    return float("inf") if limit == 0 else float(limit) if isinstance(limit, int) else -1.0


def _check_card(card: dict[str, Any], columns: dict[str, Any], names: dict[str, str], labels: list[str]) -> None:
    cid = card.get("id")
    if not str(card.get("title", "")).strip() or card["title"] != card["title"].strip():
        raise Unsolvable(f"card {cid}: titles are non-empty and trimmed")
    if card.get("description", "") != str(card.get("description", "")).strip():
        raise Unsolvable(f"card {cid}: descriptions are stored trimmed")
    if card["column"] not in columns:
        raise Unsolvable(f"card {cid}: unknown column {card['column']!r}")
    if card.get("assignee") and card["assignee"] not in names:
        raise Unsolvable(f"card {cid}: unknown assignee {card['assignee']!r}")
    if card.get("priority") not in PRIORITIES:
        raise Unsolvable(f"card {cid}: unknown priority {card.get('priority')!r}")
    unknown = [label for label in card.get("labels", []) if label not in labels]
    if unknown or len(set(card.get("labels", []))) != len(card.get("labels", [])):
        raise Unsolvable(f"card {cid}: labels must be distinct labels of the project ({', '.join(labels)}), got {card.get('labels')}")
    if card.get("labels", []) != [label for label in labels if label in card.get("labels", [])]:
        raise Unsolvable(f"card {cid}: the app stores labels in the project's label order ({', '.join(labels)})")
    if card.get("due") and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", card["due"]):
        raise Unsolvable(f"card {cid}: due dates are YYYY-MM-DD or empty")


def _card_fields(before: dict[str, Any], after: dict[str, Any], columns: dict[str, Any], names: dict[str, str]) -> list[str]:
    """The form edits on the card page that turn ``before``'s fields into ``after``'s."""
    out = []
    if after["title"] != before["title"]:
        out.append(f'fill("card-title", {q(after["title"])})')
    if after.get("description", "") != before.get("description", ""):
        out.append(f'fill("card-description", {q(after.get("description", ""))})')
    if after["column"] != before["column"]:
        out.append(f'select("card-column", {q(columns[after["column"]]["name"])})')
    if after.get("assignee", "") != before.get("assignee", ""):
        who = after.get("assignee", "")
        label = names[who] if who and list(names.values()).count(names[who]) == 1 else who  # the option's value if names repeat
        out.append(f'select("card-assignee", {q(label or "Unassigned")})')
    if after["priority"] != before["priority"]:
        out.append(f'select("card-priority", {q(after["priority"])})')
    for label in sorted(set(before.get("labels", [])) ^ set(after.get("labels", []))):
        out.append(f'click("label-{label}")')
    if after.get("due", "") != before.get("due", ""):
        out.append(f'fill("card-due", {q(after.get("due", ""))})')
    return out


__all__ = ["Unsolvable", "plan"]
