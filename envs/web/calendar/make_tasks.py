"""Generate ``tasks.jsonl`` for the calendar: ``python -m envgym.envs.web.calendar.make_tasks``."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from envgym.envs.web.calendar.app import PEOPLE, CalendarApp, label_time, occurrences
from envgym.envs.web.taskgen import make_task, write

ENV_ID = "envgym/WebCalendar-v0"


def open_event(e) -> list[str]:
    return [f'fill("search-input", "{e.title}")', 'click("search-button")', f'click("result-{e.id}")']


def pretty(date: str) -> str:
    return dt.date.fromisoformat(date).strftime("%A, %B %-d, %Y")


def build() -> list:
    tasks = []
    add = lambda *a, **k: tasks.append(make_task(ENV_ID, *a, **k, start_path="/month"))  # noqa: E731
    app = CalendarApp()
    new_titles = [("Lunch with Sara", "Personal", "Café Lumière"), ("Sprint planning", "Work", "Room 3C"),
                  ("Piano recital", "Family", "Town Hall"), ("Vendor demo", "Work", "Zoom"), ("Gym session", "Personal", "FitHub")]
    for seed in range(3):
        s = app.generate(seed)
        rng = random.Random(f"cal-tasks-{seed}")
        single = [e for e in s.events if e.recurrence == "none"]
        rng.shuffle(single)
        # --- questions
        e = single[0]
        add(f"cal-when-{seed}", f"What time does “{e.title}” start? Answer like 2:30 PM.",
            {"type": "answer", "expected": {"text": label_time(e.start)}}, open_event(e) + [f'answer("{label_time(e.start)}")'],
            answer=label_time(e.start), seed=seed)
        e = single[1]
        add(f"cal-where-{seed}", f"Where is “{e.title}” taking place?", {"type": "answer", "expected": {"text": e.location}},
            open_event(e) + [f'answer("{e.location}")'], answer=e.location, seed=seed)
        e = single[2]
        add(f"cal-date-{seed}", f"On which date is “{e.title}”? Answer with the day of the month in June 2024 (a number).",
            {"type": "answer", "expected": {"number": int(e.date[-2:])}}, open_event(e) + [f'answer("{int(e.date[-2:])}")'],
            answer=int(e.date[-2:]), seed=seed)
        day = dt.date(2024, 6, 12 + seed)
        count = sum(1 for x in s.events if day in occurrences(x))
        add(f"cal-count-{seed}", f"How many events are on your calendar on {day.strftime('%A, %B %-d')}? Answer with a number.",
            {"type": "answer", "expected": {"number": count}}, ['click("view-week")', f'answer("{count}")'], answer=count, seed=seed)
        # --- create
        title, cal, loc = new_titles[seed]
        date = f"2024-06-{18 + seed}"
        fields = {"title": title, "date": date, "start": "12:30", "end": "13:30", "calendar": cal, "location": loc}
        add(f"cal-create-{seed}", f"Create an event “{title}” on {pretty(date)} from 12:30 PM to 1:30 PM at {loc}, in the {cal} calendar.",
            {"type": "event_created", "fields": fields},
            ['click("create-event")', f'fill("event-title", "{title}")', f'fill("event-date", "{date}")', 'select("event-start", "12:30 PM")',
             'select("event-end", "1:30 PM")', f'select("event-calendar", "{cal}")', f'fill("event-location", "{loc}")', 'click("save-event")', 'answer("done")'],
            seed=seed)
        guests = PEOPLE[seed: seed + 2]
        title2 = new_titles[seed + 1][0]
        date2 = f"2024-06-{24 + seed}"
        add(f"cal-create-guests-{seed}", f"Schedule “{title2}” on {pretty(date2)}, 3:00–4:30 PM, and invite {guests[0]} and {guests[1]}.",
            {"type": "event_created", "fields": {"title": title2, "date": date2, "start": "15:00", "end": "16:30", "invitees": guests}},
            ['click("create-event")', f'fill("event-title", "{title2}")', f'fill("event-date", "{date2}")', 'select("event-start", "3:00 PM")',
             'select("event-end", "4:30 PM")', f'fill("event-invitees", "{guests[0]}, {guests[1]}")', 'click("save-event")', 'answer("done")'], seed=seed)
        rec = ["weekly", "daily", "monthly"][seed]
        n = [6, 5, 3][seed]
        title3 = ["Spanish lesson", "Morning run", "Rent reminder"][seed]
        date3 = f"2024-06-{10 + seed}"
        add(f"cal-recurring-{seed}", f"Add a {rec} repeating event “{title3}” starting {pretty(date3)} at 7:00 AM (until 8:00 AM), {n} occurrences in total.",
            {"type": "event_created", "fields": {"title": title3, "date": date3, "start": "07:00", "end": "08:00", "recurrence": rec, "count": n}},
            ['click("create-event")', f'fill("event-title", "{title3}")', f'fill("event-date", "{date3}")', 'select("event-start", "7:00 AM")',
             'select("event-end", "8:00 AM")', f'select("event-recurrence", "{rec.title()}")', f'fill("event-count", "{n}")', 'click("save-event")', 'answer("done")'],
            seed=seed)
        # --- edit
        e = single[3]
        new_start_i = (["09:00", "10:30", "16:00"][seed])
        h, m = map(int, new_start_i.split(":"))
        new_end = f"{h + 1:02d}:{m:02d}"
        add(f"cal-reschedule-{seed}", f"Move “{e.title}” to {label_time(new_start_i)}–{label_time(new_end)} on the same day.",
            {"type": "event_updated", "id": e.id, "changes": {"start": new_start_i, "end": new_end}},
            open_event(e) + ['click("edit-event")', f'select("event-start", "{label_time(new_start_i)}")', f'select("event-end", "{label_time(new_end)}")',
                             'click("save-event")', 'answer("done")'], seed=seed)
        e = single[4]
        nd = (dt.date.fromisoformat(e.date) + dt.timedelta(days=2)).isoformat()
        add(f"cal-move-day-{seed}", f"Postpone “{e.title}” by two days (same time), to {pretty(nd)}.",
            {"type": "event_updated", "id": e.id, "changes": {"date": nd}},
            open_event(e) + ['click("edit-event")', f'fill("event-date", "{nd}")', 'click("save-event")', 'answer("done")'], seed=seed)
        e = next(x for x in single[5:] if x.calendar == "Work")
        guest = next(p for p in PEOPLE if p not in e.invitees)
        add(f"cal-invite-{seed}", f"Add {guest} as a guest to “{e.title}” (keep the existing guests).",
            {"type": "event_updated", "id": e.id, "changes": {"invitees": e.invitees + [guest]}},
            open_event(e) + ['click("edit-event")', f'fill("event-invitees", "{", ".join(e.invitees + [guest])}")', 'click("save-event")', 'answer("done")'], seed=seed)
        e = single[6]
        newloc = ["Room 5A", "Online (Teams)", "Café Central"][seed]
        add(f"cal-location-{seed}", f"Change the location of “{e.title}” to {newloc}.",
            {"type": "event_updated", "id": e.id, "changes": {"location": newloc}},
            open_event(e) + ['click("edit-event")', f'fill("event-location", "{newloc}")', 'click("save-event")', 'answer("done")'], seed=seed)
        # --- delete (modal dialog)
        e = single[7]
        add(f"cal-delete-{seed}", f"Delete the event “{e.title}” from your calendar.", {"type": "event_deleted", "id": e.id},
            open_event(e) + ['click("delete-event")', 'click("confirm-delete-button")', 'answer("done")'], seed=seed)
        # --- navigate to next month and create there (longer)
        add(f"cal-july-{seed}", f"Open July 2024 in the month view, then create “Summer picnic” on July {5 + seed}, 2024 from 11:00 AM to 2:00 PM in the Family calendar at Lakeside Park.",
            {"type": "event_created", "fields": {"title": "Summer picnic", "date": f"2024-07-{5 + seed:02d}", "start": "11:00", "end": "14:00",
                                                 "calendar": "Family", "location": "Lakeside Park"}},
            ['click("next")', 'click("create-event")', 'fill("event-title", "Summer picnic")', f'fill("event-date", "2024-07-{5 + seed:02d}")',
             'select("event-start", "11:00 AM")', 'select("event-end", "2:00 PM")', 'select("event-calendar", "Family")',
             'fill("event-location", "Lakeside Park")', 'click("save-event")', 'answer("done")'], seed=seed)
    return tasks


if __name__ == "__main__":
    write(build(), Path(__file__).with_name("tasks.jsonl"))
