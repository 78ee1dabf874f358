"""``envgym/WebCalendar-v0``: Daybook, a mock calendar driven through a real browser."""

from envgym.envs.web.calendar.env import CalendarEnv

__all__ = ["CalendarEnv"]
