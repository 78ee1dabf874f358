"""Daybook: a mock calendar (month and week views, event details, create/edit/delete, invitees,
recurring events, search).

State (:class:`CalendarState`): the owner, their calendars and events.  A recurring event is one
record with ``recurrence`` (daily/weekly/monthly) and ``count`` occurrences; views expand it.
"""

from __future__ import annotations

import calendar as pycal
import datetime as dt
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, document, esc, field, form_data, options, qs

TODAY = dt.date(2024, 6, 12)
CALENDARS = {"Work": "#1a73e8", "Personal": "#0b8043", "Family": "#e67c73"}
SLOTS = [f"{h:02d}:{m:02d}" for h in range(6, 23) for m in (0, 30)]
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[a-z]{2,}$", re.I)
REPEAT = [("none", "Does not repeat"), ("daily", "Daily"), ("weekly", "Weekly"), ("monthly", "Monthly")]


class Event(BaseModel):
    id: str
    title: str
    date: str
    start: str
    end: str
    calendar: Literal["Work", "Personal", "Family"] = "Work"
    location: str = ""
    description: str = ""
    invitees: list[str] = Field(default_factory=list)
    recurrence: Literal["none", "daily", "weekly", "monthly"] = "none"
    count: int = 1


class CalendarState(BaseModel):
    seed: int = 0
    owner: str
    events: list[Event]
    next_id: int = 1


def occurrences(e: Event) -> list[dt.date]:
    """Dates of an event: ``count`` repetitions from ``date`` stepping 1 day / 7 days / 1 month."""
    first = dt.date.fromisoformat(e.date)
    if e.recurrence == "none":
        return [first]
    out = []
    for i in range(max(1, e.count)):
        if e.recurrence == "daily":
            out.append(first + dt.timedelta(days=i))
        elif e.recurrence == "weekly":
            out.append(first + dt.timedelta(weeks=i))
        else:
            month = first.month - 1 + i
            year = first.year + month // 12
            day = min(first.day, pycal.monthrange(year, month % 12 + 1)[1])
            out.append(dt.date(year, month % 12 + 1, day))
    return out


def label_time(hhmm: str) -> str:
    h, m = map(int, hhmm.split(":"))
    return f"{(h - 1) % 12 + 1}:{m:02d} {'AM' if h < 12 else 'PM'}"


TITLES = [("Team standup", "Work", "Zoom"), ("1:1 with manager", "Work", "Room 4B"), ("Dentist appointment", "Personal", "Bright Smile Dental"),
          ("Product review", "Work", "Main conference room"), ("Yoga class", "Personal", "Lotus Studio"), ("Budget planning", "Work", "Room 2A"),
          ("Parent-teacher meeting", "Family", "Oak Hill School"), ("Client call: Fabrikam", "Work", "Phone"), ("Birthday dinner for Mia", "Family", "Trattoria Roma"),
          ("Car service", "Personal", "QuickLube on 3rd"), ("Design sprint", "Work", "Studio"), ("Book club", "Personal", "City Library"),
          ("Soccer practice", "Family", "Riverside Park"), ("Quarterly all-hands", "Work", "Auditorium"), ("Haircut", "Personal", "Studio Nine")]
PEOPLE = ["priya.raman@northwind.io", "marcus.webb@northwind.io", "grace.liu@fabrikam.com", "tom.okafor@gmail.com",
          "elena@sokolova.design", "diego.alvarez@contoso.com"]

