"""Mock web apps modelled on real software, and the browser envs that drive them.

Apps (each a sub-package with ``app.py`` (state + pages), ``checks.py`` (task checker),
``make_tasks.py`` (task generator + oracle solutions) and ``tasks.jsonl``):

* ``envs.web.shop``  — an online shop (``envgym/WebShop-v0``)
* ``envs.web.mail``  — a mail client (``envgym/WebMail-v0``)
* ``envs.web.calendar`` — a calendar (``envgym/WebCalendar-v0``)
* ``envs.web.taskboard`` — a kanban task board (``envgym/WebTaskBoard-v0``)

Registrations live in :mod:`envs.web.registration`.
"""
