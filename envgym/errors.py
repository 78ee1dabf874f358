"""Exception types.  Each says *whose* fault a failure is, because the trainer treats them apart."""

from __future__ import annotations


class EnvgymError(Exception):
    """Base class of envgym's own errors."""


class UnknownEnvError(EnvgymError, KeyError):
    """No environment is registered under that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownTaskError(EnvgymError, KeyError):
    """No task with that id in the task set.  The message names the set and close ids."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UsageError(EnvgymError, ValueError):
    """The user asked for something that cannot work; the message says what to do instead."""


class TaskFileError(EnvgymError, ValueError):
    """A task file is malformed.  The message names the file and line."""


class InfraError(EnvgymError, RuntimeError):
    """The environment itself failed (dead container, crashed browser, lost connection).

    Episodes ending this way carry ``info["infra_error"]`` and must never be trained on as reward 0.
    """


class ResetNeeded(EnvgymError, RuntimeError):
    """``step()`` was called before ``reset()`` or after the episode ended."""


class Forbidden(EnvgymError, PermissionError):
    """The operator's policy does not allow this (a client's task with reward code, an env kwarg,
    a browser origin): nothing was run."""
