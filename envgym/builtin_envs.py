"""Registrations of the environments shipped in ``envs/`` (installed as ``envgym.envs``).

Only strings here, exactly as a third-party plugin would register its envs: no env code loads until
``envgym.make`` asks for it, and the core never imports the env layer.  ``synthesis`` names the
env's task-synthesis adapter (see :func:`envgym.synth.adapters.make_adapter`).
"""

from envgym.registration import register

register(
    "envgym/Maze-v0",
    "envgym.envs.maze:MazeEnv",
    description="Text gridworld maze, procedurally generated from the seed; reach the goal.",
    tags=("text", "procedural", "long-horizon"),
)
register(
    "envgym/Household-v0",
    "envgym.envs.household:HouseholdEnv",
    description="ALFWorld-style text household: find, take, clean/heat/cool and place objects.",
    tags=("text", "procedural", "long-horizon", "subgoals"),
    synthesis="envgym.envs.household.synthesis:HouseholdAdapter",
)
register(
    "envgym/SQL-v0",
    "envgym.envs.sql:SQLEnv",
    description="Tool use over a real SQLite database: call sql(query), then answer(text).",
    tags=("tools", "sqlite"),
)
register(
    "envgym/PixelClick-v0",
    "envgym.envs.pixel_click:PixelClickEnv",
    description="Screenshot-only GUI task: click the button the instruction names (layout drawn from the seed).",
    tags=("gui", "pixels", "procedural"),
)
register(
    "envgym/PythonSandbox-v0",
    "envgym.envs.python_sandbox:PythonSandboxEnv",
    description="Answer tasks by running Python in a locked-down container (no network, limits).",
    tags=("tools", "code", "container"),
    extras=("containers",),
    image="sandbox",
)

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
         synthesis="envgym.envs.web.taskboard.synthesis:TaskBoardAdapter", **_WEB)

_DESKTOP = dict(tags=("desktop", "gui", "container"), extras=("desktop",), image="desktop",
                synthesis="envgym.envs.desktop.synthesis:DesktopAdapter")

register("envgym/DesktopMousepad-v0", "envgym.envs.desktop.mousepad:create",
         description="Mousepad, Xfce's text editor, on a virtual X desktop: edit, search and replace, save as, "
                     "settings; screenshots, mouse and keyboard.", **_DESKTOP)
register("envgym/DesktopGnumeric-v0", "envgym.envs.desktop.gnumeric:create",
         description="Gnumeric, GNOME's spreadsheet, on a virtual X desktop: values, formulas, formatting, rows, "
                     "sheets; screenshots, mouse and keyboard.", **_DESKTOP)
register("envgym/DesktopPCManFM-v0", "envgym.envs.desktop.pcmanfm:create",
         description="PCManFM, LXDE's file manager, on a virtual X desktop: rename, copy, move, trash, folders, "
                     "bookmarks, settings; screenshots, mouse and keyboard.", **_DESKTOP)
