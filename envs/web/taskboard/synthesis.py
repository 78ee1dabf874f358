"""Task synthesis for Trackly: the web adapter bound to the task board's spec language and solver
(registered as ``synthesis=`` of ``envgym/WebTaskBoard-v0``)."""

from envgym.synth.web import WebAdapter
from envgym.envs.web.taskboard import solver, spec_language


class TaskBoardAdapter(WebAdapter):
    language = spec_language
    solver = solver


__all__ = ["TaskBoardAdapter"]
