"""Generate ``tasks.jsonl`` for the mail client: ``python -m envgym.envs.web.mail.make_tasks``."""

from __future__ import annotations

import random
import re
from pathlib import Path

from envgym.envs.web.mail.app import MailApp, slug
from envgym.envs.web.taskgen import make_task, write

ENV_ID = "envgym/WebMail-v0"


def find(m) -> list[str]:
    """Search by sender address and subject (unique by construction) and open the message."""
    return [f'fill("search-input", "{m.from_addr} {m.subject}")', 'click("search-button")', f'click("open-{m.id}")']


def build() -> list:
    tasks = []
    add = lambda *a, **k: tasks.append(make_task(ENV_ID, *a, **k, start_path="/folder/inbox"))  # noqa: E731
    app = MailApp()
    for seed in range(3):
        s = app.generate(seed)
        rng = random.Random(f"mail-tasks-{seed}")
        inbox = [m for m in s.messages if m.folder == "inbox"]
        people = [m for m in inbox if m.from_name in {c.name for c in s.contacts[:10]}]
        services = [m for m in inbox if m.from_name not in {c.name for c in s.contacts[:10]}]
        rng.shuffle(people)
        rng.shuffle(services)
        # answers read from a message body
        svc = services[0]
        token = re.search(r"(INV-\d+|reference \w+|web-\d+|due back on \w+)", svc.body).group(1)
        value = token.split()[-1]
        add(f"mail-fact-{seed}", f"Open the email “{svc.subject}” from {svc.from_name} and tell me the key detail: "
            f"{'the booking reference' if 'reference' in token else 'the server name' if 'web-' in token else 'the due day' if 'due' in token else 'the invoice number'}.",
            {"type": "answer", "expected": {"text": value}}, find(svc) + [f'answer("{value}")'], answer=value, seed=seed)
        unread = sum(1 for m in s.messages if m.folder == "inbox" and not m.read)
        add(f"mail-unread-count-{seed}", "How many unread conversations are in your inbox? Answer with a number.",
            {"type": "answer", "expected": {"number": unread}}, [f'answer("{unread}")'], answer=unread, seed=seed)
        p = people[0]
        first_line = p.body.splitlines()[2]
        add(f"mail-who-{seed}", f"Who sent the email with the subject “{p.subject}” that says: “{first_line[:60]}…”? Answer with the sender's full name.",
            {"type": "answer", "expected": {"text": p.from_name}}, find(p) + [f'answer("{p.from_name}")'], answer=p.from_name, seed=seed)
        # compose
        c = s.contacts[(seed * 3 + 1) % 10]
        subj = ["Project kickoff", "Lunch next week", "Updated timeline"][seed]
        body = ["Kickoff is moved to Thursday at 10am.", "Are you free for lunch on Wednesday?", "The new deadline is June 28."][seed]
        add(f"mail-send-{seed}", f"Send an email to {c.name} ({c.addr}) with the subject “{subj}” and the message: {body}",
            {"type": "sent", "to": [c.addr], "subject": subj, "body_contains": [body]},
            ['click("compose-button")', f'fill("compose-to", "{c.addr}")', f'fill("compose-subject", "{subj}")',
             f'fill("compose-body", "{body}")', 'click("send")', 'answer("done")'], seed=seed)
        c2 = s.contacts[(seed * 3 + 2) % 10]
        add(f"mail-send-cc-{seed}", f"Email {c.addr} with subject “Status update”, copying {c2.addr} (Cc), saying: All tasks are on track.",
            {"type": "sent", "to": [c.addr], "cc": [c2.addr], "subject": "Status update", "body_contains": ["All tasks are on track."]},
            ['click("compose-button")', f'fill("compose-to", "{c.addr}")', f'fill("compose-cc", "{c2.addr}")', 'fill("compose-subject", "Status update")',
             'fill("compose-body", "All tasks are on track.")', 'click("send")', 'answer("done")'], seed=seed)
        # reply / forward
        r = people[1]
        reply = ["Thanks, that works for me.", "Sounds good, see you then.", "I will review it today."][seed]
        add(f"mail-reply-{seed}", f"Reply to {r.from_name}'s email “{r.subject}” with: {reply}",
            {"type": "sent", "to": [r.from_addr], "subject": "Re: " + r.subject, "body_contains": [reply], "in_reply_to": r.id},
            find(r) + ['click("reply")', f'fill("compose-body", "{reply}")', 'click("send")', 'answer("done")'], seed=seed)
        f = services[1]
        fwd_to = s.contacts[(seed + 5) % 10]
        add(f"mail-forward-{seed}", f"Forward the email “{f.subject}” from {f.from_name} to {fwd_to.name} at {fwd_to.addr}.",
            {"type": "sent", "to": [fwd_to.addr], "subject": "Fwd: " + f.subject, "body_contains": [f.body.splitlines()[0]], "forwarded_from": f.id},
            find(f) + ['click("forward")', f'fill("compose-to", "{fwd_to.addr}")', 'click("send")', 'answer("done")'], seed=seed)
        # folder moves
        a = people[2]
        add(f"mail-archive-{seed}", f"Archive the email “{a.subject}” from {a.from_name}.", {"type": "folder", "ids": [a.id], "folder": "archive"},
            find(a) + ['click("archive")', 'answer("done")'], seed=seed)
        d = services[2] if len(services) > 2 else people[5]
        add(f"mail-delete-{seed}", f"Delete the email “{d.subject}” from {d.from_name}.", {"type": "folder", "ids": [d.id], "folder": "trash"},
            find(d) + ['click("delete")', 'answer("done")'], seed=seed)
        # labels / star / unread
        lab = [label for label in ["Travel", "Personal", "Finance", "Work"] if label not in people[3].labels][0]
        add(f"mail-label-{seed}", f"Add the label “{lab}” to the email “{people[3].subject}” from {people[3].from_name}.",
            {"type": "label", "id": people[3].id, "label": lab},
            find(people[3]) + ['click("labels-menu-button")', f'click("toggle-label-{slug(lab)}")', 'answer("done")'], seed=seed)
        st = next(m for m in people[4:] if not m.starred)
        add(f"mail-star-{seed}", f"Star the email “{st.subject}” from {st.from_name}.", {"type": "star", "id": st.id},
            find(st) + ['click("star")', 'answer("done")'], seed=seed)
        ur = next(m for m in people[5:] + services if m.read)
        add(f"mail-unread-{seed}", f"Mark the email “{ur.subject}” from {ur.from_name} as unread.", {"type": "unread", "id": ur.id},
            find(ur) + ['click("mark-unread")', 'answer("done")'], seed=seed)
        name = ["Receipts 2024", "Hiring", "Side projects"][seed]
        add(f"mail-create-label-{seed}", f"Create a new label called “{name}”.", {"type": "create_label", "name": name},
            ['click("manage-labels")', f'fill("new-label-name", "{name}")', 'click("create-label")', 'answer("done")'], seed=seed)
        # bulk: everything from one sender
        sender = services[0].from_addr
        ids = [m.id for m in s.messages if m.from_addr == sender and m.folder == "inbox"]
        op = ["archive", "trash", "archive"][seed]
        add(f"mail-bulk-{seed}", f"{'Archive' if op == 'archive' else 'Delete'} every email in your inbox from {services[0].from_name} ({sender}).",
            {"type": "folder", "ids": ids, "folder": op},
            ['click("search-input")', f'fill("search-input", "{sender}")', 'click("search-button")'] + [f'click("select-{i}")' for i in ids]
            + [f'click("bulk-{"archive" if op == "archive" else "delete"}")', 'answer("done")'], seed=seed)
    return tasks


if __name__ == "__main__":
    write(build(), Path(__file__).with_name("tasks.jsonl"))
