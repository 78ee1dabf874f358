"""Env servers in containers: images built by content hash, limited and labelled containers, warm pools.

* :mod:`envgym.containers.engine` — the ``docker`` SDK client for ``DOCKER_HOST`` (Docker or Podman).
* :mod:`envgym.containers.images` — ``build_image("base")`` → ``envgym/base:<hash12>``.
* :mod:`envgym.containers.runtime` — ``make_container_env`` (``envgym.make(id, runtime="container")``),
  ``start_env_container``, ``list_containers``, ``prune_containers``, cleanup on exit and SIGTERM.
* :mod:`envgym.containers.pool` — :class:`EnvPool`, containers started ahead of demand.
* :mod:`envgym.containers.cli_ops` — ``envgym containers build/ls/prune``.

Nothing here imports ``docker`` until a container is needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EnvPool", "build_image", "list_containers", "make_container_env", "prune_containers", "start_env_container"]


def __getattr__(name: str) -> Any:  # lazy: keep ``import envgym.containers`` free of docker
    if name == "EnvPool":
        from envgym.containers.pool import EnvPool

        return EnvPool
    if name == "build_image":
        from envgym.containers.images import build_image

        return build_image
    if name in ("list_containers", "make_container_env", "prune_containers", "start_env_container"):
        from envgym.containers import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'envgym.containers' has no attribute {name!r}")
