"""Scripts that never close their remote or container envs still exit at once, free their server
sessions and leave no container behind; ``check_env`` passes on envs exactly as ``envgym.make``
returns them for every runtime."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest
from gymnasium.utils.env_checker import check_env

import envgym

MAZE = "envgym/Maze-v0"
EXIT_TIMEOUT_S = 60  # a hang shows up as a timeout; a normal exit takes about a second


@contextlib.contextmanager
def served(env_id: str) -> Iterator[str]:
    """``envgym serve env_id`` in a subprocess on a free loopback port; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "envgym", "serve", env_id, "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY "), f"server did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _health(url: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/health", timeout=10) as reply:
        return json.loads(reply.read())


def _run_script(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=EXIT_TIMEOUT_S)


def test_unclosed_remote_envs_do_not_block_exit_and_free_their_sessions():
    with served(MAZE) as url:
        done = _run_script(f"""
            import envgym
            envs = [envgym.make({MAZE!r}, runtime="remote", url={url!r}) for _ in range(3)]
            envs[0].reset(seed=0)
            envs[0].step("north")
            print("sessions", len(envs))
        """)
        assert done.returncode == 0, done.stderr
        assert "sessions 3" in done.stdout
        health = _health(url)
        assert health["total_sessions"] == 3 and health["sessions"] == 0, health


def test_check_env_passes_on_a_remote_env_as_made():
    with served(MAZE) as url:
        env = envgym.make(MAZE, runtime="remote", url=url)
        try:
            check_env(env)
        finally:
            env.close()
        assert _health(url)["sessions"] == 0


@pytest.mark.timeout(900)
def test_unclosed_container_env_exits_promptly_and_leaves_no_container(engine):
    from envgym.containers.images import build_image
    from tests.support.containers import containers_of

    build_image("base")  # built here, so the script's run time is the env's, not the build's
    done = _run_script(f"""
        import os, envgym
        env = envgym.make({MAZE!r}, runtime="container")
        env.reset(seed=0)
        print("pid", os.getpid(), flush=True)
    """)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split("pid", 1)[1].split()[0])
    assert containers_of(pid) == []


@pytest.mark.timeout(900)
def test_check_env_passes_on_a_container_env_as_made(engine):
    env = envgym.make(MAZE, runtime="container")
    try:
        check_env(env)
        assert not env.dead
    finally:
        env.close()
