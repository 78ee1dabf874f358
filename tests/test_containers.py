"""Env servers in real containers (Podman's Docker API on a bare machine, or Docker).

The session fixture starts the engine with ``containers/podman-service.sh`` (installing podman when
missing) and bootstraps the base image if needed, as the project's rule for optional components
asks; nothing here is skipped.  Images are built once (content-hash tags) and shared by the tests.
Teardown asserts that no container of this process is left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import envgym
from envgym.containers.engine import BUILD_TIMEOUT_S, docker_client
from envgym.containers.images import build_image, image_tag
from envgym.containers.pool import EnvPool
from envgym.containers.runtime import (
    SESSION_ID,
    ContainerDied,
    get_runtime,
    list_containers,
    prune_containers,
    start_env_container,
)
from tests.support.containers import containers_of, wait_until

REPO = Path(__file__).resolve().parents[1]
MAZE = "envgym/Maze-v0"

pytestmark = pytest.mark.timeout(900)  # the first run on a bare machine installs podman and bootstraps


@pytest.fixture(scope="module")
def base_tag(engine):
    return build_image("base")


@pytest.fixture(scope="module")
def sandbox_tag(engine):
    return build_image("sandbox")


# ---------------------------------------------------------------------- images
def test_image_tag_is_a_content_hash_and_rebuilds_are_skipped(engine, tmp_path, monkeypatch):
    recipe = tmp_path / "containers" / "tiny"
    recipe.mkdir(parents=True)
    (recipe / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY data.txt /data.txt\n")
    (recipe / "context.txt").write_text("data.txt\n")
    (tmp_path / "data.txt").write_text("first\n")

    first = build_image("tiny", root=tmp_path)
    built = []
    try:
        assert first.startswith("envgym/tiny:") and len(first.split(":")[1]) == 12
        assert first == image_tag("tiny", root=tmp_path)
        first_id = engine.images.get(first).id

        # Unchanged sources: a lookup, no build call at all.
        api = docker_client(timeout=BUILD_TIMEOUT_S).api
        monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("rebuilt an up-to-date image"))
        assert build_image("tiny", root=tmp_path) == first
        assert engine.images.get(first).id == first_id
        monkeypatch.undo()

        # A changed source file: a new tag whose image holds the new content.
        (tmp_path / "data.txt").write_text("second\n")
        second = build_image("tiny", root=tmp_path)
        built.append(second)
        assert second != first
        output = engine.containers.run(second, ["cat", "/data.txt"], remove=True)
        assert output.decode().strip() == "second"
    finally:
        for tag in [first, *built]:
            engine.images.remove(tag, force=True)


# ---------------------------------------------------------------------- envs in containers
def test_maze_in_a_container_plays_like_in_process(base_tag):
    local = envgym.make(MAZE)
    remote = envgym.make(MAZE, runtime="container", image=base_tag)
    try:
        for seed in (3, 11):
            obs_l, info_l = local.reset(seed=seed)
            obs_r, info_r = remote.reset(seed=seed)
            assert obs_r == obs_l and info_r == info_l
            done, turns = False, 0
            while not done:
                action = local.unwrapped.oracle_action()
                step_l = local.step(action)
                step_r = remote.step(action)
                assert step_r == step_l
                done = step_l[2] or step_l[3]
                turns += 1
            assert step_l[1] == 1.0 and step_l[4]["success"] is True and turns > 1
        # Invalid actions and tool calls cross the container unchanged too.
        local.reset(seed=5)
        remote.reset(seed=5)
        for action in ("fly away", {"name": "move", "arguments": {"direction": "south"}}):
            assert remote.step(action) == local.step(action)
    finally:
        remote.close()
        local.close()
    assert remote.handle.removed
    assert all(row["Id"] != remote.handle.container_id for row in containers_of())


def test_container_has_limits_labels_and_a_loopback_port(base_tag):
    handle = start_env_container(MAZE, base_tag, cpus=0.5, mem_limit="300m", pids_limit=100)
    try:
        attrs = docker_client().api.inspect_container(handle.container_id)
        host = attrs["HostConfig"]
        assert host["NanoCpus"] == 500_000_000
        assert host["Memory"] == 300 * 1024 * 1024
        assert host["MemorySwap"] == host["Memory"]  # no swap beyond the limit
        assert host["PidsLimit"] == 100
        bindings = host["PortBindings"]["8000/tcp"]
        assert bindings[0]["HostIp"] == "127.0.0.1" and int(bindings[0]["HostPort"]) == handle.host_port
        labels = attrs["Config"]["Labels"]
        assert labels["envgym.managed"] == "true"
        assert labels["envgym.env_id"] == MAZE
        assert labels["envgym.owner_pid"] == str(os.getpid())
        assert labels["envgym.session"] == SESSION_ID
        assert labels["envgym.role"] == "env-server"
        # The server wants the token: a client without it is refused.
        from envgym.remote.client import RemoteEnv
        from envgym.remote.errors import Unauthorized

        with pytest.raises(Unauthorized):
            RemoteEnv(handle.url, MAZE)
        rows = {row["id"]: row for row in list_containers()}
        assert rows[handle.container_id[:12]]["owner_alive"] is True
    finally:
        handle.remove()
    assert all(row["Id"] != handle.container_id for row in containers_of())


def test_network_none_cannot_publish(base_tag):
    with pytest.raises(ValueError, match="cannot publish"):
        start_env_container(MAZE, base_tag, network_mode="none")


def test_unhealthy_container_fails_with_its_logs(base_tag):
    with pytest.raises(envgym.InfraError, match="(?s)exited before it became healthy.*No environment registered"):
        start_env_container("envgym/NoSuchEnv-v0", base_tag, health_timeout_s=30)
    assert containers_of() == []


def test_killed_container_raises_infra_error_fast_and_the_pool_replaces_it(base_tag):
    with EnvPool(MAZE, size=2, image=base_tag) as pool:
        pool.wait_ready(timeout=120)
        env = pool.acquire()
        env.reset(seed=1)
        dead = env.handle
        docker_client().api.kill(dead.container_id)
        start = time.monotonic()
        with pytest.raises(envgym.InfraError) as caught:
            for _ in range(1000):  # a dead container never answers; the first step must fail
                env.step("north")
        elapsed = time.monotonic() - start
        assert isinstance(caught.value, ContainerDied), caught.value
        # The failure-detection bound of the design (a correctness deadline, not a speed test).
        assert elapsed < 5.0, f"dead container noticed after {elapsed:.1f} s"

        # reset() swaps in a warm container; the episode runs again.
        obs, info = env.reset(seed=1)
        assert env.handle is not dead and not env.handle.dead.is_set()
        assert env.step("north")[4]["turn"] == 1
        pool.release(env)
        # The pool is back to `size` healthy containers and the dead one is gone from the engine.
        pool.wait_ready(timeout=120)
        wait_until(lambda: all(r["Id"] != dead.container_id for r in containers_of()), 30, "the dead container's removal")
        assert pool.stats["replaced"] >= 1

        # An idle container that dies is replaced without anyone asking.
        idle_victim = pool._idle[0].handle
        docker_client().api.kill(idle_victim.container_id)
        wait_until(lambda: idle_victim.removed, 30, "the idle dead container's removal")
        pool.wait_ready(timeout=120)
        assert idle_victim.container_id not in {slot.handle.container_id for slot in pool._idle}
    assert containers_of() == []


@pytest.mark.parametrize("crash_during", ["step", "idle"])
def test_a_reset_right_after_the_server_exits_runs_on_a_replacement(base_tag, crash_during):
    """The env server exits (as a desktop env server does after an app crash) while the engine still
    lists its container as running (here: uvicorn's graceful shutdown after SIGTERM, which stops
    listening at once and exits later).  The step in flight is an infrastructure failure; the reset
    issued at once starts the next episode on a replacement container instead of raising."""
    env = envgym.make(MAZE, runtime="container", image=base_tag)
    try:
        env.reset(seed=1)
        old = env.handle
        old.container.exec_run(["sh", "-c", "kill -TERM 1"])
        wait_until(lambda: not old.answers_health(timeout_s=0.5), 30, "the server to stop listening")
        if crash_during == "step":
            with pytest.raises(envgym.InfraError):
                env.step("north")
        obs, info = env.reset(seed=1)
        assert env.handle is not old and info["turn"] == 0
        assert env.step("north")[4]["turn"] == 1
        wait_until(lambda: all(r["Id"] != old.container_id for r in containers_of()), 30, "the old container's removal")
    finally:
        env.close()
    assert containers_of() == []


def test_pool_hands_out_fresh_sessions_and_works_from_async_code(base_tag):
    with EnvPool(MAZE, size=1, image=base_tag) as pool:
        env = pool.acquire(timeout=120)
        session = env.env.session_id
        container = env.handle.container_id
        env.reset(seed=2)
        env.step("north")
        env.close()  # close() on a pooled env gives it back

        async def episode() -> tuple[str, str, int]:
            async with pool.asession(timeout=60) as again:
                obs, info = again.reset(seed=2)
                return again.env.session_id, again.handle.container_id, info["turn"]

        new_session, same_container, turn = asyncio.run(episode())
        assert same_container == container  # the warm container is reused ...
        assert new_session != session  # ... with a new session, so a new env instance
        assert turn == 0
    assert containers_of() == []


# ---------------------------------------------------------------------- cleanup paths
CHILD = textwrap.dedent("""
    import sys, time
    from envgym.envs.python_sandbox.runner import SandboxRunner
    runner = SandboxRunner(image=sys.argv[1], warm_spare=sys.argv[3] == "spare")
    runner.start()
    print("ready", flush=True)
    if sys.argv[2] == "wait":
        time.sleep(120)
