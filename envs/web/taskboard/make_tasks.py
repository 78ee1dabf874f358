"""Generate ``tasks.jsonl`` for the task board: ``python -m envgym.envs.web.taskboard.make_tasks``."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envgym.envs.web.taskboard.app import BoardApp, BoardState
from envgym.envs.web.taskgen import make_task, write

ENV_ID = "envgym/WebTaskBoard-v0"


def build() -> list:
    """The task board's tasks: for each of three seeds, questions, new cards, card updates and settings."""
    tasks: list = []

    def add(*args: Any, **kwargs: Any) -> None:
        tasks.append(make_task(ENV_ID, *args, **kwargs, start_path="/board"))

    app = BoardApp()
    for seed in range(3):
        s = app.generate(seed)
        rng = random.Random(f"board-tasks-{seed}")
        cards = list(s.cards)
        rng.shuffle(cards)
        for tasks_of in (_question_tasks, _create_tasks, _update_tasks, _settings_tasks):
            tasks_of(add, s, cards, seed)
    return tasks


def _question_tasks(add: Callable[..., None], s: BoardState, cards: list, seed: int) -> None:
    """Questions on the board: a column's card count, a card's assignee, a member's open cards."""
    col_name = {c.id: c.name for c in s.columns}
    member = {m.id: m for m in s.members}
    col = ["review", "done", "backlog"][seed]
    n = sum(1 for c in s.cards if c.column == col)
    add(f"board-count-{seed}", f"How many cards are in the “{col_name[col]}” column? Answer with a number.",
        {"type": "answer", "expected": {"number": n}}, [f'answer("{n}")'], answer=n, seed=seed)
    c = next(x for x in cards if x.assignee)
    add(f"board-assignee-{seed}", f"Who is assigned to {c.id} (“{c.title}”)? Answer with their full name.",
        {"type": "answer", "expected": {"text": member[c.assignee].name}}, [f'click("card-{c.id}")', f'answer("{member[c.assignee].name}")'],
        answer=member[c.assignee].name, seed=seed)
    who = s.members[1 + seed]
    k = sum(1 for x in s.cards if x.assignee == who.id and x.column != "done")
    add(f"board-workload-{seed}", f"How many cards that are not yet Done are assigned to {who.name}? Use the assignee filter. Answer with a number.",
        {"type": "answer", "expected": {"number": k}}, [f'select("filter-assignee", "{who.name}")', 'click("filter-apply")', f'answer("{k}")'], answer=k, seed=seed)


def _create_tasks(add: Callable[..., None], s: BoardState, cards: list, seed: int) -> None:
    """New cards: one with assignee, priority and labels; one in the backlog with a due date and a description."""
    title = ["Add two-factor authentication", "Investigate slow dashboard", "Write release notes for 2.4"][seed]
    assignee = s.members[2]
    pri = ["High", "Critical", "Low"][seed]
    labels = [["feature"], ["bug", "urgent"], ["docs"]][seed]
    add(f"board-create-{seed}", f"Create a card “{title}” in To do, assigned to {assignee.name}, priority {pri}, labelled {' and '.join(labels)}.",
        {"type": "card_created", "fields": {"title": title, "column": "todo", "assignee": assignee.id, "priority": pri, "labels": labels}},
        ['click("add-todo")', f'fill("card-title", "{title}")', f'select("card-assignee", "{assignee.name}")', f'select("card-priority", "{pri}")']
        + [f'click("label-{label}")' for label in labels] + ['click("save-card")', 'answer("done")'], seed=seed)
    title2 = ["Spike: evaluate vector search", "Clean up feature flags", "Update on-call runbook"][seed]
    add(f"board-create-due-{seed}", f"Add a new Backlog card “{title2}” with due date 2024-07-{15 + seed} and the description “Timebox to two days.”",
        {"type": "card_created", "fields": {"title": title2, "column": "backlog", "due": f"2024-07-{15 + seed}", "description": "Timebox to two days."}},
        ['click("new-card")', f'fill("card-title", "{title2}")', 'fill("card-description", "Timebox to two days.")', f'fill("card-due", "2024-07-{15 + seed}")',
         'click("save-card")', 'answer("done")'], seed=seed)


