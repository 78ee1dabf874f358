"""Trackly: a mock kanban task board with project settings (columns with WIP limits, cards with
assignees/priorities/labels/due dates, filters, member administration).

State (:class:`BoardState`): project name, columns, members (with roles), labels and cards.
Moving a card into a column that is at its WIP limit is refused with an inline error, as in real
kanban tools.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, document, esc, field, form_data, form_lists, options, qs

PRIORITIES = ["Low", "Medium", "High", "Critical"]
ROLES = ["Admin", "Member", "Viewer"]
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$", re.I)


class Column(BaseModel):
    id: str
    name: str
    wip_limit: int = 0  # 0: no limit


class Member(BaseModel):
    id: str
    name: str
    email: str
    role: Literal["Admin", "Member", "Viewer"] = "Member"


class Card(BaseModel):
    id: str
    title: str
    description: str = ""
    column: str
    assignee: str = ""
    priority: Literal["Low", "Medium", "High", "Critical"] = "Medium"
    labels: list[str] = Field(default_factory=list)
    due: str = ""


class BoardState(BaseModel):
    seed: int = 0
    project_name: str
    key: str
    columns: list[Column]
    members: list[Member]
    labels: list[str]
    cards: list[Card]
    next_card: int = 1


NAMES = [("Ana Torres", "ana@trackly.dev"), ("Ben Carter", "ben@trackly.dev"), ("Chloe Martin", "chloe@trackly.dev"),
         ("Dev Malhotra", "dev@trackly.dev"), ("Erin Walsh", "erin@trackly.dev"), ("Felix Braun", "felix@trackly.dev")]
CARD_TITLES = ["Fix login redirect loop", "Add dark mode toggle", "Write API rate-limit docs", "Migrate billing to Stripe v3",
               "Improve search relevance", "Crash when uploading large files", "Onboarding checklist UI", "Update privacy policy page",
               "Refactor notification service", "Add CSV export to reports", "Flaky test in checkout suite", "Design empty states",
               "Localize settings page", "Reduce bundle size", "Audit accessibility of forms", "Set up error budget alerts",
               "Password reset email typo", "Add SSO for enterprise", "Cache product thumbnails", "Weekly digest email"]
LABELS = ["bug", "feature", "design", "docs", "infra", "urgent"]

CSS = """
:root{--accent:#5b5bd6;--bg:#f3f4f8}
.top{background:#fff;border-bottom:1px solid #e4e6ee;display:flex;align-items:center;gap:16px;padding:10px 20px}
.logo{font-weight:800;font-size:1.2rem;color:#2d2d6b}.logo i{color:#5b5bd6;font-style:normal}.top nav a{margin-right:14px;font-weight:600;color:#3b3f5c}
.top nav a.on{color:#5b5bd6;border-bottom:2px solid #5b5bd6;padding-bottom:12px}
.wrap{padding:16px 20px}.filters{display:flex;gap:10px;align-items:end;margin-bottom:14px}.filters .field{margin:0}.filters select,.filters input{width:180px}
.board{display:grid;grid-template-columns:repeat(5,minmax(210px,1fr));gap:14px;align-items:start}
.col{background:#e9ebf3;border-radius:10px;padding:10px}.col h2{font-size:.92rem;margin:2px 4px 10px;display:flex;justify-content:space-between}
.col h2 .wip{font-weight:500;color:#666}.col h2 .wip.full{color:#c92a2a;font-weight:700}
.kcard{display:block;background:#fff;border-radius:8px;padding:9px 10px;margin-bottom:8px;box-shadow:0 1px 2px rgba(0,0,0,.12);color:#222}
.kcard:hover{text-decoration:none;box-shadow:0 2px 8px rgba(0,0,0,.18)}.kcard .id{font-size:.75rem;color:#777}
.pri{font-size:.72rem;font-weight:700;border-radius:4px;padding:0 5px}.pri-Low{background:#e7f5ff;color:#1864ab}.pri-Medium{background:#fff3bf;color:#8a6100}
.pri-High{background:#ffe8cc;color:#c2410c}.pri-Critical{background:#ffe3e3;color:#c92a2a}.lbl{font-size:.72rem;background:#edf2ff;color:#3b5bdb;border-radius:4px;padding:0 5px;margin-right:3px}
.avatar{display:inline-block;width:22px;height:22px;border-radius:50%;background:#5b5bd6;color:#fff;font-size:.7rem;text-align:center;line-height:22px;float:right}
.panel{max-width:760px;background:#fff;border-radius:12px;padding:20px 24px;margin:0 auto}.two{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.checks label{display:inline-flex;gap:4px;margin-right:12px;font-weight:400}.settings{max-width:900px;margin:0 auto;display:grid;gap:16px}
"""


class BoardApp(WebApp):
    name = "taskboard"
    State = BoardState

    def generate(self, seed: int) -> BoardState:
        rng = random.Random(f"board-{seed}")
        columns = [Column(id="backlog", name="Backlog"), Column(id="todo", name="To do", wip_limit=6),
                   Column(id="doing", name="In progress", wip_limit=3), Column(id="review", name="Review", wip_limit=3),
                   Column(id="done", name="Done")]
        members = [Member(id=f"u{i + 1}", name=n, email=e, role="Admin" if i == 0 else rng.choice(["Member", "Member", "Viewer"]))
                   for i, (n, e) in enumerate(NAMES[:5])]
        titles = list(CARD_TITLES)
        rng.shuffle(titles)
        key = ["TRK", "WEB", "OPS"][seed % 3]
        cards = []
        layout = ["backlog"] * 5 + ["todo"] * 4 + ["doing"] * 3 + ["review"] * 2 + ["done"] * 4
        for i, (title, col) in enumerate(zip(titles, layout)):
            due = (dt.date(2024, 6, 1) + dt.timedelta(days=rng.randint(5, 50))).isoformat() if rng.random() < 0.7 else ""
            cards.append(Card(id=f"{key}-{101 + i}", title=title, column=col, assignee=rng.choice([""] + [m.id for m in members]),
                              priority=rng.choice(PRIORITIES), labels=rng.sample(LABELS, rng.randint(0, 2)), due=due,
                              description=rng.choice(["", "Steps to reproduce are in the linked ticket.", "See the spec in Notion.",
                                                      "Customer-reported; high visibility."])))
        return BoardState(seed=seed, project_name=["Website relaunch", "Mobile app v2", "Platform reliability"][seed % 3], key=key,
                          columns=columns, members=members, labels=list(LABELS), cards=cards, next_card=101 + len(cards))

    def card(self, cid: str) -> Card | None:
        return next((c for c in self.state.cards if c.id == cid), None)

    def member(self, mid: str) -> Member | None:
        return next((m for m in self.state.members if m.id == mid), None)

    def page(self, title: str, body: str, tab: str = "board") -> HTMLResponse:
        s = self.state
        top = (f'<header class="top"><span class="logo">Track<i>ly</i></span><span class="muted">/ <b id="project-name">{esc(s.project_name)}</b></span>'
               f'<nav aria-label="Project"><a id="tab-board" class="{"on" if tab == "board" else ""}" href="/board">Board</a>'
               f'<a id="tab-settings" class="{"on" if tab == "settings" else ""}" href="/settings">Settings</a></nav><span class="grow"></span>'
               f'<a class="btn btn-primary" id="new-card" href="/card/new">+ New card</a></header>')
        return HTMLResponse(document(f"{title} · Trackly", top + f'<main class="wrap">{body}</main>', CSS))

    def routes(self) -> list[Any]:
        return [Route("/", lambda r: RedirectResponse("/board", status_code=303)), Route("/board", self.board),
                Route("/card/new", self.card_form, methods=["GET", "POST"]), Route("/card/{cid}", self.card_form, methods=["GET", "POST"]),
                Route("/card/{cid}/delete", self.card_delete, methods=["POST"]),
                Route("/settings", self.settings, methods=["GET"]), Route("/settings/{section}", self.settings_post, methods=["POST"])]

    async def board(self, request: Any) -> Response:
        p = request.query_params
        who, label, q = p.get("assignee", ""), p.get("label", ""), p.get("q", "").strip().lower()
        with self.lock:
            s = self.state
            cols = []
            for col in s.columns:
                all_cards = [c for c in s.cards if c.column == col.id]
                shown = [c for c in all_cards if (not who or c.assignee == who) and (not label or label in c.labels) and (not q or q in c.title.lower() or q in c.id.lower())]
                items = []
                for c in shown:
                    m = self.member(c.assignee)
                    avatar = f'<span class="avatar" title="{esc(m.name)}">{esc("".join(w[0] for w in m.name.split()))}</span>' if m else ""
                    labels = "".join(f'<span class="lbl">{esc(l)}</span>' for l in c.labels)
                    due = f' · due {c.due[5:]}' if c.due else ""
                    items.append(f'<a class="kcard" id="card-{c.id}" href="/card/{c.id}">{avatar}<div class="id">{c.id}{due}</div><div>{esc(c.title)}</div>'
                                 f'<div style="margin-top:4px"><span class="pri pri-{c.priority}">{c.priority}</span> {labels}</div>'
                                 f'<span class="small muted">{esc(m.name) if m else "Unassigned"}</span></a>')
                full = col.wip_limit and len(all_cards) >= col.wip_limit
                wip = f'{len(all_cards)}{" / " + str(col.wip_limit) if col.wip_limit else ""}'
                cols.append(f'<section class="col" aria-label="{esc(col.name)} column"><h2><span>{esc(col.name)}</span><span class="wip{" full" if full else ""}" id="count-{col.id}">{wip}</span></h2>'
                            f'{"".join(items)}<a class="small" id="add-{col.id}" href="/card/new{qs(column=col.id)}">+ Add a card</a></section>')
            member_opts = options([("", "Anyone")] + [(m.id, m.name) for m in s.members], who)
            label_opts = options([("", "Any label")] + [(l, l) for l in s.labels], label)
            flash = p.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status">{esc(flash)}</div>' if flash else ""
            body = f"""{banner}<form class="filters" method="get" action="/board" role="search">
<div class="field"><label for="filter-assignee">Assignee</label><select id="filter-assignee" name="assignee">{member_opts}</select></div>
<div class="field"><label for="filter-label">Label</label><select id="filter-label" name="label">{label_opts}</select></div>
<div class="field"><label for="filter-q">Search</label><input id="filter-q" type="search" name="q" value="{esc(p.get('q', ''))}" placeholder="Title or key"></div>
<button id="filter-apply" type="submit">Filter</button><a class="btn" id="filter-clear" href="/board">Clear</a></form>
<div class="board">{"".join(cols)}</div>"""
            return self.page("Board", body)

    async def card_form(self, request: Any) -> Response:
        cid = request.path_params.get("cid")
        form = await form_lists(request) if request.method == "POST" else {}
        with self.lock:
            s = self.state
            c = self.card(cid) if cid else None
            if cid and c is None:
                return self.page("Not found", '<div class="panel"><h1>Card not found</h1><a id="back" href="/board">Back to board</a></div>')
            errors: dict[str, str] = {}
            one = lambda k, d="": (form.get(k) or [d])[-1]  # noqa: E731
            if request.method == "POST":
                values = {"title": one("title").strip(), "description": one("description").strip(), "column": one("column"),
                          "assignee": one("assignee"), "priority": one("priority", "Medium"), "labels": [l for l in form.get("labels", []) if l in s.labels],
                          "due": one("due").strip()}
                if not values["title"]:
                    errors["title"] = "Give the card a title."
                col = next((x for x in s.columns if x.id == values["column"]), None)
                if col is None:
                    errors["column"] = "Choose a status."
                elif col.wip_limit and (c is None or c.column != col.id) and sum(1 for x in s.cards if x.column == col.id) >= col.wip_limit:
                    errors["column"] = f"“{col.name}” is at its WIP limit ({col.wip_limit}). Finish or move a card first, or raise the limit in Settings."
                if values["assignee"] and not self.member(values["assignee"]):
                    errors["assignee"] = "Unknown assignee."
                if values["priority"] not in PRIORITIES:
                    errors["priority"] = "Choose a priority."
                if values["due"]:
                    try:
                        dt.date.fromisoformat(values["due"])
                    except ValueError:
                        errors["due"] = "Enter a date like 2024-07-01."
                if not errors:
                    if c is None:
                        c = Card(id=f"{s.key}-{s.next_card}", **values)
                        s.cards.append(c)
                        s.next_card += 1
                        note = f"Created {c.id}."
                    else:
                        for k, v in values.items():
                            setattr(c, k, v)
                        note = f"Saved {c.id}."
                    return RedirectResponse(f"/board{qs(msg=note)}", status_code=303)
                vals = values
            elif c is not None:
                vals = c.model_dump()
            else:
                vals = {"title": "", "description": "", "column": request.query_params.get("column", "backlog"), "assignee": "",
                        "priority": "Medium", "labels": [], "due": ""}
            err = lambda k: errors.get(k, "")  # noqa: E731
            sel = lambda k, label, opts: (f'<div class="field{" has-error" if err(k) else ""}"><label for="card-{k}">{label}</label><select id="card-{k}" name="{k}"'  # noqa: E731
                                          f'{" aria-invalid=true" if err(k) else ""}>{opts}</select>' + (f'<div class="err" role="alert">{esc(err(k))}</div>' if err(k) else "") + "</div>")
            checks = "".join(f'<label for="label-{l}"><input type="checkbox" id="label-{l}" name="labels" value="{l}"{" checked" if l in vals["labels"] else ""}>{l}</label>' for l in s.labels)
            delete = ""
            if c is not None:
                delete = (f'<button id="delete-card" class="danger" type="button" onclick="document.getElementById(\'confirm-delete\').showModal()">Delete card</button>'
                          f'<dialog id="confirm-delete" aria-modal="true" aria-labelledby="dlg-title"><form method="post" action="/card/{c.id}/delete"><div class="dlg-body"><h2 id="dlg-title" style="margin-top:0">Delete {c.id}?</h2>'
                          f'<p>“{esc(c.title)}” will be permanently deleted.</p></div><div class="dlg-actions"><button id="cancel-delete" type="button" onclick="this.closest(\'dialog\').close()">Cancel</button>'
                          f'<button id="confirm-delete-button" class="primary" type="submit">Delete</button></div></form></dialog>')
            body = f"""<div class="panel"><div class="row"><a class="btn" id="back" href="/board">← Board</a><h1 class="grow" style="font-size:1.25rem;margin:0 8px">{esc(c.id + ' · ' + c.title) if c else 'New card'}</h1>{delete}</div>
{'<div class="alert alert-err" role="alert" style="margin-top:12px">The card could not be saved.</div>' if errors else ''}
<form method="post" novalidate style="margin-top:14px">{field("card-title", "Title", vals["title"], name="title", error=err("title"))}
<div class="field"><label for="card-description">Description</label><textarea id="card-description" name="description" rows="4">{esc(vals["description"])}</textarea></div>
<div class="two">{sel("column", "Status", options([(x.id, x.name) for x in s.columns], vals["column"]))}{sel("assignee", "Assignee", options([("", "Unassigned")] + [(m.id, m.name) for m in s.members], vals["assignee"]))}
{sel("priority", "Priority", options(PRIORITIES, vals["priority"]))}{field("card-due", "Due date", vals["due"], name="due", type="date", error=err("due"))}</div>
<fieldset class="field checks"><legend>Labels</legend>{checks}</fieldset>
<div class="row"><button id="save-card" class="primary" type="submit">{'Save changes' if c else 'Create card'}</button><a class="btn" id="cancel" href="/board">Cancel</a></div></form></div>"""
            return self.page(c.title if c else "New card", body)

    async def card_delete(self, request: Any) -> Response:
        with self.lock:
            c = self.card(request.path_params["cid"])
            if c is not None:
                self.state.cards.remove(c)
                return RedirectResponse(f"/board{qs(msg=f'Deleted {c.id}.')}", status_code=303)
        return RedirectResponse("/board", status_code=303)

    async def settings(self, request: Any, errors: dict[str, str] | None = None, form: dict | None = None) -> Response:
        errors, form = errors or {}, form or {}
        with self.lock:
            s = self.state
            flash = request.query_params.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status">{esc(flash)}</div>' if flash else ""
            wip = "".join(f'<tr><td>{esc(c.name)}</td><td><input id="wip-{c.id}" name="{c.id}" type="number" min="0" max="20" value="{c.wip_limit}" style="width:90px" aria-label="WIP limit for {esc(c.name)}"></td></tr>' for c in s.columns)
            members = "".join(
                f'<tr><td>{esc(m.name)}</td><td>{esc(m.email)}</td><td><form method="post" action="/settings/role" class="row"><input type="hidden" name="member" value="{m.id}">'
                f'<select id="role-{m.id}" name="role" aria-label="Role of {esc(m.name)}" style="width:120px">{options(ROLES, m.role)}</select><button id="save-role-{m.id}" type="submit">Update</button></form></td>'
                f'<td><form method="post" action="/settings/remove" onsubmit="return confirm(\'Remove {esc(m.name)} from the project?\')"><input type="hidden" name="member" value="{m.id}">'
                f'<button id="remove-{m.id}" class="danger" type="submit">Remove</button></form></td></tr>' for m in s.members)
            e = lambda k: errors.get(k, "")  # noqa: E731
            body = f"""<div class="settings">{banner}
<section class="card" aria-labelledby="h-general"><h2 id="h-general" style="margin-top:0">General</h2><form method="post" action="/settings/general" class="row" style="align-items:flex-start" novalidate>
<div class="grow">{field("settings-project-name", "Project name", form.get("name", s.project_name), name="name", error=e("name"))}</div><button id="save-general" class="primary" type="submit" style="margin-top:24px">Save</button></form></section>
<section class="card" aria-labelledby="h-wip"><h2 id="h-wip" style="margin-top:0">Work-in-progress limits</h2><p class="small muted">0 means no limit.</p>
<form method="post" action="/settings/wip" novalidate><table aria-label="WIP limits"><tbody>{wip}</tbody></table>{f'<div class="err" role="alert">{esc(e("wip"))}</div>' if e("wip") else ''}<button id="save-wip" class="primary" type="submit" style="margin-top:10px">Save limits</button></form></section>
<section class="card" aria-labelledby="h-members"><h2 id="h-members" style="margin-top:0">Members</h2><table aria-label="Members"><thead><tr><th>Name</th><th>Email</th><th>Role</th><th></th></tr></thead><tbody>{members}</tbody></table>
<h3>Invite a member</h3><form method="post" action="/settings/invite" novalidate><div class="two">{field("invite-name", "Name", form.get("iname", ""), name="iname", error=e("iname"))}{field("invite-email", "Email", form.get("email", ""), name="email", error=e("email"))}</div>
<div class="field"><label for="invite-role">Role</label><select id="invite-role" name="role" style="width:160px">{options(ROLES, form.get("role", "Member"))}</select></div><button id="send-invite" class="primary" type="submit">Send invite</button></form></section></div>"""
            return self.page("Settings", body, "settings")

    async def settings_post(self, request: Any) -> Response:
        section = request.path_params["section"]
        form = await form_data(request)
        with self.lock:
            s = self.state
            if section == "general":
                name = re.sub(r"\s+", " ", form.get("name", "")).strip()
                if not 3 <= len(name) <= 40:
                    return await self.settings(request, {"name": "Project names need 3 to 40 characters."}, form)
                s.project_name = name
                return RedirectResponse("/settings?msg=Project+settings+saved.", status_code=303)
            if section == "wip":
                limits = {}
                for c in s.columns:
                    try:
                        limits[c.id] = int(form.get(c.id, str(c.wip_limit)))
                    except ValueError:
                        return await self.settings(request, {"wip": f"The limit for {c.name} must be a whole number."})
                    if not 0 <= limits[c.id] <= 20:
                        return await self.settings(request, {"wip": f"The limit for {c.name} must be between 0 and 20."})
                for c in s.columns:
                    c.wip_limit = limits[c.id]
                return RedirectResponse("/settings?msg=WIP+limits+saved.", status_code=303)
            if section == "role":
                m = self.member(form.get("member", ""))
                if m and form.get("role") in ROLES:
                    if m.role == "Admin" and form["role"] != "Admin" and sum(1 for x in s.members if x.role == "Admin") == 1:
                        return RedirectResponse("/settings?msg=A+project+needs+at+least+one+Admin.", status_code=303)
                    m.role = form["role"]
                    return RedirectResponse(f"/settings{qs(msg=f'{m.name} is now {m.role}.')}", status_code=303)
            if section == "remove":
                m = self.member(form.get("member", ""))
                if m and not (m.role == "Admin" and sum(1 for x in s.members if x.role == "Admin") == 1):
                    s.members.remove(m)
                    for c in s.cards:
                        if c.assignee == m.id:
                            c.assignee = ""
                    return RedirectResponse(f"/settings{qs(msg=f'Removed {m.name}.')}", status_code=303)
            if section == "invite":
                errors = {}
                name, email, role = form.get("iname", "").strip(), form.get("email", "").strip().lower(), form.get("role", "Member")
                if not name:
                    errors["iname"] = "Enter a name."
                if not EMAIL_RE.match(email):
                    errors["email"] = "Enter a valid email address."
                elif any(m.email == email for m in s.members):
                    errors["email"] = "This person is already a member."
                if errors or role not in ROLES:
                    return await self.settings(request, errors or {"iname": "Choose a role."}, form)
                next_id = max(int(m.id[1:]) for m in s.members) + 1 if s.members else 1
                s.members.append(Member(id=f"u{next_id}", name=name, email=email, role=role))
                return RedirectResponse(f"/settings{qs(msg=f'Invited {name}.')}", status_code=303)
        return RedirectResponse("/settings", status_code=303)
