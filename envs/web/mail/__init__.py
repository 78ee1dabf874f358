"""``envgym/WebMail-v0``: Swiftmail, a mock webmail client driven through a real browser."""

from envgym.envs.web.mail.env import MailEnv

__all__ = ["MailEnv"]
