"""The spec language of synthesized tasks for Trackly (``envgym/WebTaskBoard-v0``).

A spec lists the changes the task asks for, each one a UI operation with its values::

    {"changes": [{"op": "update_card", "card": "TRK-105", "set": {"column": "review", "assignee": "u2"}},
                 {"op": "rename_project", "name": "Website relaunch 2025"}],
     "criteria": "...", "difficulty": "easy|medium|hard", "forbid_side_effects": true}

Operations and the state paths they may change (``targets``):

==================  ===========================================================  ==========================
op                  fields                                                       targets
==================  ===========================================================  ==========================
update_card         ``card``, ``set``: any of title, description, column,        ``cards[<card>].<field>``
                    assignee (member id or ""), priority, labels, due
create_card         ``fields``: title (required) + any card field                ``cards[<key>-<next_card+i>]``
delete_card         ``card``                                                     ``cards[<card>]``
rename_project      ``name``                                                     ``project_name``
set_wip_limit       ``column`` (column id), ``limit`` (0-20, 0 = none)           ``columns[<column>].wip_limit``
set_member_role     ``member`` (member id), ``role``                             ``members[<member>].role``
add_member          ``name``, ``email``, ``role``                                ``members[u<max+1+i>]``
==================  ===========================================================  ==========================

``next_card`` (the card counter) changes in passing.  :func:`holds` is the env-side referee: whether
a state meets every change of a spec (new cards and members are found by their fields, not ids).
Task synthesis reaches this module through :class:`envgym.envs.web.taskboard.synthesis.TaskBoardAdapter`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from envgym.synth.diff import matches, render_path
from envgym.envs.web.taskboard.solver import CARD_FIELDS, PRIORITIES, ROLES

ENV_ID = "envgym/WebTaskBoard-v0"
START_PATH = "/board"
OPS = ("update_card", "create_card", "delete_card", "rename_project", "set_wip_limit", "set_member_role", "add_member")
INCIDENTAL = ["next_card"]
_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$", re.I)

SPEC_LANGUAGE = """\
A spec lists the changes the task asks for in "changes", each one an operation a user performs in the UI:
- {"op": "update_card", "card": "<card id>", "set": {<fields to set>}} — fields: "title", "description",
  "column" (a column id: backlog, todo, doing, review, done), "assignee" (a member id such as "u2", or "" for
  unassigned), "priority" (Low, Medium, High, Critical), "labels" (the card's full label list afterwards,
  from the project's labels), "due" ("YYYY-MM-DD" or "")
- {"op": "create_card", "fields": {"title": "...", <any other card fields>}} — the app gives the new card the
  id "<key>-<next_card>" and adds 1 to next_card
- {"op": "delete_card", "card": "<card id>"}
- {"op": "rename_project", "name": "<3-40 characters>"}
- {"op": "set_wip_limit", "column": "<column id>", "limit": <0-20, 0 = no limit>}
- {"op": "set_member_role", "member": "<member id>", "role": "Admin|Member|Viewer"}
- {"op": "add_member", "name": "...", "email": "<lower-case email>", "role": "Admin|Member|Viewer"} — the app
  gives the new member the id "u<highest member number + 1>"
Only the state paths these operations name may change (plus next_card when cards are created). The app
refuses to move a card into a column that is at its WIP limit, and a project always keeps one Admin."""


def validate(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its ``changes`` checked (raises ``ValueError`` with the reason)."""
    changes = spec.get("changes")
    if not isinstance(changes, list) or not changes:
        raise ValueError('spec.changes must be a non-empty list of operations such as {"op": "update_card", ...}')
    out = []
    for index, change in enumerate(changes):
        where = f"spec.changes[{index}]"
        if not isinstance(change, dict) or change.get("op") not in OPS:
            raise ValueError(f"{where}.op must be one of {', '.join(OPS)}")
        _CHECK_OP[change["op"]](change, where)
        out.append(copy.deepcopy(change))
    keys = [(c["op"], c.get("card") or c.get("column") or c.get("member")) for c in out
            if c["op"] in ("update_card", "delete_card", "set_wip_limit", "set_member_role")]
    if len(keys) != len(set(keys)):
        raise ValueError("spec.changes names the same card, column or member twice for one operation; merge them")
    difficulty = spec.get("difficulty", "medium")
    if difficulty not in ("easy", "medium", "hard"):
        raise ValueError(f"spec.difficulty must be easy, medium or hard, got {difficulty!r}")
    result = {k: v for k, v in spec.items() if k not in ("targets", "incidental")}
    result.update(changes=out, difficulty=difficulty, forbid_side_effects=bool(spec.get("forbid_side_effects", True)),
                  start_path=START_PATH)
    return result


def _check_update_card(change: dict[str, Any], where: str) -> None:
    _need_str(change, "card", where)
    _card_fields(change.get("set"), f"{where}.set", need_title=False)


def _check_create_card(change: dict[str, Any], where: str) -> None:
    _card_fields(change.get("fields"), f"{where}.fields", need_title=True)


def _check_delete_card(change: dict[str, Any], where: str) -> None:
    _need_str(change, "card", where)


def _check_rename_project(change: dict[str, Any], where: str) -> None:
    if not 3 <= len(_need_str(change, "name", where).strip()) <= 40:
        raise ValueError(f"{where}.name must have 3 to 40 characters")


def _check_set_wip_limit(change: dict[str, Any], where: str) -> None:
    _need_str(change, "column", where)
    limit = change.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 20:
        raise ValueError(f"{where}.limit must be a whole number from 0 to 20")


def _check_set_member_role(change: dict[str, Any], where: str) -> None:
    _need_str(change, "member", where)
    _need_role(change, where)


def _check_add_member(change: dict[str, Any], where: str) -> None:
    _need_str(change, "name", where)
    if not _EMAIL.match(str(change.get("email", ""))):
        raise ValueError(f"{where}.email must be an email address")
    _need_role(change, where)


def _need_role(change: dict[str, Any], where: str) -> None:
    if change.get("role") not in ROLES:
        raise ValueError(f"{where}.role must be one of {', '.join(ROLES)}")


_CHECK_OP = {"update_card": _check_update_card, "create_card": _check_create_card, "delete_card": _check_delete_card,
             "rename_project": _check_rename_project, "set_wip_limit": _check_set_wip_limit,
             "set_member_role": _check_set_member_role, "add_member": _check_add_member}


def targets(spec: dict[str, Any], initial: dict[str, Any]) -> list[str]:
    """The state path patterns the spec's changes may touch (ids of new cards/members from ``initial``)."""
    out: list[str] = []
    new_cards = new_members = 0
    member_numbers = [int(m["id"][1:]) for m in initial.get("members", []) if re.fullmatch(r"u\d+", str(m.get("id", "")))]
    for change in spec["changes"]:
        op = change["op"]
        if op == "update_card":
            out += [f"cards[{change['card']}].{field}" for field in change["set"]]
        elif op == "delete_card":
            out.append(f"cards[{change['card']}]")
        elif op == "create_card":
            out.append(f"cards[{initial.get('key')}-{int(initial.get('next_card', 0)) + new_cards}]")
            new_cards += 1
        elif op == "rename_project":
            out.append("project_name")
        elif op == "set_wip_limit":
            out.append(f"columns[{change['column']}].wip_limit")
        elif op == "set_member_role":
            out.append(f"members[{change['member']}].role")
        elif op == "add_member":
            new_members += 1
            out.append(f"members[u{max(member_numbers, default=0) + new_members}]")
    return out


def holds(state: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether every change of ``spec`` holds in ``state``."""
    cards = {c.get("id"): c for c in state.get("cards", []) if isinstance(c, dict)}
    return all(_HOLDS[change["op"]](state, cards, change) for change in spec["changes"])


def _card_updated(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    card = cards.get(change["card"])
    return card is not None and all(_same(k, card.get(k), v) for k, v in change["set"].items())


def _card_created(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    return any(all(_same(k, c.get(k), v) for k, v in change["fields"].items()) for c in cards.values())


def _card_deleted(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    return change["card"] not in cards


def _project_renamed(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    return _norm(state.get("project_name")) == _norm(change["name"])


def _wip_limit_set(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    column = next((c for c in state.get("columns", []) if c.get("id") == change["column"]), None)
    return column is not None and column.get("wip_limit") == change["limit"]


def _role_set(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    member = next((m for m in state.get("members", []) if m.get("id") == change["member"]), None)
    return member is not None and member.get("role") == change["role"]


def _member_added(state: dict[str, Any], cards: dict[Any, Any], change: dict[str, Any]) -> bool:
    return any(str(m.get("email", "")).lower() == change["email"].lower() and m.get("role") == change["role"]
               and _norm(m.get("name")) == _norm(change["name"]) for m in state.get("members", []))


_HOLDS = {"update_card": _card_updated, "create_card": _card_created, "delete_card": _card_deleted,
          "rename_project": _project_renamed, "set_wip_limit": _wip_limit_set, "set_member_role": _role_set,
          "add_member": _member_added}


def normalize(state: dict[str, Any]) -> dict[str, Any]:
    """Card labels in the project's label order (the order the app stores them in)."""
    state = copy.deepcopy(state)
    order = state.get("labels") if isinstance(state.get("labels"), list) else []
    for card in state.get("cards", []) if isinstance(state.get("cards"), list) else []:
        if isinstance(card, dict) and isinstance(card.get("labels"), list):
            card["labels"] = sorted(card["labels"], key=lambda label: order.index(label) if label in order else len(order))
    return state


def side_effect_mutations(golden: dict[str, Any], protected: list[str], limit: int) -> list[tuple[str, tuple, Any]]:
    """Up to ``limit`` unrelated edits a user could make by mistake, as ``(description, segments,
    new value)``: another card moved or re-prioritised, a member's role, the project name, a WIP limit."""
    found: list[tuple[str, tuple, Any]] = []
    columns = [c["id"] for c in golden.get("columns", [])]
    for card in golden.get("cards", []):
        seg = (("key", "cards"), ("id", "id", card["id"]), ("key", "column"))
        other = next((c for c in columns if c != card["column"]), None)
        if other and not matches(render_path(seg), protected):
            found.append((f"moved unrelated card {card['id']} to {other}", seg, other))
            break
    for member in golden.get("members", []):
        seg = (("key", "members"), ("id", "id", member["id"]), ("key", "role"))
        if not matches(render_path(seg), protected):
            role = "Viewer" if member["role"] != "Viewer" else "Member"
            found.append((f"changed the role of unrelated member {member['id']} to {role}", seg, role))
            break
    seg = (("key", "project_name"),)
    if not matches("project_name", protected):
        found.append(("renamed the project", seg, str(golden.get("project_name", "")) + " (old)"))
    for card in reversed(golden.get("cards", [])):
        seg = (("key", "cards"), ("id", "id", card["id"]), ("key", "priority"))
        if not matches(render_path(seg), protected):
            priority = "Low" if card.get("priority") != "Low" else "High"
            found.append((f"changed the priority of unrelated card {card['id']} to {priority}", seg, priority))
            break
    for column in golden.get("columns", []):
        seg = (("key", "columns"), ("id", "id", column["id"]), ("key", "wip_limit"))
        if not matches(render_path(seg), protected):
            found.append((f"changed the WIP limit of column {column['id']}", seg, int(column.get("wip_limit", 0)) + 1))
            break
    return found[: max(0, limit)]


def _need_str(change: dict[str, Any], key: str, where: str) -> str:
    value = change.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}.{key} must be a non-empty string")
    return value


def _card_fields(fields: Any, where: str, *, need_title: bool) -> None:
    if not isinstance(fields, dict) or not fields:
        raise ValueError(f"{where} must be an object of card fields ({', '.join(CARD_FIELDS)})")
    unknown = [k for k in fields if k not in CARD_FIELDS]
    if unknown:
        raise ValueError(f"{where} has unknown card fields {unknown}; fields are {', '.join(CARD_FIELDS)}")
    if need_title and not (isinstance(fields.get("title"), str) and fields["title"].strip()):
        raise ValueError(f"{where}.title must be a non-empty string")
    for key, value in fields.items():
        if key == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}.labels must be a list of label names")
        elif not isinstance(value, str):
            raise ValueError(f"{where}.{key} must be a string")
    if "priority" in fields and fields["priority"] not in PRIORITIES:
        raise ValueError(f"{where}.priority must be one of {', '.join(PRIORITIES)}")
    if fields.get("due") and not _DATE.match(fields["due"]):
        raise ValueError(f"{where}.due must be YYYY-MM-DD or empty")


def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def _same(key: str, got: Any, want: Any) -> bool:
    if key == "labels":
        return isinstance(got, list) and sorted(got) == sorted(want)
    if key in ("title", "description"):
        return _norm(got) == _norm(want)
    return got == want
