"""The host side of the Python sandbox: one locked-down runner container per env instance.

The container (image ``containers/sandbox/``) runs ``runner.py init`` as PID 1 and is started with

* ``network_mode="none"`` — only a loopback interface; no route anywhere;
* a read-only root filesystem; writable only ``/workspace`` and ``/tmp``, both size-capped tmpfs
  (no host path is mounted, so host files — the repository, ``/etc/hostname`` — are not there);
* ``mem_limit`` = ``memswap_limit`` (default 256 MiB, no swap), ``pids_limit`` (64), ``cpus`` (1);
* ``cap_drop=["ALL"]``, ``security_opt=["no-new-privileges"]``, the unprivileged user 10002.

Each ``python(code)`` call is one ``exec`` of ``runner.py run`` in that container, which enforces
the per-call time limit, an address-space rlimit, and kills everything the snippet left behind.
When the runner itself cannot answer (the exec fails, or the runner is OOM-killed), the container is
replaced by a fresh one and the call reports that the sandbox was restarted.  Only an engine that
cannot start a container at all is an :class:`envgym.InfraError`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from envgym.containers.engine import docker_client
from envgym.containers.runtime import ContainerHandle, get_runtime
from envgym.errors import InfraError

logger = logging.getLogger(__name__)

SANDBOX_USER = "10002:10002"
RUNNER = "/opt/envgym/runner.py"
ARG_CHUNK = 100_000  # below Linux's 128 KiB limit on one argv string


@dataclass
class RunResult:
    """What one ``python(code)`` call produced."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    sandbox_restarted: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SandboxRunner:
    """Owns one runner container; :meth:`run` executes a snippet in it."""

    def __init__(
        self,
        image: str | None = None,
        *,
        cpus: float = 1.0,
        mem_limit: str = "256m",
        pids_limit: int = 64,
        address_space_bytes: int = 1 << 30,
        workspace_size: str = "64m",
        env_id: str = "envgym/PythonSandbox-v0",
    ):
        self._image = image
        self.cpus = cpus
        self.mem_limit = mem_limit
        self.pids_limit = pids_limit
        self.address_space_bytes = int(address_space_bytes)
        self.workspace_size = workspace_size
        self.env_id = env_id
        self.handle: ContainerHandle | None = None
        self._lock = threading.Lock()

    @property
    def image(self) -> str:
        if self._image is None:
            from envgym.containers.images import build_image

            self._image = build_image("sandbox")
        return self._image

    def start(self) -> ContainerHandle:
        """Start the runner container (if not running) and return its handle."""
        if self.handle is not None and not self.handle.dead.is_set():
            return self.handle
        if self.handle is not None:
            self.handle.remove()
        self.handle = get_runtime().start_container(
            self.image,
            role="sandbox",
            command=["python3", RUNNER, "init"],
            env_id=self.env_id,
            cpus=self.cpus,
            mem_limit=self.mem_limit,
            pids_limit=self.pids_limit,
            network_mode="none",
            read_only=True,
            tmpfs={
                "/workspace": f"rw,nosuid,nodev,size={self.workspace_size},mode=1777",
                "/tmp": "rw,nosuid,nodev,size=16m,mode=1777",
            },
            user=SANDBOX_USER,
            working_dir="/workspace",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            environment={"HOME": "/workspace"},
        )
        return self.handle

    def restart(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        self.start()

    def _exec(self, args: list[str], timeout_s: float) -> tuple[int | None, bytes, bytes]:
        handle = self.start()
        client = docker_client(timeout=int(timeout_s) + 30)
        exec_id = client.api.exec_create(
            handle.container_id, ["python3", RUNNER, *args], user=SANDBOX_USER, workdir="/workspace",
            stdout=True, stderr=True,
        )["Id"]
        stdout, stderr = client.api.exec_start(exec_id, demux=True)
        exit_code = client.api.exec_inspect(exec_id).get("ExitCode")
        return exit_code, stdout or b"", stderr or b""

    def run(self, code: str, *, timeout_s: float = 10.0, max_output_bytes: int = 8000) -> RunResult:
        """Run ``code`` with ``python3 -I`` in the sandbox; never raises for what the code does."""
        encoded = base64.b64encode(code.encode("utf-8")).decode("ascii")
        chunks = [encoded[i:i + ARG_CHUNK] for i in range(0, len(encoded), ARG_CHUNK)] or [""]
        args = ["run", f"{timeout_s:g}", str(max_output_bytes), str(self.address_space_bytes), *chunks]
        with self._lock:
            exit_code = None
            try:
                exit_code, out, err = self._exec(args, timeout_s)
                if exit_code == 0:
                    return RunResult(**json.loads(out))
                problem = f"the sandbox runner exited with {exit_code}: {err.decode('utf-8', 'replace')[-500:]}"
            except InfraError:
                raise
            except Exception as exc:  # engine refused the exec (pids exhausted, container gone, …)
                problem = f"the sandbox could not run the code: {type(exc).__name__}: {exc}"
            logger.info("restarting the sandbox of %s: %s", self.env_id, problem)
            self._restart_or_raise(problem)
            return RunResult(
                sandbox_restarted=True,
                oom_killed=exit_code == 137,  # the runner itself was SIGKILLed: the memory limit
                note=f"{problem[:300]}. The sandbox was restarted; files in /workspace are gone.",
            )

    def reset(self) -> None:
        """Kill leftover processes and empty the work dirs (a new episode); restart on trouble."""
        with self._lock:
            try:
                exit_code, _, err = self._exec(["reset"], 10.0)
                if exit_code == 0:
                    return
                problem = f"reset exited with {exit_code}: {err.decode('utf-8', 'replace')[-300:]}"
            except InfraError:
                raise
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self._restart_or_raise(problem)

    def _restart_or_raise(self, problem: str) -> None:
        try:
            self.restart()
        except Exception as exc:
            raise InfraError(f"sandbox container for {self.env_id} could not be restarted after: {problem}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self.handle is not None:
                self.handle.remove()
                self.handle = None
