"""Mock web apps modelled on real software, and the browser envs that drive them.

Apps (each a sub-package with ``app.py`` (state + pages), ``checks.py`` (task checker),
``make_tasks.py`` (task generator + oracle solutions) and ``tasks.jsonl``):

* ``envgym.envs.web.shop``  — an online shop (``envgym/WebShop-v0``)
* ``envgym.envs.web.mail``  — a mail client (``envgym/WebMail-v0``)
* ``envgym.envs.web.calendar`` — a calendar (``envgym/WebCalendar-v0``)
* ``envgym.envs.web.taskboard`` — a kanban task board (``envgym/WebTaskBoard-v0``)

Registrations (strings only) live in :mod:`envgym.builtin_envs`.
"""
