"""Remote environments: an env served over WebSocket (one connection = one session = one env
instance) and clients that make it look local.

* :mod:`envgym.remote.protocol` — the wire protocol (messages, error and close codes, encoding).
* :mod:`envgym.remote.server` — ``create_app(env_id)`` / ``serve(env_id)`` (Starlette + uvicorn).
* :mod:`envgym.remote.client` — ``RemoteEnv`` (sync ``gymnasium.Env``), ``AsyncRemoteEnv``, ``make_remote``.
* :mod:`envgym.remote.errors` — ``RemoteEnvError``, ``ProtocolError`` and the ``InfraError`` subclasses.
* :mod:`envgym.remote.loopback` — ``running_server`` / ``running_server_process``: an env served on 127.0.0.1.

Nothing heavy is imported here: the server's FastAPI/uvicorn and the client's websockets load with
the submodule that needs them.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "RemoteEnv": "envgym.remote.client",
    "AsyncRemoteEnv": "envgym.remote.client",
    "make_remote": "envgym.remote.client",
    "create_app": "envgym.remote.server",
    "serve": "envgym.remote.server",
    "RemoteEnvError": "envgym.remote.errors",
    "RemoteEnvInfraError": "envgym.remote.errors",
    "ProtocolError": "envgym.remote.errors",
    "ConnectionLost": "envgym.remote.errors",
    "CapacityReached": "envgym.remote.errors",
    "SessionExpired": "envgym.remote.errors",
    "Unauthorized": "envgym.remote.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'envgym.remote' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