CSS = """
:root{--accent:#1a73e8;--bg:#fff}
.top{display:flex;align-items:center;gap:12px;padding:10px 18px;border-bottom:1px solid #e0e0e0}
.logo{font-size:1.3rem;font-weight:600;color:#3c4043;display:flex;gap:8px;align-items:center}.logo .ic{background:#1a73e8;color:#fff;border-radius:6px;padding:2px 7px;font-size:.9rem}
.top h1{font-size:1.3rem;font-weight:400;margin:0 10px}.seg a{border:1px solid #dadce0;padding:6px 14px;color:#3c4043}.seg a.on{background:#e8f0fe;color:#1967d2;font-weight:600}
.seg a:first-child{border-radius:6px 0 0 6px}.seg a:last-child{border-radius:0 6px 6px 0}
.layout{display:grid;grid-template-columns:240px minmax(0,1fr)}.side{padding:16px}.create{display:inline-block;border-radius:24px;box-shadow:0 1px 3px rgba(0,0,0,.3);padding:12px 22px;color:#3c4043;font-weight:600;background:#fff}
.cals div{display:flex;gap:8px;align-items:center;margin:6px 0}.sw{width:12px;height:12px;border-radius:3px;display:inline-block}
.month{display:grid;grid-template-columns:repeat(7,minmax(0,1fr));border-left:1px solid #e0e0e0}.month .hd{font-size:.75rem;color:#70757a;text-align:center;padding:6px;border-right:1px solid #e0e0e0;border-bottom:1px solid #e0e0e0}
.day{min-height:112px;border-right:1px solid #e0e0e0;border-bottom:1px solid #e0e0e0;padding:4px;font-size:.8rem}.day.other{background:#fafafa;color:#9aa0a6}
.day .n{display:inline-block;width:24px;height:24px;text-align:center;line-height:24px;border-radius:50%}.day.today .n{background:#1a73e8;color:#fff}
.ev{display:block;border-radius:4px;padding:1px 5px;margin:2px 0;color:#fff;font-size:.76rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.week{display:grid;grid-template-columns:repeat(7,minmax(0,1fr));gap:0;border-left:1px solid #e0e0e0}.week .col{border-right:1px solid #e0e0e0;min-height:420px;padding:6px}
.week .col h3{font-size:.85rem;font-weight:500;color:#70757a;margin:0 0 6px;text-align:center}.week .ev{white-space:normal;padding:4px 6px}
.detail{max-width:640px;margin:24px auto}.detail h1{font-weight:400}.kv{display:grid;grid-template-columns:120px 1fr;gap:6px 12px}
.formbox{max-width:700px;margin:20px auto}.three{display:grid;grid-template-columns:1.4fr 1fr 1fr;gap:12px}
"""


