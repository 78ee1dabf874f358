"""Reaching the container engine: a ``docker`` SDK client for whatever ``DOCKER_HOST`` names.

Resolution order: ``DOCKER_HOST``; the default Docker socket; the Podman socket that
``containers/podman-service.sh`` starts (``/run/envgym/podman.sock`` or ``$ENVGYM_PODMAN_DIR``).
``ensure_engine()`` runs that script when nothing answers, so a bare machine with apt gets a working
engine (tests use it; users can run ``bash containers/podman-service.sh`` themselves).

The ``docker`` package is imported lazily: ``import envgym`` never needs it.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from envgym.errors import InfraError

DEFAULT_API_TIMEOUT_S = 60
BUILD_TIMEOUT_S = 3600

_LOCK = threading.Lock()


class EngineUnavailable(InfraError):
    """No container engine answers (none found, or ``DOCKER_HOST`` names a dead one)."""

_CLIENTS: dict[tuple[str, int], Any] = {}


def repo_root() -> Path:
    """The source tree holding ``containers/`` (``$ENVGYM_REPO_ROOT`` or the checkout envgym runs from)."""
    configured = os.environ.get("ENVGYM_REPO_ROOT")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2]
    if not (root / "containers").is_dir():
        raise FileNotFoundError(
            f"no containers/ directory under {root}; image recipes live in the envgym source tree "
            "(set ENVGYM_REPO_ROOT to a checkout)"
        )
    return root


def podman_socket_dir() -> Path:
    configured = os.environ.get("ENVGYM_PODMAN_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/run/envgym")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/envgym-{os.getuid()}"
    return Path(runtime_dir) / "envgym"


def engine_url() -> str | None:
    """The engine address to use: ``DOCKER_HOST``, else an existing Docker or envgym Podman socket."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for socket_path in (Path("/var/run/docker.sock"), podman_socket_dir() / "podman.sock"):
        if socket_path.exists():
            return f"unix://{socket_path}"
    return None


def docker_client(timeout: int = DEFAULT_API_TIMEOUT_S) -> Any:
    """A cached ``docker.DockerClient`` for :func:`engine_url` (one per URL and timeout)."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("containers need the docker SDK: pip install 'envgym[containers]'") from exc
    url = engine_url()
    key = (url or "", timeout)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            if url is None:
                raise EngineUnavailable(
                    "no container engine found: start one with `bash containers/podman-service.sh` "
                    "(Podman with the Docker API), or start Docker, or set DOCKER_HOST"
                )
            try:
                client = docker.DockerClient(base_url=url, timeout=timeout)
            except docker.errors.DockerException as exc:
                raise EngineUnavailable(_dead_engine_message(url)) from exc
            _CLIENTS[key] = client
        return client


def _dead_engine_message(url: str) -> str:
    if os.environ.get("DOCKER_HOST"):
        return (f"no container engine answers at DOCKER_HOST={url}: start it, or run "
                "`bash containers/podman-service.sh` and export the DOCKER_HOST it prints (or unset DOCKER_HOST)")
    return f"no container engine answers at {url}: start one with `bash containers/podman-service.sh`, or start Docker"


def engine_answers() -> bool:
    try:
        return bool(docker_client().ping())
    except Exception:
        return False


def ensure_engine() -> str:
    """Make an engine answer (running ``containers/podman-service.sh`` if needed); return its URL.

    Sets ``DOCKER_HOST`` in this process so that subprocesses reach the same engine.
    """
    if engine_answers():
        url = engine_url()
        assert url is not None
        os.environ.setdefault("DOCKER_HOST", url)
        return url
    script = repo_root() / "containers" / "podman-service.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise InfraError(f"{script} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    exports = [line for line in proc.stdout.splitlines() if line.startswith("export DOCKER_HOST=")]
    if not exports:
        raise InfraError(f"{script} printed no DOCKER_HOST:\n{proc.stdout}\n{proc.stderr[-2000:]}")
    os.environ["DOCKER_HOST"] = exports[-1].split("=", 1)[1]
    with _LOCK:
        _CLIENTS.clear()
    if not engine_answers():
        raise InfraError(f"the engine at {os.environ['DOCKER_HOST']} does not answer")
    return os.environ["DOCKER_HOST"]
