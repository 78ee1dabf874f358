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
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from envgym.envs.web.framework import WebApp, form_data, qs

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

class CalendarApp(WebApp):
    name = "calendar"
    State = CalendarState
    template_globals = {"calendars": CALENDARS, "repeat": dict(REPEAT), "today": TODAY, "label_time": label_time,
                        "slot_choices": [(slot, label_time(slot)) for slot in SLOTS]}

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

    def page(self, template: str, title: str, heading: str, view: str = "", **context: Any) -> Response:
        """``template`` in the calendar layout (header with period, search and view switch; calendars)."""
        return self.render(template, title=title, heading=heading, view=view, **context)

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
            days = []
            for i in range(42):
                day = start + dt.timedelta(days=i)
                if i >= 35 and day.month != ref.month:
                    break
                days.append((day, self.on_day(day)))
            prev_m = (first - dt.timedelta(days=1)).replace(day=1)
            next_m = (first + dt.timedelta(days=32)).replace(day=1)
            return self.page("month.html", ref.strftime("%B %Y"), ref.strftime("%B %Y"), "month", ref=ref, days=days,
                             prev=prev_m, next=next_m, msg=request.query_params.get("msg", ""))

    async def week(self, request: Any) -> Response:
        ref = self._date(request)
        with self.lock:
            start = ref - dt.timedelta(days=(ref.weekday() + 1) % 7)
            days = [(start + dt.timedelta(days=i), self.on_day(start + dt.timedelta(days=i))) for i in range(7)]
            end = start + dt.timedelta(days=6)
            heading = f"{start.strftime('%b %-d')} – {end.strftime('%b %-d, %Y')}"
            return self.page("week.html", heading, heading, "week", days=days, prev=start - dt.timedelta(days=7),
                             next=start + dt.timedelta(days=7))

    async def search(self, request: Any) -> Response:
        q = request.query_params.get("q", "").strip()
        with self.lock:
            words = q.lower().split()
            hits = [e for e in self.state.events if words and all(w in f"{e.title} {e.location} {e.description}".lower() for w in words)]
            return self.page("search.html", "Search", "Search", q=q, hits=sorted(hits, key=lambda e: (e.date, e.start)))

    async def detail(self, request: Any) -> Response:
        with self.lock:
            e = self.event(request.path_params["eid"])
            if e is None:
                return self.page("not_found.html", "Not found", "Not found")
            day = request.query_params.get("date", e.date)
            try:
                when = dt.date.fromisoformat(day)
            except ValueError:
                day, when = e.date, dt.date.fromisoformat(e.date)
            return self.page("detail.html", e.title, "Event", e=e, day=day, when=when.strftime("%A, %B %-d, %Y"),
                             msg=request.query_params.get("msg", ""))

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
            heading = "Edit event" if e else "New event"
            return self.page("edit.html", heading, heading, e=e, form=form, errors=errors)

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
