"""The host side of the Python sandbox: one locked-down runner container per episode.

The container (image ``containers/sandbox/``) runs ``runner.py init`` as PID 1 (user 10003) and is
started with

* ``network_mode="none"`` — only a loopback interface; no route anywhere;
* a read-only root filesystem; writable only the size-capped tmpfs ``/workspace`` (64 MiB),
  ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (16 MiB each) and ``/dev/mqueue`` (no host path is
  mounted, so host files — the repository, ``/etc/hostname`` — are not there);
* ``mem_limit`` = ``memswap_limit`` (default 256 MiB, no swap), ``pids_limit`` (64), ``cpus`` (1);
* ``cap_drop=["ALL"]``, ``security_opt=["no-new-privileges"]``; code runs as user 10002, which
  can neither signal nor trace PID 1.

Each ``python(code)`` call is one ``exec`` of ``runner.py run`` in that container, which enforces
the per-call time limit, an address-space rlimit, and kills everything the snippet left behind.  The
reply is read up to a byte cap.

**A clean slate per episode.**  :meth:`SandboxRunner.reset` swaps in a fresh container — a warm
spare, started in the background while the last episode ran — and removes the old one in the
background: no file, IPC object, process or charged memory of one episode reaches the next, however
the code hid it, and the swap itself costs milliseconds.

**Failures.**  When the runner cannot answer, the container is inspected: a container the memory
limit brought down (``OOMKilled``, or an OOM kill counted inside) or a runner the code killed is
replaced and the call reports that the sandbox was restarted; a container that died otherwise (its
PID 1 killed from outside, the engine gone) is an :class:`envgym.InfraError`, never the code's fault.
"""

from __future__ import annotations

