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
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, form_data, form_lists, qs

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

class MailApp(WebApp):
    name = "mail"
    State = MailState
    template_globals = {"folders": FOLDERS, "slug": lambda text: slug(text)}

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

    def page(self, template: str, title: str, active: str = "", q: str = "", **context: Any) -> Response:
        """``template`` in the mail layout (folders with unread counts, labels, search bar)."""
        counts = {key: 0 for key, _ in FOLDERS}
        for m in self.state.messages:
            if m.folder in ("inbox", "spam") and not m.read:
                counts[m.folder] += 1
            elif m.folder == "drafts":
                counts["drafts"] += 1
        return self.render(template, title=title, active=active, q=q, folder_counts=counts, **context)

    def not_found(self, heading: str, back_id: str = "") -> Response:
        return self.page("not_found.html", "Not found", heading=heading, back_id=back_id)

    def routes(self) -> list[Any]:
        return [Route("/", lambda r: RedirectResponse("/folder/inbox", status_code=303)),
                Route("/folder/{folder}", self.folder_page), Route("/label/{label:path}", self.label_page),
                Route("/search", self.search_page), Route("/message/{mid}", self.message_page),
                Route("/message/{mid}/action", self.message_action, methods=["POST"]),
                Route("/bulk", self.bulk, methods=["POST"]),
                Route("/compose", self.compose, methods=["GET", "POST"]),
                Route("/settings/labels", self.labels_page, methods=["GET", "POST"])]

    def listing(self, title: str, items: list[Message], active: str, request: Any, q: str = "") -> Response:
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        items = sorted(items, key=lambda m: (m.date, m.id), reverse=True)
        pages = max(1, -(-len(items) // PAGE_SIZE))
        page = min(page, pages)
        back = str(request.url.path) + ("?" + request.url.query if request.url.query else "")
        return self.page("listing.html", title, active, q, heading=title, back=back, total=len(items),
                         shown=items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page=page, pages=pages,
                         path=request.url.path, params={"q": q} if q else {}, msg=request.query_params.get("msg", ""),
                         move_to=[(k, v) for k, v in FOLDERS if k not in ("starred", "drafts")])

    async def folder_page(self, request: Any) -> Response:
        folder = request.path_params["folder"]
        with self.lock:
            if folder == "starred":
                items = [m for m in self.state.messages if m.starred and m.folder != "trash"]
            elif folder in dict(FOLDERS):
                items = [m for m in self.state.messages if m.folder == folder]
            else:
                return self.not_found("Folder not found")
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
                return self.not_found("Message not found", "back-inbox")
            m.read = True if not request.query_params.get("keep_unread") else m.read
            return self.page("message.html", m.subject, m.folder, m=m, msg=request.query_params.get("msg", ""))

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
                m.labels = [existing for existing in m.labels if existing != label] if label in m.labels else m.labels + [label]
                return RedirectResponse(f"/message/{m.id}{qs(msg=f'Label “{label}” ' + ('added.' if label in m.labels else 'removed.'))}", status_code=303)
            return RedirectResponse(f"/message/{m.id}", status_code=303)

    async def bulk(self, request: Any) -> Response:
        form = await form_lists(request)
        ids = set(form.get("ids", []))
        op = (form.get("op") or [""])[-1]
        back = (form.get("back") or ["/folder/inbox"])[-1]
        if not back.startswith("/") or back.startswith("//") or "\\" in back:
            back = "/folder/inbox"  # only a path of this app: never a redirect elsewhere
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
                            "body": f"\n\nOn {src.date}, {src.from_name} <{src.from_addr}> wrote:\n" + "\n".join("> " + body_line for body_line in src.body.splitlines())}
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
            title = "Reply" if reply_id else "Forward" if fwd_id else "New message"
            return self.page("compose.html", title, heading=title, form=form, errors=errors, reply_id=reply_id,
                             fwd_id=fwd_id)

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
                            m.labels = [existing for existing in m.labels if existing != name]
                        note = f"Label “{name}” deleted."
                else:
                    name = re.sub(r"\s+", " ", form.get("name", "")).strip()
                    if not name:
                        error = "Enter a label name."
                    elif len(name) > 30:
                        error = "Label names can be at most 30 characters."
                    elif name.lower() in (label.lower() for label in s.labels):
                        error = f"A label named “{name}” already exists."
                    else:
                        s.labels.append(name)
                        note = f"Label “{name}” created."
            counts = {label: sum(1 for m in s.messages if label in m.labels) for label in s.labels}
            return self.page("labels.html", "Labels", note=note, error=error, form=form, label_counts=counts)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
