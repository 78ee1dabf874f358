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
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, form_data, form_lists, qs

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

class BoardApp(WebApp):
    name = "taskboard"
    State = BoardState
    template_globals = {"priorities": PRIORITIES, "roles": ROLES,
                        "initials": lambda name: "".join(w[0] for w in name.split())}

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

    def page(self, template: str, title: str, tab: str = "board", **context: Any) -> Response:
        """``template`` in the board layout (project name, Board/Settings tabs, New card)."""
        return self.render(template, title=title, tab=tab, **context)

    def member_choices(self) -> list[tuple[str, str]]:
        return [(m.id, m.name) for m in self.state.members]

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
            columns = []
            for col in s.columns:
                all_cards = [c for c in s.cards if c.column == col.id]
                shown = [c for c in all_cards if (not who or c.assignee == who) and (not label or label in c.labels)
                         and (not q or q in c.title.lower() or q in c.id.lower())]
                columns.append((col, len(all_cards), [(c, self.member(c.assignee)) for c in shown]))
            return self.page("board.html", "Board", columns=columns, who=who, label=label, q=p.get("q", ""),
                             member_choices=self.member_choices(), msg=p.get("msg", ""))

    async def card_form(self, request: Any) -> Response:
        cid = request.path_params.get("cid")
        form = await form_lists(request) if request.method == "POST" else {}
        with self.lock:
            s = self.state
            c = self.card(cid) if cid else None
            if cid and c is None:
                return self.page("not_found.html", "Not found")
            errors: dict[str, str] = {}
            one = lambda k, d="": (form.get(k) or [d])[-1]  # noqa: E731
            if request.method == "POST":
                values = {"title": one("title").strip(), "description": one("description").strip(), "column": one("column"),
                          "assignee": one("assignee"), "priority": one("priority", "Medium"), "labels": [label for label in form.get("labels", []) if label in s.labels],
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
            return self.page("card.html", c.title if c else "New card", c=c, vals=vals, errors=errors,
                             column_choices=[(x.id, x.name) for x in s.columns], member_choices=self.member_choices())

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
            return self.page("settings.html", "Settings", "settings", errors=errors, form=form,
                             msg=request.query_params.get("msg", ""))

    async def settings_post(self, request: Any) -> Response:
        save = {"general": self._save_general, "wip": self._save_wip, "role": self._save_role,
                "remove": self._remove_member, "invite": self._invite_member}.get(request.path_params["section"])
        form = await form_data(request)
        with self.lock:
            response = await save(request, form) if save is not None else None
            if response is not None:
                return response
        return RedirectResponse("/settings", status_code=303)

    async def _save_general(self, request: Any, form: dict) -> Response:
        name = re.sub(r"\s+", " ", form.get("name", "")).strip()
        if not 3 <= len(name) <= 40:
            return await self.settings(request, {"name": "Project names need 3 to 40 characters."}, form)
        self.state.project_name = name
        return RedirectResponse("/settings?msg=Project+settings+saved.", status_code=303)

    async def _save_wip(self, request: Any, form: dict) -> Response:
        """Every column's WIP limit (0 to 20), saved only if all are valid."""
        limits = {}
        for c in self.state.columns:
            try:
                limits[c.id] = int(form.get(c.id, str(c.wip_limit)))
            except ValueError:
                return await self.settings(request, {"wip": f"The limit for {c.name} must be a whole number."})
            if not 0 <= limits[c.id] <= 20:
                return await self.settings(request, {"wip": f"The limit for {c.name} must be between 0 and 20."})
        for c in self.state.columns:
            c.wip_limit = limits[c.id]
        return RedirectResponse("/settings?msg=WIP+limits+saved.", status_code=303)

    async def _save_role(self, request: Any, form: dict) -> Response | None:
        """A member's new role; the last Admin keeps theirs.  ``None``: no such member or role."""
        m = self.member(form.get("member", ""))
        if not (m and form.get("role") in ROLES):
            return None
        if m.role == "Admin" and form["role"] != "Admin" and self._admin_count() == 1:
            return RedirectResponse("/settings?msg=A+project+needs+at+least+one+Admin.", status_code=303)
        m.role = form["role"]
        return RedirectResponse(f"/settings{qs(msg=f'{m.name} is now {m.role}.')}", status_code=303)

    async def _remove_member(self, request: Any, form: dict) -> Response | None:
        """Remove a member (never the last Admin) and unassign their cards.  ``None``: nothing removed."""
        m = self.member(form.get("member", ""))
        if not m or (m.role == "Admin" and self._admin_count() == 1):
            return None
        self.state.members.remove(m)
        for c in self.state.cards:
            if c.assignee == m.id:
                c.assignee = ""
        return RedirectResponse(f"/settings{qs(msg=f'Removed {m.name}.')}", status_code=303)

    async def _invite_member(self, request: Any, form: dict) -> Response:
        s = self.state
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

    def _admin_count(self) -> int:
        return sum(1 for x in self.state.members if x.role == "Admin")
