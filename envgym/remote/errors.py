"""Exceptions raised by the remote clients, one per *whose fault* a failure is.

* :class:`RemoteEnvError` — the env on the server raised (``env_exception``).  For common built-in
  exception types the raised object is also an instance of that type (a remote ``ValueError`` is
  caught by ``except ValueError``; a remote ``ResetNeeded`` by ``except envgym.ResetNeeded``).
* :class:`ProtocolError` — the client sent something the server refused (``invalid_json``,
  ``unknown_type``, ``validation_error``, ``message_too_large``), or the server answered nonsense.
  :class:`Unauthorized` is the bad/missing token case, :class:`RemoteForbidden` a request the
  server's policy refuses.
* :class:`envgym.InfraError` subclasses — the infrastructure failed: lost connection, dead server,
  timeout (:class:`ConnectionLost`), a full server (:class:`CapacityReached`), an idle session the
  server reaped (:class:`SessionExpired`), or the remote env raised ``InfraError`` itself (its
  browser, app or X server crashed: :class:`RemoteEnvInfraError`, which is also a
  :class:`RemoteEnvError`; the session stays usable).  Episodes ending this way must not be trained on.
"""

from __future__ import annotations

import builtins
from typing import Any

from envgym.errors import EnvgymError, Forbidden, InfraError, ResetNeeded


class RemoteError(EnvgymError):
    """Base of the errors reported by an env server; ``code`` is the protocol error code."""

    code: str = ""

    def __init__(self, message: str, *, code: str | None = None, reply: dict[str, Any] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.reply = reply or {}

    def __str__(self) -> str:  # KeyError and OSError would format the message their own way
        return str(self.args[0]) if self.args else ""


class RemoteEnvError(RemoteError):
    """The remote env raised.  ``exc_type`` is its class name, ``remote_traceback`` its traceback."""

    code = "env_exception"

    def __init__(self, message: str, *, code: str | None = None, reply: dict[str, Any] | None = None):
        super().__init__(message, code=code, reply=reply)
        reply = reply or {}
        self.exc_type: str = reply.get("exc_type") or "Exception"
        self.exc_module: str | None = reply.get("exc_module")
        self.remote_traceback: str = reply.get("traceback") or ""


class ProtocolError(RemoteError):
    """The server refused a request as malformed, or sent a reply the client cannot read."""

    code = "protocol_error"


class Unauthorized(ProtocolError):
    """The server wants a bearer token and did not get the right one."""

    code = "unauthorized"


class RemoteForbidden(ProtocolError, Forbidden):
    """The server's policy refused the request (env kwargs, a task whose reward is code): an
    :class:`envgym.errors.Forbidden`, so a ``PermissionError`` too."""

    code = "forbidden"


class RemoteInfraError(RemoteError, InfraError):
    """Base of the infrastructure failures of a remote env (an :class:`envgym.InfraError`)."""

    code = "infra_error"


class RemoteEnvInfraError(RemoteEnvError, RemoteInfraError):
    """The remote env raised :class:`envgym.InfraError` (``env_infra_error``): its own infrastructure
    failed.  The session stays usable; the next ``reset`` may recover."""

    code = "env_infra_error"


class ConnectionLost(RemoteInfraError):
    """The connection failed, dropped, or a reply did not come in time."""

    code = "connection_lost"


class CapacityReached(RemoteInfraError):
    """The server already holds its maximum number of sessions."""

    code = "capacity_reached"


class SessionExpired(RemoteInfraError):
    """The server reaped this session after it sat idle too long; its env is gone."""

    code = "session_expired"


# Remote exceptions of these types are raised as ``RemoteEnvError`` subclasses that are *also* the
# local type, so callers written against a local env keep working.
_MIRRORED: dict[str, type[BaseException]] = {
    name: getattr(builtins, name)
    for name in (
        "ValueError", "TypeError", "KeyError", "IndexError", "RuntimeError", "NotImplementedError",
        "AttributeError", "AssertionError", "LookupError", "FileNotFoundError", "PermissionError",
        "OSError", "TimeoutError",
    )
}
_MIRRORED["ResetNeeded"] = ResetNeeded
_MIRROR_CLASSES: dict[str, type[RemoteEnvError]] = {}


def env_error_class(exc_type: str | None) -> type[RemoteEnvError]:
    """The :class:`RemoteEnvError` class to raise for a remote exception named ``exc_type``."""
    base = _MIRRORED.get(exc_type or "")
    if base is None:
        return RemoteEnvError
    cls = _MIRROR_CLASSES.get(exc_type)  # type: ignore[arg-type]
    if cls is None:
        cls = type(f"Remote{exc_type}", (RemoteEnvError, base), {"__module__": __name__})
        _MIRROR_CLASSES[exc_type] = cls  # type: ignore[index]
    return cls


def error_from_reply(reply: dict[str, Any]) -> RemoteError:
    """The exception that an ``error`` reply stands for."""
    code = str(reply.get("code") or "")
    message = str(reply.get("message") or code or "remote error")
    if code in ("env_exception", "env_infra_error"):
        exc_type = reply.get("exc_type")
        cls = RemoteEnvInfraError if code == "env_infra_error" else env_error_class(exc_type)
        text = f"{exc_type}: {message}" if exc_type else message
        err = cls.__new__(cls)
        RemoteEnvError.__init__(err, text, code=code, reply=reply)
        return err
    if code == "unauthorized":
        return Unauthorized(message, code=code, reply=reply)
    if code == "forbidden":
        return RemoteForbidden(message, code=code, reply=reply)
    if code == "capacity_reached":
        return CapacityReached(message, code=code, reply=reply)
    if code == "session_expired":
        return SessionExpired(message, code=code, reply=reply)
    if code == "internal_error":
        return RemoteInfraError(message, code=code, reply=reply)
    return ProtocolError(message, code=code or "protocol_error", reply=reply)
