"""Helpers for tests and benchmarks that need real containers (the ``engine`` fixture of ``tests/conftest.py``).

``ensure_test_engine()`` follows the project rule that a test needing an optional component starts
it: it makes an engine answer (``containers/podman-service.sh``: installs podman/runc with apt when
missing) and bootstraps the registry-free base image when it is missing and no
``ENVGYM_BASE_IMAGE`` is set.  The first run on a bare machine takes a couple of minutes; after that,
seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from envgym.containers.engine import docker_client, ensure_engine
from envgym.containers.images import base_image, ensure_base_image


def ensure_test_engine() -> str:
    """An answering engine with the base image present; returns the engine URL."""
    url = ensure_engine()
    ensure_base_image(base_image())
    return url


def containers_of(pid: int | None = None) -> list[dict[str, Any]]:
    """Engine rows of the envgym containers owned by process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return docker_client().api.containers(all=True, filters={"label": f"envgym.owner_pid={pid}"})


def assert_no_leftovers() -> None:
    """Fail if this process left containers behind: none owned by it through the engine API, and
    (where the podman CLI exists) none of this session's label in ``podman ps -a``."""
    import shutil
    import subprocess

    from envgym.containers.runtime import SESSION_ID

    leftovers = containers_of()
    assert leftovers == [], f"containers left behind: {[c['Names'] for c in leftovers]}"
    if shutil.which("podman"):
        cli = subprocess.run(["podman", "ps", "-a", "-q", "--filter", f"label=envgym.session={SESSION_ID}"],
                             capture_output=True, text=True, check=True)
        assert cli.stdout.strip() == "", f"podman ps shows leftovers: {cli.stdout}"


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)
