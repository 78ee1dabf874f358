"""Swiftmail: a mock webmail client (folders, search, read, compose, reply, forward, labels, bulk actions).

State (:class:`MailState`): the account owner, contacts, labels and every message with its folder,
read/starred flags and labels.  Sent mail records ``in_reply_to`` / ``forwarded_from`` so checkers
can verify that a reply really answers the right message.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, document, esc, form_data, form_lists, options, pagination, qs

FOLDERS = [("inbox", "Inbox"), ("starred", "Starred"), ("sent", "Sent"), ("drafts", "Drafts"), ("archive", "Archive"),
           ("spam", "Spam"), ("trash", "Trash")]
PAGE_SIZE = 15
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$", re.I)


class Contact(BaseModel):
    name: str
    addr: str


class Message(BaseModel):
    id: str
    folder: Literal["inbox", "sent", "drafts", "archive", "spam", "trash"]
    from_name: str
    from_addr: str
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    body: str
    date: str
    read: bool = True
    starred: bool = False
    labels: list[str] = Field(default_factory=list)
    in_reply_to: str = ""
    forwarded_from: str = ""


class MailState(BaseModel):
    seed: int = 0
    me: Contact
    contacts: list[Contact]
    labels: list[str]
    messages: list[Message]
    next_id: int = 1


PEOPLE = [("Priya Raman", "priya.raman@northwind.io"), ("Marcus Webb", "marcus.webb@northwind.io"),
          ("Elena Sokolova", "elena@sokolova.design"), ("Tom Okafor", "tom.okafor@gmail.com"),
          ("Grace Liu", "grace.liu@fabrikam.com"), ("Diego Alvarez", "diego.alvarez@contoso.com"),
          ("Hannah Becker", "hannah.becker@lumen.edu"), ("Samir Haddad", "samir@haddad-law.com"),
          ("Olivia Park", "olivia.park@northwind.io"), ("Noah Fischer", "noah.fischer@fabrikam.com")]
SERVICES = [("Acme Billing", "billing@acme-supplies.com"), ("CloudHost Alerts", "alerts@cloudhost.net"),
            ("Skyline Airways", "noreply@skylineair.com"), ("City Library", "notices@citylibrary.org")]
TOPICS = [
    ("Q3 budget review", "Hi {first},\n\nCan we meet on {day} at {time} to go through the Q3 budget? I have put the draft in the shared folder.\n\nThanks,\n{sender}"),
    ("Design mockups for the landing page", "Hi {first},\n\nAttached are the latest mockups (version {n}). Let me know which direction you prefer by {day}.\n\nBest,\n{sender}"),
    ("Dinner on {day}?", "Hey {first}!\n\nAre you free for dinner on {day}? I was thinking of the Italian place on 5th street at {time}.\n\n{sender}"),
    ("Contract draft v{n}", "Dear {first},\n\nPlease find the revised contract draft (v{n}). The main change is in clause {n}.2 regarding termination.\n\nKind regards,\n{sender}"),
    ("Onboarding plan for new hires", "Hi {first},\n\nHere is the onboarding plan for the {n} new hires starting on {day}. Could you review the schedule?\n\nCheers,\n{sender}"),
    ("Conference travel", "Hi {first},\n\nI booked the hotel for the conference. Confirmation code is HX{n}{n}7. Flights still pending.\n\n{sender}"),
    ("Quarterly report numbers", "Hi {first},\n\nThe quarterly report shows revenue up {n}% over last quarter. Final numbers are due {day}.\n\n{sender}"),
    ("Team offsite ideas", "Hello {first},\n\nFor the offsite, I suggest a hiking day followed by a workshop. Budget is about ${n}00 per person.\n\n{sender}"),
]
SERVICE_TOPICS = [
    ("Your invoice INV-{code} is ready", "Hello,\n\nYour invoice INV-{code} for ${amount} is now available. Payment is due on {day}.\n\nAcme Billing"),
    ("Alert: CPU usage above 90% on web-{n}", "Server web-{n} exceeded 90% CPU for 15 minutes at {time}.\n\nCloudHost Monitoring"),
    ("Your booking confirmation {code}", "Thank you for flying Skyline. Booking reference {code}. Departure {day} at {time}, seat {n}C.\n\nSkyline Airways"),
    ("Reminder: book due back on {day}", "The book you borrowed is due back on {day}. Renew online to avoid a fee.\n\nCity Library"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
TIMES = ["9:30 AM", "11:00 AM", "2:00 PM", "3:30 PM", "4:15 PM"]

CSS = """
:root{--accent:#1a73e8;--bg:#f6f8fc}
.app{display:grid;grid-template-columns:232px 1fr;min-height:100vh}
.side{padding:14px 10px}.brand{font-size:1.35rem;font-weight:700;color:#444;padding:4px 12px 14px;display:flex;gap:8px;align-items:center}
.brand .dot{width:26px;height:26px;border-radius:7px;background:linear-gradient(135deg,#1a73e8,#34a853)}
.compose{display:inline-block;background:#c2e7ff;color:#001d35;font-weight:600;border-radius:16px;padding:14px 22px;margin:0 0 14px 4px}
.side a.f{display:flex;justify-content:space-between;padding:6px 14px;border-radius:0 16px 16px 0;color:#202124}
.side a.f.on{background:#d3e3fd;font-weight:700}.side h4{margin:16px 14px 6px;font-size:.8rem;color:#5f6368;text-transform:uppercase}
.main{padding:10px 16px 30px}.topsearch{display:flex;gap:8px;margin-bottom:10px}.topsearch input{max-width:640px;border-radius:22px;background:#eaf1fb;border:none;padding:11px 18px}
.box{background:#fff;border-radius:14px;padding:6px 0;min-height:300px}.toolbar{display:flex;gap:8px;align-items:center;padding:8px 14px;border-bottom:1px solid #eee;flex-wrap:wrap}
.toolbar select{width:auto}.mlist td{padding:7px 10px;border-bottom:1px solid #f1f3f4;font-size:.93rem}
.mlist tr.unread td{font-weight:700;background:#fff}.mlist tr.read td{background:#f8fafd;color:#3c4043}.mlist .snip{color:#5f6368;font-weight:400}
.chip{display:inline-block;background:#e8eaed;border-radius:4px;padding:0 6px;font-size:.75rem;margin-right:4px;font-weight:600;color:#3c4043}
.star{color:#c9c9c9;font-size:1.1rem;border:none;background:none;padding:0 4px}.star.on{color:#f4b400}
.msg{padding:16px 26px}.msg h1{font-weight:400;font-size:1.5rem}.msg .body{white-space:pre-wrap;margin-top:16px;line-height:1.6}
.actions{display:flex;gap:8px;margin:14px 0;flex-wrap:wrap}details.menu{position:relative}details.menu summary{list-style:none;border:1px solid #c7ccd4;border-radius:6px;padding:7px 14px;cursor:pointer;background:#fff}
details.menu .pop{position:absolute;z-index:5;background:#fff;border:1px solid #ddd;border-radius:8px;box-shadow:0 6px 20px rgba(0,0,0,.15);padding:8px;min-width:200px}
details.menu .pop button{display:block;width:100%;text-align:left;border:none;margin:0}
.sw{width:10px;height:10px;border-radius:3px;display:inline-block}.composebox{max-width:820px;background:#fff;border-radius:12px;padding:18px 22px}.composebox textarea{min-height:240px}
"""


class MailApp(WebApp):
    name = "mail"
    State = MailState

    def generate(self, seed: int) -> MailState:
        rng = random.Random(f"mail-{seed}")
        me = Contact(name=rng.choice(["Jordan Reyes", "Alex Morgan", "Sam Whitaker"]), addr="")
        me.addr = me.name.split()[0].lower() + "@swiftmail.com"
        people = [Contact(name=n, addr=a) for n, a in PEOPLE]
        msgs: list[Message] = []
        n = 1
        order = list(range(26))
        rng.shuffle(order)
        for i in order:
            day_of = 1 + (i * 29) // 26
            stamp = f"2024-05-{day_of:02d} {8 + (i * 7) % 10:02d}:{(i * 13) % 60:02d}"
            if i % 4 == 3:
                svc = SERVICES[(i // 4) % len(SERVICES)]
                subj, body = SERVICE_TOPICS[SERVICES.index(svc)]
                fill = dict(code=f"{rng.randint(1000, 9999)}", amount=f"{rng.randint(40, 900)}.{rng.randint(0, 99):02d}",
                            day=rng.choice(DAYS), time=rng.choice(TIMES), n=rng.randint(2, 9))
                msgs.append(Message(id=f"m{n}", folder="inbox", from_name=svc[0], from_addr=svc[1], to=[me.addr],
                                    subject=subj.format(**fill), body=body.format(**fill), date=stamp,
                                    read=rng.random() < 0.5, labels=["Finance"] if svc[0] == "Acme Billing" else []))
            else:
                p = people[i % len(people)]
                subj, body = TOPICS[i % len(TOPICS)]
                fill = dict(first=me.name.split()[0], sender=p.name.split()[0], day=rng.choice(DAYS),
                            time=rng.choice(TIMES), n=rng.randint(2, 9))
                msgs.append(Message(id=f"m{n}", folder="inbox" if i < 22 else "archive", from_name=p.name, from_addr=p.addr,
                                    to=[me.addr], subject=subj.format(**fill), body=body.format(**fill), date=stamp,
                                    read=rng.random() < 0.55, starred=rng.random() < 0.15,
                                    labels=["Work"] if p.addr.endswith("northwind.io") else []))
            n += 1
        for j, p in enumerate(people[:3]):
            msgs.append(Message(id=f"m{n}", folder="sent", from_name=me.name, from_addr=me.addr, to=[p.addr],
                                subject=["Notes from today", "Re: lunch", "Slides"][j], date=f"2024-05-{10 + j:02d} 17:05",
                                body=f"Hi {p.name.split()[0]},\n\nSharing the notes as promised.\n\n{me.name.split()[0]}"))
            n += 1
        msgs.append(Message(id=f"m{n}", folder="spam", from_name="Prize Center", from_addr="win@prizes.example",
                            to=[me.addr], subject="You have WON a cruise!!!", body="Click here to claim.", date="2024-05-20 03:12", read=False))
        n += 1
        return MailState(seed=seed, me=me, contacts=people + [Contact(name=s[0], addr=s[1]) for s in SERVICES],
                         labels=["Work", "Finance", "Personal", "Travel"], messages=msgs, next_id=n)

    # ------------------------------------------------------------------ helpers
    def msg(self, mid: str) -> Message | None:
        return next((m for m in self.state.messages if m.id == mid), None)

    def page(self, title: str, body: str, active: str = "", q: str = "", script: str = "") -> HTMLResponse:
        s = self.state
        unread = lambda f: sum(1 for m in s.messages if m.folder == f and not m.read)  # noqa: E731
        links = []
        for key, label in FOLDERS:
            count = unread(key) if key in ("inbox", "spam") else (sum(1 for m in s.messages if m.folder == "drafts") if key == "drafts" else 0)
            links.append(f'<a class="f{" on" if active == key else ""}" id="folder-{key}" href="/folder/{key}"'
                         f'{" aria-current=page" if active == key else ""}><span>{label}</span><span>{count or ""}</span></a>')
        labels = "".join(f'<a class="f{" on" if active == "label:" + l else ""}" id="label-link-{slug(l)}" href="/label/{esc(l)}"><span><span class="sw" style="background:#8ab4f8"></span> {esc(l)}</span></a>' for l in s.labels)
        side = (f'<aside class="side"><div class="brand"><span class="dot"></span>Swiftmail</div>'
                f'<a class="compose" id="compose-button" href="/compose">✎ Compose</a><nav aria-label="Folders">{"".join(links)}</nav>'
                f'<h4>Labels</h4><nav aria-label="Labels">{labels}</nav><h4>Settings</h4><a class="f" id="manage-labels" href="/settings/labels">Manage labels</a></aside>')
        top = (f'<form class="topsearch" role="search" action="/search" method="get"><input id="search-input" type="search" name="q" value="{esc(q)}" '
               f'placeholder="Search mail" aria-label="Search mail"><button id="search-button" type="submit">Search</button>'
               f'<span class="grow"></span><span class="muted small" style="align-self:center">{esc(s.me.name)} &lt;{esc(s.me.addr)}&gt;</span></form>')
        return HTMLResponse(document(f"{title} - Swiftmail", f'<div class="app">{side}<main class="main">{top}{body}</main></div>', CSS, script))

    def routes(self) -> list[Any]:
        return [Route("/", lambda r: RedirectResponse("/folder/inbox", status_code=303)),
                Route("/folder/{folder}", self.folder_page), Route("/label/{label}", self.label_page),
                Route("/search", self.search_page), Route("/message/{mid}", self.message_page),
                Route("/message/{mid}/action", self.message_action, methods=["POST"]),
                Route("/bulk", self.bulk, methods=["POST"]),
                Route("/compose", self.compose, methods=["GET", "POST"]),
                Route("/settings/labels", self.labels_page, methods=["GET", "POST"])]

    def listing(self, title: str, items: list[Message], active: str, request: Any, q: str = "", note: str = "") -> HTMLResponse:
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        items = sorted(items, key=lambda m: (m.date, m.id), reverse=True)
        pages = max(1, -(-len(items) // PAGE_SIZE))
        page = min(page, pages)
        shown = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        rows = []
        for m in shown:
            who = ("To: " + ", ".join(m.to)) if m.folder in ("sent", "drafts") else m.from_name
            chips = "".join(f'<span class="chip">{esc(l)}</span>' for l in m.labels)
            snippet = m.body.replace("\n", " ")[:70]
            rows.append(f'<tr class="{"read" if m.read else "unread"}"><td style="width:30px"><input type="checkbox" id="select-{m.id}" name="ids" value="{m.id}" form="bulk-form" aria-label="Select message from {esc(m.from_name)}: {esc(m.subject)}"></td>'
                        f'<td style="width:30px"><span class="star{" on" if m.starred else ""}" aria-label="{"Starred" if m.starred else "Not starred"}">★</span></td>'
                        f'<td style="width:190px">{esc(who)}</td><td>{chips}<a id="open-{m.id}" href="/message/{m.id}">{esc(m.subject)}</a> <span class="snip">— {esc(snippet)}</span></td>'
                        f'<td style="width:120px" class="small">{esc(m.date[5:])}</td></tr>')
        labels = options([("", "Apply label…")] + [(l, l) for l in self.state.labels], "")
        move = options([("", "Move to…")] + [(k, v) for k, v in FOLDERS if k not in ("starred", "drafts")], "")
        toolbar = (f'<form id="bulk-form" class="toolbar" method="post" action="/bulk"><input type="hidden" name="back" value="{esc(str(request.url.path) + ("?" + request.url.query if request.url.query else ""))}">'
                   f'<button id="bulk-archive" name="op" value="archive" type="submit">Archive</button><button id="bulk-delete" name="op" value="trash" type="submit">Delete</button>'
                   f'<button id="bulk-read" name="op" value="read" type="submit">Mark as read</button><button id="bulk-unread" name="op" value="unread" type="submit">Mark as unread</button>'
                   f'<select id="bulk-move" name="move" aria-label="Move selected to folder">{move}</select><select id="bulk-label" name="label" aria-label="Apply label to selected">{labels}</select>'
                   f'<button id="bulk-apply" name="op" value="apply" type="submit">Apply</button><span class="grow"></span><span class="muted small">{len(items)} conversation{"s" if len(items) != 1 else ""}</span></form>')
        flash = request.query_params.get("msg", "")
        banner = f'<div class="alert alert-ok" role="status">{esc(flash)}</div>' if flash else ""
        table = (f'<table class="mlist" aria-label="{esc(title)} messages"><tbody>{"".join(rows)}</tbody></table>' if rows
                 else '<p class="muted" style="padding:20px">No messages here.</p>')
        params = {"q": q} if q else {}
        body = f'{banner}<div class="box"><h1 style="font-size:1.1rem;margin:8px 16px">{esc(title)}{note}</h1>{toolbar}{table}{pagination(request.url.path, page, pages, params)}</div>'
        return self.page(title, body, active, q)

    async def folder_page(self, request: Any) -> Response:
        folder = request.path_params["folder"]
        with self.lock:
            if folder == "starred":
                items = [m for m in self.state.messages if m.starred and m.folder != "trash"]
            elif folder in dict(FOLDERS):
                items = [m for m in self.state.messages if m.folder == folder]
            else:
                return self.page("Not found", '<div class="box" style="padding:20px"><h1>Folder not found</h1></div>')
            return self.listing(dict(FOLDERS)[folder], items, folder, request)

    async def label_page(self, request: Any) -> Response:
        label = request.path_params["label"]
        with self.lock:
            items = [m for m in self.state.messages if label in m.labels and m.folder != "trash"]
            return self.listing(f"Label: {label}", items, "label:" + label, request)

    async def search_page(self, request: Any) -> Response:
        q = request.query_params.get("q", "").strip()
        with self.lock:
            words = q.lower().split()
            items = [m for m in self.state.messages if m.folder not in ("trash", "spam") and words and
                     all(w in f"{m.from_name} {m.from_addr} {' '.join(m.to)} {m.subject} {m.body}".lower() for w in words)]
            return self.listing(f"Search results for “{q}”", items, "", request, q=q)

    async def message_page(self, request: Any) -> Response:
        with self.lock:
            m = self.msg(request.path_params["mid"])
            if m is None:
                return self.page("Not found", '<div class="box" style="padding:20px"><h1>Message not found</h1><a id="back-inbox" href="/folder/inbox">Back to Inbox</a></div>')
            m.read = True if not request.query_params.get("keep_unread") else m.read
            label_buttons = "".join(
                f'<button id="toggle-label-{slug(l)}" name="label" value="{esc(l)}" type="submit" role="menuitemcheckbox" aria-checked="{"true" if l in m.labels else "false"}">{"☑" if l in m.labels else "☐"} {esc(l)}</button>'
                for l in self.state.labels)
            chips = "".join(f'<span class="chip">{esc(l)}</span>' for l in m.labels)
            flash = request.query_params.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status">{esc(flash)}</div>' if flash else ""
            body = f"""{banner}<div class="box msg"><div class="actions">
<a class="btn" id="back-to-folder" href="/folder/{m.folder}">← Back</a>
<form method="post" action="/message/{m.id}/action" class="row">
<button id="archive" name="op" value="archive" type="submit"{" disabled" if m.folder == "archive" else ""}>Archive</button>
<button id="delete" name="op" value="trash" type="submit">Delete</button>
<button id="spam" name="op" value="spam" type="submit">Report spam</button>
<button id="mark-unread" name="op" value="unread" type="submit">Mark as unread</button>
<button id="star" name="op" value="{"unstar" if m.starred else "star"}" type="submit" aria-pressed="{"true" if m.starred else "false"}">{"★ Starred" if m.starred else "☆ Star"}</button></form>
<form method="post" action="/message/{m.id}/action"><input type="hidden" name="op" value="label"><details class="menu" id="labels-menu"><summary id="labels-menu-button" aria-haspopup="menu">Labels ▾</summary><div class="pop" role="menu">{label_buttons}</div></details></form>
</div><h1>{chips}{esc(m.subject)}</h1>
<div><b>{esc(m.from_name)}</b> <span class="muted">&lt;{esc(m.from_addr)}&gt;</span></div>
<div class="small muted">to {esc(", ".join(m.to))}{(" · cc " + esc(", ".join(m.cc))) if m.cc else ""} · {esc(m.date)}</div>
<div class="body" id="message-body">{esc(m.body)}</div>
<div class="actions" style="margin-top:24px"><a class="btn" id="reply" href="/compose?reply={m.id}">↩ Reply</a><a class="btn" id="reply-all" href="/compose?reply={m.id}&amp;all=1">↩↩ Reply all</a><a class="btn" id="forward" href="/compose?forward={m.id}">↪ Forward</a></div></div>"""
            return self.page(m.subject, body, m.folder)

    async def message_action(self, request: Any) -> Response:
        form = await form_data(request)
        with self.lock:
            m = self.msg(request.path_params["mid"])
            if m is None:
                return RedirectResponse("/folder/inbox", status_code=303)
            op, origin_folder = form.get("op"), m.folder
            if op in ("archive", "trash", "spam"):
                m.folder = op
                return RedirectResponse(f"/folder/{origin_folder}{qs(msg={'archive': 'Conversation archived.', 'trash': 'Conversation moved to Trash.', 'spam': 'Reported as spam.'}[op])}", status_code=303)
            if op == "unread":
                m.read = False
                return RedirectResponse(f"/folder/{origin_folder}{qs(msg='Marked as unread.')}", status_code=303)
            if op in ("star", "unstar"):
                m.starred = op == "star"
            if op == "label" and form.get("label") in self.state.labels:
                label = form["label"]
                m.labels = [l for l in m.labels if l != label] if label in m.labels else m.labels + [label]
                return RedirectResponse(f"/message/{m.id}{qs(msg=f'Label “{label}” ' + ('added.' if label in m.labels else 'removed.'))}", status_code=303)
            return RedirectResponse(f"/message/{m.id}", status_code=303)

    async def bulk(self, request: Any) -> Response:
        form = await form_lists(request)
        ids = set(form.get("ids", []))
        op = (form.get("op") or [""])[-1]
        back = (form.get("back") or ["/folder/inbox"])[-1]
        if not back.startswith("/"):
            back = "/folder/inbox"
        if not ids:
            return RedirectResponse(back + ("&" if "?" in back else "?") + "msg=Select+at+least+one+conversation+first.", status_code=303)
        with self.lock:
            targets = [m for m in self.state.messages if m.id in ids]
            note = ""
            if op in ("archive", "trash"):
                for m in targets:
                    m.folder = op
                note = f"{len(targets)} conversation(s) {'archived' if op == 'archive' else 'moved to Trash'}."
            elif op in ("read", "unread"):
                for m in targets:
                    m.read = op == "read"
                note = f"{len(targets)} conversation(s) marked as {op}."
            elif op == "apply":
                move, label = (form.get("move") or [""])[-1], (form.get("label") or [""])[-1]
                if move in ("inbox", "sent", "archive", "spam", "trash"):
                    for m in targets:
                        m.folder = move
                if label in self.state.labels:
                    for m in targets:
                        if label not in m.labels:
                            m.labels.append(label)
                note = "Choose a folder or a label first." if not (move or label) else f"Updated {len(targets)} conversation(s)."
        sep = "&" if "?" in back else "?"
        return RedirectResponse(back + sep + qs(msg=note)[1:], status_code=303)

    async def compose(self, request: Any) -> Response:
        form = await form_data(request) if request.method == "POST" else {}
        with self.lock:
            s = self.state
            errors: dict[str, str] = {}
            reply_id = form.get("in_reply_to") or request.query_params.get("reply", "")
            fwd_id = form.get("forwarded_from") or request.query_params.get("forward", "")
            if request.method == "GET":
                src = self.msg(reply_id or fwd_id)
                if src is not None and reply_id:
                    to = [src.from_addr] + ([a for a in src.to + src.cc if a != s.me.addr] if request.query_params.get("all") else [])
                    form = {"to": ", ".join(to), "subject": src.subject if src.subject.lower().startswith("re:") else "Re: " + src.subject,
                            "body": f"\n\nOn {src.date}, {src.from_name} <{src.from_addr}> wrote:\n" + "\n".join("> " + l for l in src.body.splitlines())}
                elif src is not None and fwd_id:
                    form = {"to": "", "subject": "Fwd: " + src.subject,
                            "body": f"\n\n---------- Forwarded message ----------\nFrom: {src.from_name} <{src.from_addr}>\nDate: {src.date}\nSubject: {src.subject}\n\n{src.body}"}
            else:
                op = form.get("op", "send")
                to = [a.strip() for a in re.split(r"[,;]", form.get("to", "")) if a.strip()]
                cc = [a.strip() for a in re.split(r"[,;]", form.get("cc", "")) if a.strip()]
                if op == "discard":
                    return RedirectResponse("/folder/inbox?msg=Draft+discarded.", status_code=303)
                if op == "send":
                    if not to:
                        errors["to"] = "Add at least one recipient."
                    bad = [a for a in to + cc if not EMAIL_RE.match(a)]
                    if bad:
                        errors["to" if any(a in to for a in bad) else "cc"] = f"“{bad[0]}” is not a valid email address."
                    if not form.get("subject", "").strip():
                        errors["subject"] = "Add a subject before sending."
                if not errors:
                    msg = Message(id=f"m{s.next_id}", folder="sent" if op == "send" else "drafts", from_name=s.me.name, from_addr=s.me.addr,
                                  to=to, cc=cc, subject=form.get("subject", "").strip(), body=form.get("body", ""),
                                  date="2024-05-31 10:00", in_reply_to=reply_id if self.msg(reply_id) else "",
                                  forwarded_from=fwd_id if self.msg(fwd_id) else "")
                    s.messages.append(msg)
                    s.next_id += 1
                    return RedirectResponse("/folder/inbox?msg=" + ("Message+sent." if op == "send" else "Draft+saved."), status_code=303)
            err = lambda k: (f'<div class="err" role="alert" id="{k}-error">{esc(errors[k])}</div>' if k in errors else "")  # noqa: E731
            inv = lambda k: (' aria-invalid="true"' if k in errors else "")  # noqa: E731
            contacts = "".join(f'<option value="{esc(c.addr)}">{esc(c.name)}</option>' for c in s.contacts)
            title = "Reply" if reply_id else "Forward" if fwd_id else "New message"
            body = f"""<div class="composebox"><h1 style="font-size:1.2rem;margin-top:0">{title}</h1>
{'<div class="alert alert-err" role="alert">Your message could not be sent. Fix the problems below.</div>' if errors else ''}
<form method="post" action="/compose" novalidate><input type="hidden" name="in_reply_to" value="{esc(reply_id)}"><input type="hidden" name="forwarded_from" value="{esc(fwd_id)}">
<div class="field"><label for="compose-to">To</label><input id="compose-to" name="to" type="text" list="contacts" value="{esc(form.get('to', ''))}" placeholder="name@example.com, …"{inv('to')}>{err('to')}</div>
<datalist id="contacts">{contacts}</datalist>
<div class="field"><label for="compose-cc">Cc</label><input id="compose-cc" name="cc" type="text" value="{esc(form.get('cc', ''))}"{inv('cc')}>{err('cc')}</div>
<div class="field"><label for="compose-subject">Subject</label><input id="compose-subject" name="subject" type="text" value="{esc(form.get('subject', ''))}"{inv('subject')}>{err('subject')}</div>
<div class="field"><label for="compose-body">Message</label><textarea id="compose-body" name="body">{esc(form.get('body', ''))}</textarea></div>
<div class="row"><button id="send" class="primary" name="op" value="send" type="submit">Send</button><button id="save-draft" name="op" value="draft" type="submit">Save draft</button>
<span class="grow"></span><button id="discard" name="op" value="discard" type="submit" class="danger">Discard</button></div></form></div>"""
            return self.page(title, body, "")

    async def labels_page(self, request: Any) -> Response:
        form = await form_data(request) if request.method == "POST" else {}
        error, note = "", ""
        with self.lock:
            s = self.state
            if request.method == "POST":
                if form.get("op") == "delete":
                    name = form.get("name", "")
                    if name in s.labels:
                        s.labels.remove(name)
                        for m in s.messages:
                            m.labels = [l for l in m.labels if l != name]
                        note = f"Label “{name}” deleted."
                else:
                    name = re.sub(r"\s+", " ", form.get("name", "")).strip()
                    if not name:
                        error = "Enter a label name."
                    elif len(name) > 30:
                        error = "Label names can be at most 30 characters."
                    elif name.lower() in (l.lower() for l in s.labels):
                        error = f"A label named “{name}” already exists."
                    else:
                        s.labels.append(name)
                        note = f"Label “{name}” created."
            rows = "".join(f'<tr><td>{esc(l)}</td><td>{sum(1 for m in s.messages if l in m.labels)} conversations</td>'
                           f'<td><form method="post" action="/settings/labels" onsubmit="return confirm(\'Delete the label {esc(l)}?\')"><input type="hidden" name="op" value="delete"><input type="hidden" name="name" value="{esc(l)}">'
                           f'<button id="delete-label-{slug(l)}" class="danger" type="submit">Delete</button></form></td></tr>' for l in s.labels)
            banner = f'<div class="alert alert-ok" role="status">{esc(note)}</div>' if note else ""
            body = f"""{banner}<div class="box" style="padding:16px 22px"><h1 style="font-size:1.2rem">Labels</h1><table aria-label="Labels"><tbody>{rows}</tbody></table>
<form method="post" action="/settings/labels" class="row" style="margin-top:16px;align-items:flex-start" novalidate><input type="hidden" name="op" value="create">
<div class="field grow" style="max-width:360px"><label for="new-label-name">New label name</label><input id="new-label-name" name="name" type="text" value="{esc(form.get('name', '') if error else '')}"{' aria-invalid="true"' if error else ''}>{f'<div class="err" role="alert">{esc(error)}</div>' if error else ''}</div>
<button id="create-label" class="primary" type="submit" style="margin-top:24px">Create label</button></form></div>"""
            return self.page("Labels", body, "")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
