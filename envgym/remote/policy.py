"""What an env server lets its clients do: the operator's policy, one object shared by every route.

A client is untrusted.  By default it may not pass env constructor kwargs, may not send tasks whose
reward is code, and no browser page may open a session; a server reachable beyond loopback must
require a token.  The operator opens what it needs (``envgym serve --allow-kwarg NAME
--allow-python-rewards --allow-origin ORIGIN``).

* :meth:`SessionPolicy.kwargs_problem` — kwargs are refused unless allow-listed one by one
  (``render_mode`` always passes: the env checks it against its ``metadata``); numbers
  must be finite, and kwargs that name a duration (``*_s``, ``*timeout*``, ``*seconds*``…) must lie in
  ``(0, max_kwarg_seconds]``;
* :meth:`SessionPolicy.origin_problem` — a request carrying an ``Origin`` header (every browser
  sends one) is refused unless that origin is allowed (``*`` allows any);
* :meth:`SessionPolicy.prepare_env` — marks an env built for clients so that it refuses tasks with a
  python reward that do not come from its own task set (:attr:`envgym.Env.accept_python_rewards`):
  at ``reset``/``load_state`` (:class:`envgym.errors.Forbidden`) and again before scoring;
* :func:`check_bind` — refuses to serve beyond loopback without a token.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any

from envgym.errors import UsageError

#: kwargs every client may pass: Gymnasium's own, checked by the env against ``metadata``
ALWAYS_ALLOWED = frozenset({"render_mode"})
#: kwarg names that hold a duration in seconds
DURATION_NAME = re.compile(r"(^|_)(timeout|seconds|secs?|s|delay|wait|ttl)($|_)|timeout|time_limit", re.IGNORECASE)


@dataclass(frozen=True)
class SessionPolicy:
    """The operator's answers to what clients may ask (see the module docstring)."""

    allowed_kwargs: frozenset[str] = field(default_factory=frozenset)
    allow_python_rewards: bool = False
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    max_kwarg_seconds: float = 300.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_kwargs", frozenset(self.allowed_kwargs))
        object.__setattr__(self, "allowed_origins", frozenset(_origin(o) for o in self.allowed_origins))
        if not (math.isfinite(self.max_kwarg_seconds) and self.max_kwarg_seconds > 0):
            raise ValueError(f"max_kwarg_seconds must be a positive number, got {self.max_kwarg_seconds!r}")

    def kwargs_problem(self, kwargs: dict[str, Any]) -> str | None:
        """Why a client may not build its env with ``kwargs``, or ``None``."""
        refused = sorted(str(k) for k in kwargs if k not in self.allowed_kwargs and k not in ALWAYS_ALLOWED)
        if refused:
            allowed = f"allowed: {', '.join(sorted(self.allowed_kwargs))}" if self.allowed_kwargs \
                else "the server allows none (envgym serve --allow-kwarg NAME)"
            return f"env kwargs {', '.join(refused)} are not accepted from clients; {allowed}"
        for name, value in kwargs.items():
            problem = _value_problem(name, value, self.max_kwarg_seconds)
            if problem:
                return problem
        return None

    def origin_problem(self, origin: str | None) -> str | None:
        """Why a request with this ``Origin`` header (``None``: none sent) is refused, or ``None``."""
        if origin is None or "*" in self.allowed_origins or _origin(origin) in self.allowed_origins:
            return None
        return f"requests from the web page origin {origin!r} are not accepted (envgym serve --allow-origin ORIGIN)"

    def prepare_env(self, env: Any) -> Any:
        """Mark ``env`` (built for a client) with this policy; returns it."""
        unwrapped = getattr(env, "unwrapped", env)
        if hasattr(unwrapped, "accept_python_rewards"):
            unwrapped.accept_python_rewards = bool(self.allow_python_rewards)
        return env

    def describe(self) -> dict[str, Any]:
        return {"client_kwargs": sorted(self.allowed_kwargs), "python_rewards": self.allow_python_rewards,
                "origins": sorted(self.allowed_origins), "max_kwarg_seconds": self.max_kwarg_seconds}


def _origin(text: str) -> str:
    return text.strip().rstrip("/").lower()


def _value_problem(name: str, value: Any, max_seconds: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(float(value)):
        return f"env kwarg {name}={value!r} is not a finite number"
    if DURATION_NAME.search(name) and not 0 < float(value) <= max_seconds:
        return f"env kwarg {name}={value!r} is outside (0, {max_seconds:g}] seconds"
    return None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse (:class:`envgym.errors.UsageError`) to serve beyond loopback without a token."""
    if not token and not is_loopback(host):
        raise UsageError(f"serving on {host} makes the env reachable from other machines: set a token "
                         "(--token or $ENVGYM_TOKEN), or bind 127.0.0.1")
