"""Registry entries of the web envs (imported by ``envgym.builtin_envs``).  Strings only: no app or
browser code loads until ``envgym.make`` asks for an env."""

from envgym.registration import register

_WEB = dict(tags=("web",), extras=("web",), image="web")

register("envgym/WebShop-v0", "envgym.envs.web.shop:ShopEnv",
         description="Lumen Market, a mock online shop in a real Chromium: search, filters, cart, checkout, orders.",
         **_WEB)
register("envgym/WebMail-v0", "envgym.envs.web.mail:MailEnv",
         description="Swiftmail, a mock webmail client in a real Chromium: folders, read, compose, reply, forward, labels.",
         **_WEB)
register("envgym/WebCalendar-v0", "envgym.envs.web.calendar:CalendarEnv",
         description="Daybook, a mock calendar in a real Chromium: month/week views, events, invitees, recurrence.",
         **_WEB)
register("envgym/WebTaskBoard-v0", "envgym.envs.web.taskboard:TaskBoardEnv",
         description="Trackly, a mock kanban task board in a real Chromium: boards, cards, assignees, labels, settings.",
         **_WEB)
