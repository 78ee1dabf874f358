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
    return _Planner(initial, target).plan()


class _Planner:
    """One plan: first what changes (refusing what the UI cannot do), then the actions, page by page
    in the order the app's rules need."""

    def __init__(self, initial: dict[str, Any], target: dict[str, Any]):
        self.initial, self.target = initial, target
        self.columns0 = {c["id"]: c for c in initial["columns"]}
        self.columns1 = {c["id"]: c for c in target["columns"]}
        self.cards0 = {c["id"]: c for c in initial["cards"]}
        self.cards1 = {c["id"]: c for c in target["cards"]}
        self.members0 = {m["id"]: m for m in initial["members"]}
        self.members1 = {m["id"]: m for m in target["members"]}
        self.actions: list[str] = []
        self.page = "board"

    def plan(self) -> list[str]:
        self.check_fixed_parts()
        deleted, created, edited = self.card_changes()
        role_changes, invited = self.member_changes()
        self.rename_project()
        raised, lowered = self.wip_changes()
        self.set_wip_limits(raised)
        self.change_roles(role_changes)
        self.invite(invited)
        self.check_cards(created + [self.cards1[i] for i in edited])
        self.delete_cards(deleted)
        self.move_and_edit_cards(created, edited, deleted, raised)
        self.set_wip_limits(lowered)
        self.actions.append('answer("done")')
        return self.actions

    def go(self, page: str) -> None:
        if self.page != page:
            self.actions.append(f'click("tab-{page}")')
            self.page = page

    # ------------------------------------------------------------------ what changes
    def check_fixed_parts(self) -> None:
        initial, target = self.initial, self.target
        for key in ("seed", "key", "labels"):
            if initial.get(key) != target.get(key):
                raise Unsolvable(f"{key!r} cannot be changed through the app (initial {initial.get(key)!r}, target {target.get(key)!r})")
        if [c["id"] for c in initial["columns"]] != [c["id"] for c in target["columns"]] or any(
                self.columns0[i]["name"] != self.columns1[i]["name"] for i in self.columns0):
            raise Unsolvable("columns cannot be added, removed, reordered or renamed through the app; only WIP limits change")

    def card_changes(self) -> tuple[list[str], list[dict[str, Any]], list[str]]:
        """``(deleted ids, created cards in the app's numbering order, edited ids)``."""
        cards0, cards1, initial = self.cards0, self.cards1, self.initial
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
        if self.target["next_card"] != initial["next_card"] + len(created):
            raise Unsolvable(f"next_card must be {initial['next_card'] + len(created)} after creating {len(created)} card(s), "
                             f"the target has {self.target['next_card']}")
        created.sort(key=lambda c: expected_ids.index(c["id"]))
        return deleted, created, edited

    def member_changes(self) -> tuple[list[str], list[dict[str, Any]]]:
        """``(ids whose role changes, invited members in id order)``."""
        members0, members1 = self.members0, self.members1
        removed = [i for i in members0 if i not in members1]
        if removed:
            raise Unsolvable(f"members cannot be removed by this planner ({', '.join(removed)})")
        role_changes = []
        for mid, m0 in members0.items():
            m1 = members1[mid]
            if (m0["name"], m0["email"]) != (m1["name"], m1["email"]):
                raise Unsolvable(f"member {mid}'s name or email cannot be edited through the app")
            if m0["role"] != m1["role"]:
                _check_role(m1["role"])
                role_changes.append(mid)
        invited = sorted((m for i, m in members1.items() if i not in members0), key=lambda m: _member_number(m["id"]))
        next_id = max((int(i[1:]) for i in members0 if re.fullmatch(r"u\d+", i)), default=0) + 1
        for n, m in enumerate(invited):
            if m["id"] != f"u{next_id + n}":
                raise Unsolvable(f"the app gives the next invited member the id u{next_id + n}, the target has {m['id']!r}")
            if m["email"] != m["email"].strip().lower() or m["name"] != m["name"].strip() or not m["name"]:
                raise Unsolvable(f"the app stores invited members' emails lower-case and names trimmed ({m['id']})")
            _check_role(m["role"])
        if [m["id"] for m in self.target["members"]] != [m["id"] for m in self.initial["members"]] + [m["id"] for m in invited]:
            raise Unsolvable("the app keeps members in their order and appends invited ones")
        return role_changes, invited

    def wip_changes(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(raised, lowered)`` WIP limits by column: raised ones are set before the cards move,
        lowered ones after (0 = no limit ranks highest)."""
        columns0, columns1 = self.columns0, self.columns1
        raised = {i: columns1[i]["wip_limit"] for i in columns0
                  if _limit_rank(columns1[i]["wip_limit"]) > _limit_rank(columns0[i]["wip_limit"])}
        lowered = {i: columns1[i]["wip_limit"] for i in columns0
                   if columns1[i]["wip_limit"] != columns0[i]["wip_limit"] and i not in raised}
        for limits in (raised, lowered):
            for i, limit in limits.items():
                if not isinstance(limit, int) or not 0 <= limit <= 20:
                    raise Unsolvable(f"WIP limits are whole numbers from 0 to 20 ({i}: {limit!r})")
        return raised, lowered

    # ------------------------------------------------------------------ the settings page
    def rename_project(self) -> None:
        if self.initial["project_name"] == self.target["project_name"]:
            return
        name = self.target["project_name"]
        if name != re.sub(r"\s+", " ", name).strip() or not 3 <= len(name) <= 40:
            raise Unsolvable("project names are 3 to 40 characters, trimmed, single-spaced")
        self.go("settings")
        self.actions += [f'fill("settings-project-name", {q(name)})', 'click("save-general")']

    def set_wip_limits(self, limits: dict[str, Any]) -> None:
        if limits:
            self.go("settings")
            self.actions += [f'fill("wip-{i}", "{limit}")' for i, limit in limits.items()] + ['click("save-wip")']

    def change_roles(self, role_changes: list[str]) -> None:
        """Promotions first, so a demotion never leaves the project without an Admin."""
        members0, members1 = self.members0, self.members1
        admins = sum(1 for m in self.initial["members"] if m["role"] == "Admin")
        for mid in sorted(role_changes, key=lambda i: members1[i]["role"] != "Admin"):
            self.go("settings")
            if members0[mid]["role"] == "Admin":
                if admins <= 1:
                    raise Unsolvable(f"demoting {mid} would leave the project without an Admin")
                admins -= 1
            elif members1[mid]["role"] == "Admin":
                admins += 1
            self.actions += [f'select("role-{mid}", {q(members1[mid]["role"])})', f'click("save-role-{mid}")']

    def invite(self, invited: list[dict[str, Any]]) -> None:
        for m in invited:
            self.go("settings")
            self.actions += [f'fill("invite-name", {q(m["name"])})', f'fill("invite-email", {q(m["email"])})',
                             f'select("invite-role", {q(m["role"])})', 'click("send-invite")']

    # ------------------------------------------------------------------ the board
    def check_cards(self, cards: list[dict[str, Any]]) -> None:
        names = {m["id"]: m["name"] for m in self.target["members"]}
        for card in cards:
            _check_card(card, self.columns1, names, list(self.target["labels"]))

    def delete_cards(self, deleted: list[str]) -> None:
        for cid in deleted:
            self.go("board")
            self.actions += [f'click("card-{cid}")', 'click("delete-card")', 'click("confirm-delete-button")']

    def move_and_edit_cards(self, created: list[dict[str, Any]], edited: list[str], deleted: list[str],
                            raised: dict[str, Any]) -> None:
        """Edit and create cards in an order that keeps every column within its WIP limit."""
        cards0, columns0 = self.cards0, self.columns0
        counts = {i: sum(1 for c in cards0.values() if c["column"] == i and c["id"] not in deleted) for i in columns0}
        limits = {i: self.columns1[i]["wip_limit"] if i in raised else columns0[i]["wip_limit"] for i in columns0}
        pending: list[tuple[str | None, dict[str, Any]]] = [(i, self.cards1[i]) for i in edited] + [(None, c) for c in created]
        while pending:
            index = next((k for k, (cid, card) in enumerate(pending)
                          if card["column"] == (cards0[cid]["column"] if cid else None)
                          or not limits[card["column"]] or counts[card["column"]] < limits[card["column"]]), None)
            if index is None:
                stuck = ", ".join(f"{c['id']} → {c['column']}" for _, c in pending)
                raise Unsolvable(f"every remaining card move goes over a WIP limit ({stuck}); raise the limit in the target too")
            cid, card = pending.pop(index)
            if cid is not None:
                counts[cards0[cid]["column"]] -= 1
            counts[card["column"]] += 1
            self.edit_card(cid, card)

    def edit_card(self, cid: str | None, card: dict[str, Any]) -> None:
        """Open card ``cid`` (``None``: a new one), fill what differs, save."""
        names = {m["id"]: m["name"] for m in self.target["members"]}
        self.go("board")
        if cid is None:
            self.actions.append('click("new-card")')
            self.actions += _card_fields(NEW_CARD, card, self.columns1, names)
        else:
            self.actions.append(f'click("card-{cid}")')
            self.actions += _card_fields(self.cards0[cid], card, self.columns1, names)
        self.actions.append('click("save-card")')


#: The fields of the new-card form before anything is typed.
NEW_CARD = {"title": "", "description": "", "column": "backlog", "assignee": "", "priority": "Medium", "labels": [], "due": ""}


def _check_role(role: Any) -> None:
    if role not in ROLES:
        raise Unsolvable(f"unknown role {role!r}")


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