import base64
import concurrent.futures
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
INIT_USER = "10003:10003"
RUNNER = "/opt/envgym/runner.py"
ARG_CHUNK = 100_000  # below Linux's 128 KiB limit on one argv string
#: Exec output beyond this is not read: the runner's JSON (two capped streams, escaped) fits easily.
REPLY_OVERHEAD_BYTES = 64 * 1024


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
    """Owns the sandbox container of the current episode (and a warm spare); :meth:`run` executes a
    snippet in it, :meth:`reset` swaps in a fresh container."""

    def __init__(
        self,
        image: str | None = None,
        *,
        cpus: float = 1.0,
        mem_limit: str = "256m",
        pids_limit: int = 64,
        address_space_bytes: int = 1 << 30,
        workspace_size: str = "64m",
        scratch_size: str = "16m",
        warm_spare: bool = True,
        env_id: str = "envgym/PythonSandbox-v0",
    ):
        self._image = image
        self.cpus = cpus
        self.mem_limit = mem_limit
        self.pids_limit = pids_limit
        self.address_space_bytes = int(address_space_bytes)
        self.workspace_size = workspace_size
        self.scratch_size = scratch_size
        self.warm_spare = warm_spare
        self.env_id = env_id
        self.handle: ContainerHandle | None = None
        self._oom_kills = 0  # the current container's OOM-kill count after the last call
        self._lock = threading.Lock()
        self._background = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="envgym-sandbox")
        self._spare: concurrent.futures.Future | None = None
        self._removals: list[concurrent.futures.Future] = []

    @property
    def image(self) -> str:
        if self._image is None:
            from envgym.containers.images import build_image

            self._image = build_image("sandbox")
        return self._image

    # ------------------------------------------------------------------ containers
    def _launch(self) -> ContainerHandle:
        scratch = f"rw,nosuid,nodev,size={self.scratch_size},mode=1777"
        return get_runtime().start_container(
            self.image, role="sandbox", command=["python3", RUNNER, "init"], env_id=self.env_id,
            cpus=self.cpus, mem_limit=self.mem_limit, pids_limit=self.pids_limit, network_mode="none",
            read_only=True,
            tmpfs={"/workspace": f"rw,nosuid,nodev,size={self.workspace_size},mode=1777", "/tmp": scratch,
                   "/var/tmp": scratch},
            shm_size=self.scratch_size, user=INIT_USER, working_dir="/workspace",
            cap_drop=["ALL"], security_opt=["no-new-privileges"], environment={"HOME": "/workspace"},
        )

    def _fresh_container(self) -> ContainerHandle:
        """The warm spare if it started and is alive, else a container started now; then the next
        spare starts in the background."""
        spare, self._spare = self._spare, None
        handle = None
        if spare is not None:
            try:
                handle = spare.result()
            except Exception as exc:
                logger.info("the warm sandbox spare of %s failed to start: %s", self.env_id, exc)
            if handle is not None and handle.dead.is_set():
                self._remove_later(handle)
                handle = None
        if handle is None:
            try:
                handle = self._launch()
            except Exception as exc:
                raise InfraError(f"could not start a sandbox container for {self.env_id}: {exc}") from exc
        if self.warm_spare:
            self._spare = self._background.submit(self._launch)
        self._oom_kills = 0
        return handle

    def _remove_later(self, handle: ContainerHandle) -> None:
        self._removals = [f for f in self._removals if not f.done()]
        self._removals.append(self._background.submit(handle.remove))

    def _replace(self) -> None:
        if self.handle is not None:
            self._remove_later(self.handle)
            self.handle = None
        self.handle = self._fresh_container()

    def start(self) -> ContainerHandle:
        """The current container, starting one if there is none."""
        with self._lock:
            if self.handle is None:
                self.handle = self._fresh_container()
            return self.handle

    def reset(self) -> None:
        """A new episode: a fresh container replaces the current one (see the module docstring)."""
        with self._lock:
            self._replace()

    # ------------------------------------------------------------------ running code
    def _exec(self, handle: ContainerHandle, args: list[str], timeout_s: float, cap: int) -> tuple[int | None, bytes, bytes]:
        """Run ``runner.py ARGS`` in the container; stdout and stderr are read up to ``cap`` bytes
        (``exit_code`` is ``None`` when the reply was longer)."""
        client = docker_client(timeout=int(timeout_s) + 30)
        exec_id = client.api.exec_create(
            handle.container_id, ["python3", RUNNER, *args], user=SANDBOX_USER, workdir="/workspace",
            stdout=True, stderr=True,
        )["Id"]
        out, err = bytearray(), bytearray()
        for chunk_out, chunk_err in client.api.exec_start(exec_id, stream=True, demux=True):
            out += chunk_out or b""
            err += chunk_err or b""
            if len(out) + len(err) > cap:
                return None, bytes(out[:cap]), b"the runner's reply exceeded %d bytes" % cap
        return client.api.exec_inspect(exec_id).get("ExitCode"), bytes(out), bytes(err)

    def run(self, code: str, *, timeout_s: float = 10.0, max_output_bytes: int = 8000) -> RunResult:
        """Run ``code`` with ``python3 -I`` in the sandbox; never raises for what the code does (an
        :class:`envgym.InfraError` means the sandbox failed for reasons outside the code)."""
        encoded = base64.b64encode(code.encode("utf-8")).decode("ascii")
        chunks = [encoded[i:i + ARG_CHUNK] for i in range(0, len(encoded), ARG_CHUNK)] or [""]
        args = ["run", f"{timeout_s:g}", str(max_output_bytes), str(self.address_space_bytes), *chunks]
        with self._lock:
            if self.handle is None:
                self.handle = self._fresh_container()
            handle = self.handle
            if handle.dead.is_set():
                raise InfraError(f"the sandbox container is gone: {handle.death_message()}")
            try:
                exit_code, out, err = self._exec(handle, args, timeout_s, 12 * max_output_bytes + REPLY_OVERHEAD_BYTES)
                if exit_code == 0:
                    reply = json.loads(out)
                    self._oom_kills = reply.pop("oom_kills")
                    return RunResult(**reply)
                problem = f"the sandbox runner exited with {exit_code}: {err.decode('utf-8', 'replace')[-500:]}"
            except InfraError:
                raise
            except Exception as exc:  # engine refused the exec (pids exhausted, container gone, …), bad reply
                problem = f"the sandbox could not run the code: {type(exc).__name__}: {exc}"
            return self._after_failure(handle, problem)

    def _after_failure(self, handle: ContainerHandle, problem: str) -> RunResult:
        """Tell the code's doing (memory, a killed runner: restart, report) from an infra failure (raise)."""
        state = handle.state()
        if state.get("Status") == "running":
            oom = self._oom_kills_now(handle) > self._oom_kills
        elif state.get("OOMKilled"):
            oom = True
        else:
            handle.dead.set()
            raise InfraError(f"the sandbox container was stopped from outside the sandbox: "
                             f"{handle.death_message()} ({problem[:200]})")
        logger.info("restarting the sandbox of %s: %s", self.env_id, problem)
        self._replace()
        cause = f"it ran out of memory (limit {self.mem_limit})" if oom else problem[:300]
        return RunResult(sandbox_restarted=True, oom_killed=oom,
                         note=f"{cause}. The sandbox was restarted; files in /workspace are gone.")

    def _oom_kills_now(self, handle: ContainerHandle) -> int:
        try:
            exit_code, out, _ = self._exec(handle, ["oom-kills"], 10.0, REPLY_OVERHEAD_BYTES)
            return int(json.loads(out)["oom_kills"]) if exit_code == 0 else -1
        except Exception:
            return -1

    def close(self) -> None:
        with self._lock:
            if self.handle is not None:
                self._remove_later(self.handle)
                self.handle = None
            spare, self._spare = self._spare, None
            if spare is not None:
                spare.add_done_callback(lambda f: f.exception() is None and f.result().remove())
            self._background.shutdown(wait=True)