class CalendarApp(WebApp):
    name = "calendar"
    State = CalendarState

    def generate(self, seed: int) -> CalendarState:
        rng = random.Random(f"calendar-{seed}")
        events = []
        n = 1
        titles = list(TITLES)
        rng.shuffle(titles)
        for title, cal, loc in titles:
            day = dt.date(2024, 6, rng.randint(3, 28))
            if day.weekday() >= 5 and cal == "Work":
                day -= dt.timedelta(days=2)
            start = rng.choice(SLOTS[4:24])
            dur = rng.choice([1, 2, 2, 3])
            end = SLOTS[min(len(SLOTS) - 1, SLOTS.index(start) + dur)]
            rec, count = ("weekly", rng.randint(4, 8)) if title in ("Team standup", "Yoga class", "Soccer practice") else ("none", 1)
            if title == "Team standup":
                rec, count, day = "daily", 10, dt.date(2024, 6, 3)
            invitees = rng.sample(PEOPLE, rng.randint(0, 3)) if cal == "Work" else []
            events.append(Event(id=f"e{n}", title=title, date=day.isoformat(), start=start, end=end, calendar=cal, location=loc,
                                invitees=invitees, recurrence=rec, count=count,
                                description=rng.choice(["", "Agenda in the shared doc.", "Bring laptop.", "Confirm a day before."])))
            n += 1
        return CalendarState(seed=seed, owner="you@daybook.app", events=events, next_id=n)

    def event(self, eid: str) -> Event | None:
        return next((e for e in self.state.events if e.id == eid), None)

    def on_day(self, day: dt.date) -> list[Event]:
        return sorted((e for e in self.state.events if day in occurrences(e)), key=lambda e: (e.start, e.id))

    def page(self, title: str, heading: str, body: str, view: str = "", nav: str = "", script: str = "") -> HTMLResponse:
        cals = "".join(f'<div><span class="sw" style="background:{c}"></span>{k}</div>' for k, c in CALENDARS.items())
        d = TODAY.isoformat()
        top = (f'<header class="top"><a class="logo" id="home" href="/"><span class="ic">31</span>Daybook</a>'
               f'<a class="btn" id="today" href="/{view or "month"}{qs(date=d)}">Today</a>{nav}<h1 id="period">{esc(heading)}</h1><span class="grow"></span>'
               f'<form role="search" action="/search" class="row"><input id="search-input" type="search" name="q" placeholder="Search events" aria-label="Search events" style="width:220px">'
               f'<button id="search-button" type="submit">Search</button></form>'
               f'<nav class="seg" aria-label="View"><a id="view-month" class="{"on" if view == "month" else ""}" href="/month">Month</a><a id="view-week" class="{"on" if view == "week" else ""}" href="/week">Week</a></nav></header>')
        side = f'<aside class="side"><a class="create" id="create-event" href="/event/new">+ Create</a><h4>My calendars</h4><div class="cals">{cals}</div></aside>'
        return HTMLResponse(document(f"{title} - Daybook", top + f'<div class="layout">{side}<main>{body}</main></div>', CSS, script))

    def chip(self, e: Event, day: dt.date) -> str:
        return (f'<a class="ev" id="ev-{e.id}-{day.isoformat()}" href="/event/{e.id}{qs(date=day.isoformat())}" style="background:{CALENDARS[e.calendar]}">'
                f'{label_time(e.start)} {esc(e.title)}</a>')

    def routes(self) -> list[Any]:
        return [Route("/", lambda r: RedirectResponse("/month", status_code=303)), Route("/month", self.month),
                Route("/week", self.week), Route("/search", self.search),
                Route("/event/new", self.edit, methods=["GET", "POST"]), Route("/event/{eid}", self.detail),
                Route("/event/{eid}/edit", self.edit, methods=["GET", "POST"]),
                Route("/event/{eid}/delete", self.delete, methods=["POST"])]

    @staticmethod
    def _date(request: Any) -> dt.date:
        try:
            return dt.date.fromisoformat(request.query_params.get("date", ""))
        except ValueError:
            return TODAY

    async def month(self, request: Any) -> Response:
        ref = self._date(request)
        with self.lock:
            first = ref.replace(day=1)
            start = first - dt.timedelta(days=(first.weekday() + 1) % 7)
            cells = ['<div class="hd">' + d + "</div>" for d in ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")]
            for i in range(42):
                day = start + dt.timedelta(days=i)
                if i >= 35 and day.month != ref.month:
                    break
                cls = "day" + (" other" if day.month != ref.month else "") + (" today" if day == TODAY else "")
                evs = "".join(self.chip(e, day) for e in self.on_day(day))
                cells.append(f'<div class="{cls}" aria-label="{day.strftime("%A, %B %-d")}"><span class="n">{day.day}</span>{evs}</div>')
            prev_m = (first - dt.timedelta(days=1)).replace(day=1)
            next_m = (first + dt.timedelta(days=32)).replace(day=1)
            nav = (f'<a class="btn" id="prev" href="/month{qs(date=prev_m.isoformat())}" aria-label="Previous month">‹</a>'
                   f'<a class="btn" id="next" href="/month{qs(date=next_m.isoformat())}" aria-label="Next month">›</a>')
            flash = request.query_params.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status" style="margin:10px">{esc(flash)}</div>' if flash else ""
            return self.page(ref.strftime("%B %Y"), ref.strftime("%B %Y"), banner + f'<div class="month" role="grid">{"".join(cells)}</div>', "month", nav)

    async def week(self, request: Any) -> Response:
        ref = self._date(request)
        with self.lock:
            start = ref - dt.timedelta(days=(ref.weekday() + 1) % 7)
            cols = []
            for i in range(7):
                day = start + dt.timedelta(days=i)
                evs = "".join(f'<a class="ev" id="ev-{e.id}-{day.isoformat()}" href="/event/{e.id}{qs(date=day.isoformat())}" style="background:{CALENDARS[e.calendar]}">'
                              f'<b>{esc(e.title)}</b><br>{label_time(e.start)} – {label_time(e.end)}{("<br>" + esc(e.location)) if e.location else ""}</a>' for e in self.on_day(day))
                cols.append(f'<section class="col" aria-label="{day.strftime("%A %B %-d")}"><h3>{day.strftime("%a %-d")}</h3>{evs}'
                            f'<a class="small" id="add-{day.isoformat()}" href="/event/new{qs(date=day.isoformat())}">+ Add</a></section>')
            nav = (f'<a class="btn" id="prev" href="/week{qs(date=(start - dt.timedelta(days=7)).isoformat())}" aria-label="Previous week">‹</a>'
                   f'<a class="btn" id="next" href="/week{qs(date=(start + dt.timedelta(days=7)).isoformat())}" aria-label="Next week">›</a>')
            end = start + dt.timedelta(days=6)
            heading = f"{start.strftime('%b %-d')} – {end.strftime('%b %-d, %Y')}"
            return self.page(heading, heading, f'<div class="week">{"".join(cols)}</div>', "week", nav)

    async def search(self, request: Any) -> Response:
        q = request.query_params.get("q", "").strip()
        with self.lock:
            words = q.lower().split()
            hits = [e for e in self.state.events if words and all(w in f"{e.title} {e.location} {e.description}".lower() for w in words)]
            rows = "".join(f'<tr><td><a id="result-{e.id}" href="/event/{e.id}">{esc(e.title)}</a></td><td>{e.date}</td><td>{label_time(e.start)} – {label_time(e.end)}</td>'
                           f'<td>{esc(e.location)}</td><td>{dict(REPEAT)[e.recurrence]}</td></tr>' for e in sorted(hits, key=lambda e: (e.date, e.start)))
            body = (f'<div style="padding:16px"><h2>Results for “{esc(q)}”</h2>' +
                    (f'<table aria-label="Events"><thead><tr><th>Event</th><th>Date</th><th>Time</th><th>Where</th><th>Repeats</th></tr></thead><tbody>{rows}</tbody></table>'
                     if rows else '<p class="muted">No events found.</p>') + "</div>")
            return self.page("Search", "Search", body)

    async def detail(self, request: Any) -> Response:
        with self.lock:
            e = self.event(request.path_params["eid"])
            if e is None:
                return self.page("Not found", "Not found", '<div class="detail"><h1>Event not found</h1><a id="back" href="/month">Back to calendar</a></div>')
            day = request.query_params.get("date", e.date)
            invitees = "".join(f"<li>{esc(a)}</li>" for a in e.invitees) or "<li class='muted'>No guests</li>"
            rep = dict(REPEAT)[e.recurrence] + (f", {e.count} times" if e.recurrence != "none" else "")
            flash = request.query_params.get("msg", "")
            banner = f'<div class="alert alert-ok" role="status">{esc(flash)}</div>' if flash else ""
            body = f"""<div class="detail">{banner}<div class="row"><a class="btn" id="back" href="/month{qs(date=day)}">← Back</a><span class="grow"></span>
<a class="btn" id="edit-event" href="/event/{e.id}/edit">Edit</a><button id="delete-event" class="danger" type="button" onclick="document.getElementById('confirm-delete').showModal()">Delete</button></div>
<h1><span class="sw" style="background:{CALENDARS[e.calendar]}"></span> {esc(e.title)}</h1>
<div class="kv"><b>When</b><span id="event-when">{dt.date.fromisoformat(day).strftime('%A, %B %-d, %Y')} · {label_time(e.start)} – {label_time(e.end)}</span>
<b>Repeats</b><span>{rep}</span><b>Calendar</b><span>{e.calendar}</span><b>Location</b><span id="event-location">{esc(e.location) or '—'}</span>
<b>Guests</b><ul style="margin:0;padding-left:18px" id="event-guests">{invitees}</ul><b>Notes</b><span>{esc(e.description) or '—'}</span></div>
<dialog id="confirm-delete" aria-modal="true" aria-labelledby="confirm-title"><form method="post" action="/event/{e.id}/delete"><div class="dlg-body"><h2 id="confirm-title" style="margin-top:0">Delete event?</h2>
<p>“{esc(e.title)}”{' and all its repetitions' if e.recurrence != 'none' else ''} will be removed from your calendar.</p></div>
<div class="dlg-actions"><button id="cancel-delete" type="button" onclick="this.closest('dialog').close()">Cancel</button><button id="confirm-delete-button" class="primary" type="submit">Delete</button></div></form></dialog></div>"""
            return self.page(e.title, "Event", body)

    async def delete(self, request: Any) -> Response:
        with self.lock:
            e = self.event(request.path_params["eid"])
            if e is not None:
                self.state.events.remove(e)
                return RedirectResponse(f"/month{qs(date=e.date, msg=f'Deleted “{e.title}”.')}", status_code=303)
        return RedirectResponse("/month", status_code=303)

    async def edit(self, request: Any) -> Response:
        eid = request.path_params.get("eid")
        form = await form_data(request) if request.method == "POST" else {}
        with self.lock:
            e = self.event(eid) if eid else None
            if eid and e is None:
                return RedirectResponse("/month", status_code=303)
            errors: dict[str, str] = {}
            if request.method == "POST":
                data, errors = self.validate(form)
                if not errors:
                    if e is None:
                        e = Event(id=f"e{self.state.next_id}", **data)
                        self.state.events.append(e)
                        self.state.next_id += 1
                        note = f"Created “{e.title}”."
                    else:
                        for k, v in data.items():
                            setattr(e, k, v)
                        note = "Event updated."
                    return RedirectResponse(f"/event/{e.id}{qs(msg=note)}", status_code=303)
            elif e is not None:
                form = {"title": e.title, "date": e.date, "start": e.start, "end": e.end, "calendar": e.calendar, "location": e.location,
                        "description": e.description, "invitees": ", ".join(e.invitees), "recurrence": e.recurrence, "count": str(e.count)}
            else:
                form = {"date": request.query_params.get("date", TODAY.isoformat()), "start": "09:00", "end": "10:00", "calendar": "Work",
                        "recurrence": "none", "count": "1"}
            err = lambda k: errors.get(k, "")  # noqa: E731
            slot_opts = lambda sel: options([(s, label_time(s)) for s in SLOTS], sel)  # noqa: E731
            sel = lambda k, label, opts: (f'<div class="field{" has-error" if err(k) else ""}"><label for="event-{k}">{label}</label><select id="event-{k}" name="{k}"'  # noqa: E731
                                          f'{" aria-invalid=true" if err(k) else ""}>{opts}</select>' + (f'<div class="err" role="alert">{esc(err(k))}</div>' if err(k) else "") + "</div>")
            body = f"""<div class="formbox card"><h2 style="margin-top:0">{'Edit event' if e else 'New event'}</h2>
{'<div class="alert alert-err" role="alert">Please fix the errors below.</div>' if errors else ''}
<form method="post" novalidate>{field("event-title", "Title", form.get("title", ""), name="title", error=err("title"), placeholder="Add title")}
<div class="three">{field("event-date", "Date", form.get("date", ""), name="date", type="date", error=err("date"))}{sel("start", "Starts", slot_opts(form.get("start")))}{sel("end", "Ends", slot_opts(form.get("end")))}</div>
<div class="three">{sel("recurrence", "Repeat", options(REPEAT, form.get("recurrence")))}{field("event-count", "Occurrences", form.get("count", "1"), name="count", type="number", error=err("count"), extra='min="1" max="52"', hint="How many times in total (for repeating events)")}
{sel("calendar", "Calendar", options(list(CALENDARS), form.get("calendar")))}</div>
{field("event-location", "Location", form.get("location", ""), name="location")}
{field("event-invitees", "Guests", form.get("invitees", ""), name="invitees", error=err("invitees"), placeholder="Email addresses, separated by commas")}
<div class="field"><label for="event-description">Description</label><textarea id="event-description" name="description" rows="3">{esc(form.get("description", ""))}</textarea></div>
<div class="row"><button id="save-event" class="primary" type="submit">Save</button><a class="btn" id="cancel-edit" href="{f'/event/{e.id}' if e else '/month'}">Cancel</a></div></form></div>"""
            return self.page("Edit event" if e else "New event", "Edit event" if e else "New event", body)

    @staticmethod
    def validate(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        errors = {}
        title = form.get("title", "").strip()
        if not title:
            errors["title"] = "Add a title."
        try:
            date = dt.date.fromisoformat(form.get("date", "")).isoformat()
        except ValueError:
            date, errors["date"] = "", "Enter a valid date."
        start, end = form.get("start", ""), form.get("end", "")
        if start not in SLOTS:
            errors["start"] = "Choose a start time."
        if end not in SLOTS:
            errors["end"] = "Choose an end time."
        elif start in SLOTS and end <= start:
            errors["end"] = "The event must end after it starts."
        invitees = [a.strip() for a in re.split(r"[,;]", form.get("invitees", "")) if a.strip()]
        bad = [a for a in invitees if not EMAIL_RE.match(a)]
        if bad:
            errors["invitees"] = f"“{bad[0]}” is not a valid email address."
        rec = form.get("recurrence", "none")
        rec = rec if rec in dict(REPEAT) else "none"
        try:
            count = int(form.get("count", "1") or "1")
        except ValueError:
            count, errors["count"] = 1, "Enter a whole number."
        if rec != "none" and not 2 <= count <= 52:
            errors["count"] = "A repeating event needs between 2 and 52 occurrences."
        cal = form.get("calendar", "Work")
        data = {"title": title, "date": date, "start": start, "end": end, "calendar": cal if cal in CALENDARS else "Work",
                "location": form.get("location", "").strip(), "description": form.get("description", "").strip(),
                "invitees": invitees, "recurrence": rec, "count": count if rec != "none" else 1}
        return data, errors