""")


def _child(sandbox_tag: str, mode: str, spare: bool = False) -> subprocess.Popen:
    """A process that owns a sandbox container (and with ``spare``, a warm spare that is still being
    created when it says it is ready)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, sandbox_tag, mode, "spare" if spare else "none"],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert len(containers_of(proc.pid)) >= 1
    return proc


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_containers_are_removed_at_exit_and_on_sigterm(sandbox_tag, ending):
    """Also the spare whose creation is in flight when the process ends: the shutdown waits for it."""
    proc = _child(sandbox_tag, "exit" if ending == "exit" else "wait", spare=True)
    if ending == "sigterm":
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    assert code == (0 if ending == "exit" else -signal.SIGTERM)  # the default SIGTERM action still runs
    assert containers_of(proc.pid) == []


def test_prune_removes_the_containers_of_a_killed_owner(sandbox_tag):
    proc = _child(sandbox_tag, "wait")  # no spare: nothing is being created when it is killed
    proc.kill()
    proc.wait(timeout=30)
    assert len(containers_of(proc.pid)) == 1  # SIGKILL leaves it behind ...
    assert prune_containers() >= 1  # ... and prune removes it
    assert containers_of(proc.pid) == []


def test_prune_keeps_containers_of_live_owners(sandbox_tag):
    from envgym.envs.python_sandbox.runner import SandboxRunner

    runner = SandboxRunner(image=sandbox_tag)
    handle = runner.start()
    try:
        prune_containers()
        assert any(row["Id"] == handle.container_id for row in containers_of())
        assert not handle.dead.is_set()
    finally:
        runner.close()
    assert get_runtime().live_handles() == []
