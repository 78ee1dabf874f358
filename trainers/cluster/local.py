"""A real multi-node Ray cluster on one machine, for tests and benchmarks.

Each node is a ``ray start`` of its own (the head, then ``ray start --address=…``), with its own
temporary directory, its own ports and its own process group, so one node can be killed alone — its
raylet, its agents and its workers — as when a machine of a real cluster goes away::

    with LocalRayCluster() as cluster:
        cluster.add_node("n2", num_cpus=4, resources={"node2": 1})
        ...  # cluster.address for ray.init / cluster.address=… in a trainer config
        cluster.kill_node("n2")
    # every process of every node is gone (:meth:`leftovers` is empty)

``system_config`` on the head (e.g. shorter health checks) makes a lost node noticed sooner.
The cluster listens on loopback without Ray's token authentication (``RAY_AUTH_MODE=disabled``, set
for its nodes and in this process's environment, so drivers started from here connect alike).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAST_FAILURE_DETECTION = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3,
                          "health_check_timeout_ms": 1000}


@dataclass
class _Node:
    name: str
    process: subprocess.Popen
    temp_dir: Path
    pids: set[int] = field(default_factory=set)  # every process seen belonging to the node


class LocalRayCluster:
    def __init__(self, *, num_cpus: float = 4, resources: dict[str, float] | None = None,
                 object_store_mb: int = 256, system_config: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, start_timeout_s: float = 240):
        self.root = Path(tempfile.mkdtemp(prefix="egray-", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.object_store_mb = object_store_mb
        self.start_timeout_s = start_timeout_s
        self.nodes: dict[str, _Node] = {}
        os.environ["RAY_AUTH_MODE"] = "disabled"  # nodes and the drivers started from this process
        self._seen: set[int] = set()
        self._sessions: set[int] = set()
        head = ["--head", f"--port={self.port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                f"--ray-client-server-port={_free_port()}"]
        if system_config:
            head.append(f"--system-config={json.dumps(system_config)}")
        self._start("head", head, num_cpus, resources, env)

    # ------------------------------------------------------------------ nodes
    def add_node(self, name: str, *, num_cpus: float = 4, resources: dict[str, float] | None = None,
                 env: dict[str, str] | None = None) -> None:
        """Start one more node (``env``: extra environment of its processes, e.g. its DOCKER_HOST)."""
        self._start(name, [f"--address={self.address}", "--node-ip-address=127.0.0.1"], num_cpus, resources, env)

    def _start(self, name: str, args: list[str], num_cpus: float, resources: dict[str, float] | None,
               env: dict[str, str] | None, attempts: int = 5) -> None:
        """``ray start`` one node; a start that fails (Ray gives a raylet 30 s to register, which a
        heavily loaded machine can miss) is cleaned up and tried again."""
        if name in self.nodes:
            raise ValueError(f"node {name!r} exists")
        for attempt in range(attempts):
            ports = [f"--{option}={_free_port()}" for option in (
                "node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                "runtime-env-agent-port", "metrics-export-port")]
            command = [sys.executable, "-m", "ray.scripts.scripts", "start", *args, f"--num-cpus={num_cpus}",
                       f"--resources={json.dumps(resources or {})}", f"--temp-dir={self.root / name}",
                       "--disable-usage-stats", f"--object-store-memory={self.object_store_mb * 1024 * 1024}", *ports]
            environ = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", **(env or {})}
            process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, start_new_session=True)
            self.nodes[name] = _Node(name, process, self.root / name)
            self._sessions.add(process.pid)
            try:
                out, _ = process.communicate(timeout=self.start_timeout_s)
            except subprocess.TimeoutExpired:
                out = f"(no answer within {self.start_timeout_s} s)"
            self._track(self.nodes[name])
            if process.returncode == 0:
                return
            self.kill_node(name)
        raise RuntimeError(f"ray start for node {name!r} failed {attempts} times; the last time:\n{out[-3000:]}")

    def _track(self, node: _Node) -> set[int]:
        """The node's processes now: everything in its ``ray start`` session (daemons and the workers
        its raylet forked) and their children."""
        found = set()
        for pid in _session_members({node.process.pid}):
            found.add(pid)
            found.update(_children(pid))
        node.pids |= found
        self._seen |= found
        return node.pids

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of node ``name`` (as if its machine went away) and wait for them."""
        node = self.nodes.pop(name)
        pids = self._track(node)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_gone(pids)

    def refresh(self) -> None:
        """Note the processes started since (workers), so :meth:`leftovers` checks them too."""
        for node in self.nodes.values():
            self._track(node)

    # ------------------------------------------------------------------ end
    def stop(self) -> None:
        """Kill every node (workers first, the head last) and remove the temporary directories."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            self.kill_node(name)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self) -> list[int]:
        """Processes of this cluster still running (zombies do not count): empty after :meth:`stop`."""
        import psutil

        alive = []
        for pid in self._seen | _session_members(self._sessions):
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(alive)

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_members(sessions: set[int]) -> set[int]:
    import psutil

    members = set()
    for pid in psutil.pids():
        try:
            if os.getsid(pid) in sessions:
                members.add(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _children(pid: int) -> set[int]:
    import psutil

    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _wait_gone(pids: set[int], timeout: float = 30) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            psutil.Process(pid).wait(timeout=max(0.1, deadline - time.monotonic()))
        except (psutil.NoSuchProcess, psutil.TimeoutExpired, ChildProcessError):
            continue