def _update_tasks(add: Callable[..., None], s: BoardState, cards: list, seed: int) -> None:
    """Card updates: move (raising a full WIP limit first), assign, escalate, label, delete."""
    c = next(x for x in cards if x.column == "todo")
    dest = ["review", "review", "doing"][seed]
    dest_col = next(x for x in s.columns if x.id == dest)
    full = sum(1 for x in s.cards if x.column == dest) >= dest_col.wip_limit
    instruction = f"Move {c.id} (“{c.title}”) to {dest_col.name}. If that column is at its WIP limit, raise the limit by one first."
    if full:
        params = {"type": "settings", "card_column": {"id": c.id, "column": dest}, "wip": {dest: dest_col.wip_limit + 1}}
        acts = ['click("tab-settings")', f'fill("wip-{dest}", "{dest_col.wip_limit + 1}")', 'click("save-wip")', 'click("tab-board")']
    else:
        params, acts = {"type": "card_updated", "id": c.id, "changes": {"column": dest}}, []
    add(f"board-move-{seed}", instruction, params,
        acts + [f'click("card-{c.id}")', f'select("card-column", "{dest_col.name}")', 'click("save-card")', 'answer("done")'], seed=seed)
    c = next(x for x in cards if x.column == "backlog")
    target = next(m for m in s.members if m.id != c.assignee)
    add(f"board-assign-{seed}", f"Assign {c.id} to {target.name}.", {"type": "card_updated", "id": c.id, "changes": {"assignee": target.id}},
        [f'click("card-{c.id}")', f'select("card-assignee", "{target.name}")', 'click("save-card")', 'answer("done")'], seed=seed)
    c = next(x for x in cards[3:] if x.priority != "Critical")
    newpri = "Critical" if c.priority != "Critical" else "High"
    due = f"2024-06-{20 + seed}"
    changes = {"priority": newpri} | ({"due": due} if c.due != due else {})
    add(f"board-escalate-{seed}", f"Escalate {c.id}: set its priority to {newpri} and its due date to {due}.",
        {"type": "card_updated", "id": c.id, "changes": changes},
        [f'fill("filter-q", "{c.id}")', 'click("filter-apply")', f'click("card-{c.id}")', f'select("card-priority", "{newpri}")', f'fill("card-due", "{due}")',
         'click("save-card")', 'answer("done")'], seed=seed)
    c = next(x for x in cards[5:] if "urgent" not in x.labels)
    add(f"board-label-{seed}", f"Add the “urgent” label to {c.id} without removing its other labels.",
        {"type": "card_updated", "id": c.id, "changes": {"labels": c.labels + ["urgent"]}},
        [f'click("card-{c.id}")', 'click("label-urgent")', 'click("save-card")', 'answer("done")'], seed=seed)
    c = next(x for x in cards[7:] if x.column == "done")
    add(f"board-delete-{seed}", f"Delete the card {c.id} (“{c.title}”).", {"type": "card_deleted", "id": c.id},
        [f'click("card-{c.id}")', 'click("delete-card")', 'click("confirm-delete-button")', 'answer("done")'], seed=seed)


def _settings_tasks(add: Callable[..., None], s: BoardState, cards: list, seed: int) -> None:
    """Settings: rename the project, invite a member, change a role, set a WIP limit."""
    name = ["Website relaunch 2024", "Mobile app v2.1", "Platform SRE"][seed]
    add(f"board-rename-{seed}", f"Rename the project to “{name}”.", {"type": "settings", "project_name": name},
        ['click("tab-settings")', f'fill("settings-project-name", "{name}")', 'click("save-general")', 'answer("done")'], seed=seed)
    inv = [("Gia Romano", "gia.romano@trackly.dev", "Viewer"), ("Hugo Lindqvist", "hugo@trackly.dev", "Admin"), ("Iris Chen", "iris.chen@trackly.dev", "Member")][seed]
    add(f"board-invite-{seed}", f"Invite {inv[0]} ({inv[1]}) to the project as {inv[2]}.",
        {"type": "settings", "member_added": {"name": inv[0], "email": inv[1], "role": inv[2]}},
        ['click("tab-settings")', f'fill("invite-name", "{inv[0]}")', f'fill("invite-email", "{inv[1]}")', f'select("invite-role", "{inv[2]}")',
         'click("send-invite")', 'answer("done")'], seed=seed)
    m = next(x for x in s.members[1:] if x.role != "Admin")
    add(f"board-role-{seed}", f"Make {m.name} an Admin of the project.", {"type": "settings", "member_role": {"email": m.email, "role": "Admin"}},
        ['click("tab-settings")', f'select("role-{m.id}", "Admin")', f'click("save-role-{m.id}")', 'answer("done")'], seed=seed)
    lim = [2, 5, 4][seed]
    add(f"board-wip-{seed}", f"Set the WIP limit of the “In progress” column to {lim}.", {"type": "settings", "wip": {"doing": lim}},
        ['click("tab-settings")', f'fill("wip-doing", "{lim}")', 'click("save-wip")', 'answer("done")'], seed=seed)


if __name__ == "__main__":
    write(build(), Path(__file__).with_name("tasks.jsonl"))
