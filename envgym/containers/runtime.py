"""Env servers in containers: start, watch, and always clean up.

>>> env = envgym.make("envgym/Maze-v0", runtime="container")   # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                              # doctest: +SKIP
>>> env.close()                                                # the container is removed

Every container envgym starts carries labels — ``envgym.managed=true``, ``envgym.role``,
``envgym.env_id``, ``envgym.owner_pid`` / ``envgym.owner_host`` / ``envgym.owner_start`` (the
process that owns it and that process's start time, so a reused pid is not mistaken for the owner)
and ``envgym.session`` (one id per owning process) — CPU, memory (no swap) and pids limits, a
network mode, and for env servers a port published on 127.0.0.1 only and a health wait.

Containers are removed on ``close()``, at interpreter exit (``atexit``) and on SIGTERM (a handler
that removes them, then chains to the previous handler).  What a ``kill -9`` of the owner leaves
behind, :func:`prune_containers` removes (``envgym containers prune``).

A monitor thread polls the engine (one list call every :data:`MONITOR_INTERVAL_S`) while this process
owns containers; a container that stops is marked dead and an env waiting on it raises
:class:`ContainerDied` (an :class:`envgym.InfraError`) at once, not after a network timeout.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import json
import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from envgym.containers.engine import docker_client
from envgym.errors import InfraError, UsageError

logger = logging.getLogger(__name__)

SERVER_PORT = 8000
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
MONITOR_INTERVAL_S = 0.5
#: One id per process: the ``envgym.session`` label of every container this process starts.
SESSION_ID = uuid.uuid4().hex[:16]
#: Recipes whose env runs in the caller's process and itself starts a locked-down container for the
#: untrusted part (the code sandbox: its runner container has no network, so it cannot publish an
#: env-server port).  ``runtime="container"`` builds these envs in-process.
SELF_CONTAINED_IMAGES = frozenset({"sandbox"})
#: ``make(..., runtime="container", **kw)`` keywords that configure the container, not the env.
CONTAINER_OPTIONS = frozenset({
    "image", "base", "cpus", "mem_limit", "pids_limit", "network_mode", "health_timeout_s",
    "connect_timeout_s", "step_timeout_s", "raise_on_infra_error", "shm_size", "openenv", "spare_envs",
})
#: Limits of an env-server container started by ``make(..., runtime="container")``.
DEFAULT_LIMITS: dict[str, Any] = {"cpus": 1.0, "mem_limit": "1g", "pids_limit": 256, "network_mode": "bridge",
                                  "shm_size": None}
#: Per-recipe overrides of :data:`DEFAULT_LIMITS` and server options.  The web envs run Chromium (a
#: browser process plus a renderer, GPU/utility and zygote processes per env) in the container, which
#: wants more memory and pids than a text env, and a /dev/shm above the engine's 64 MiB default.
#: Images of envgym's own recipes serve envgym's protocol only (``openenv=False``: a runtime
#: container serves its owner, and its server starts without OpenEnv's FastAPI routes); a desktop
#: server keeps a spare env (``spare_envs=1``: an X display started ahead of the next session).
RECIPE_LIMITS: dict[str, dict[str, Any]] = {
    "base": {"openenv": False},
    "web": {"mem_limit": "2g", "pids_limit": 512, "shm_size": "256m", "openenv": False},
    "desktop": {"openenv": False, "spare_envs": 1},
}


def container_limits(recipe: str | None) -> dict[str, Any]:
    """The default limits (and server options) of an env-server container built from ``containers/<recipe>/``."""
    return {**DEFAULT_LIMITS, **RECIPE_LIMITS.get(recipe or "", {})}


class ContainerDied(InfraError):
    """The container serving an env stopped (killed, crashed, OOM-killed)."""


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), or "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process named by a container's owner labels still runs (on this host)."""
    if labels.get("envgym.owner_host") not in (None, socket.gethostname()):
        return True  # another host's container: we cannot tell, so never call it orphaned
    try:
        pid = int(labels.get("envgym.owner_pid", ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    recorded = labels.get("envgym.owner_start", "")
    return not recorded or recorded == _process_start(pid)


@dataclass
class ContainerHandle:
    """One running container owned by this process."""

    container_id: str
    name: str
    image: str
    role: str
    env_id: str | None = None
    host_port: int | None = None
    token: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    dead: threading.Event = field(default_factory=threading.Event, repr=False)
    removed: bool = False
    created_at: float = field(default_factory=time.monotonic, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the env server (``/ws``, ``/health``)."""
        if self.host_port is None:
            raise ValueError(f"container {self.name} publishes no port")
        return f"http://127.0.0.1:{self.host_port}"

    @property
    def container(self) -> Any:
        return docker_client().containers.get(self.container_id)

    def answers_health(self, timeout_s: float = 1.0) -> bool:
        """Whether the env server answers ``GET /health`` within ``timeout_s``."""
        try:
            with _NO_PROXY.open(f"{self.url}/health", timeout=timeout_s) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def logs(self, tail: int = 100) -> str:
        try:
            return docker_client().api.logs(self.container_id, tail=tail).decode("utf-8", "replace")
        except Exception as exc:
            return f"(logs unavailable: {exc})"

    def state(self) -> dict[str, Any]:
        """The engine's ``State`` of the container ({} once it is gone)."""
        try:
            return docker_client().api.inspect_container(self.container_id).get("State", {})
        except Exception:
            return {}

    def death_message(self) -> str:
        state = self.state()
        detail = (
            f"status {state.get('Status')}, exit code {state.get('ExitCode')}"
            + (", OOM-killed" if state.get("OOMKilled") else "")
            if state else "removed"
        )
        return f"container {self.name} ({self.env_id or self.role}) died: {detail}"

    def remove(self) -> None:
        """Force-remove the container (idempotent)."""
        get_runtime().remove(self)


class ContainerRuntime:
    """Starts labelled, limited containers and keeps track of them until they are removed."""

    def __init__(self) -> None:
        self._live: dict[str, ContainerHandle] = {}
        self._lock = threading.RLock()  # re-entered by the SIGTERM handler when it interrupts this thread
        self._creating = threading.Condition(self._lock)  # creations in flight (``_pending``) finishing
        self._pending = 0
        self._shutting_down = False
        self._monitor: threading.Thread | None = None
        self._hooks_installed = False

    @property
    def client(self) -> Any:
        return docker_client()

    # ------------------------------------------------------------------ starting
    def start_container(
        self,
        image: str,
        *,
        role: str,
        command: list[str] | None = None,
        env_id: str | None = None,
        cpus: float | None = 1.0,
        mem_limit: str | int | None = "1g",
        pids_limit: int | None = 256,
        network_mode: str = "bridge",
        publish: int | None = None,
        extra_labels: dict[str, str] | None = None,
        **create_kwargs: Any,
    ) -> ContainerHandle:
        """Create and start a managed container.  ``publish``: a container port to publish on a
        random 127.0.0.1 port.  Other keywords go to ``containers.create`` (``read_only``, ``tmpfs``,
        ``user``, ``cap_drop``, ``security_opt``…)."""
        if publish is not None and network_mode in ("none", "host"):
            raise ValueError(f"network_mode={network_mode!r} cannot publish a port; use 'bridge'")
        self._install_hooks()
        pid = os.getpid()
        labels = {
            "envgym.managed": "true",
            "envgym.role": role,
            "envgym.env_id": env_id or "",
            "envgym.owner_pid": str(pid),
            "envgym.owner_host": socket.gethostname(),
            "envgym.owner_start": _process_start(pid),
            "envgym.session": SESSION_ID,
            **(extra_labels or {}),
        }
        slug = re.sub(r"[^a-z0-9]+", "-", (env_id or role).lower()).strip("-")[:40]
        name = f"envgym-{slug}-{uuid.uuid4().hex[:10]}"
        limits: dict[str, Any] = {"network_mode": network_mode}
        if cpus:
            limits["nano_cpus"] = int(float(cpus) * 1e9)
        if mem_limit:
            limits["mem_limit"] = mem_limit
            limits["memswap_limit"] = mem_limit  # no swap on top of the limit
        if pids_limit:
            limits["pids_limit"] = int(pids_limit)
        if publish is not None:
            limits["ports"] = {f"{publish}/tcp": ("127.0.0.1", None)}
        container = self._create(image, command=command, name=name, labels=labels, detach=True, **limits, **create_kwargs)
        handle = ContainerHandle(container_id=container.id, name=name, image=image, role=role, env_id=env_id)
        with self._lock:
            self._live[container.id] = handle
            refused = self._shutting_down
        try:
            if refused:
                raise InfraError(f"container {name} was created while the process shut down")
            container.start()
            if publish is not None:
                container.reload()
                bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{publish}/tcp")
                if not bindings:
                    raise InfraError(f"container {name} did not publish port {publish}: {container.attrs.get('NetworkSettings')}")
                handle.host_port = int(bindings[0]["HostPort"])
        except BaseException:
            self.remove(handle)
            raise
        self._ensure_monitor()
        return handle

    def _create(self, image: str, **kwargs: Any) -> Any:
        """``containers.create``, counted while in flight so that a shutdown waits for it and then
        removes what it created (a container created after the last removal would leak)."""
        with self._lock:
            if self._shutting_down:
                raise InfraError("no new containers: the process is shutting down")
            self._pending += 1
        try:
            return self.client.containers.create(image, **kwargs)
        finally:
            with self._creating:
                self._pending -= 1
                self._creating.notify_all()

    def start_env_container(
        self,
        env_id: str,
        image: str,
        *,
        cpus: float | None = 1.0,
        mem_limit: str | int | None = "1g",
        pids_limit: int | None = 256,
        network_mode: str = "bridge",
        env_kwargs: dict[str, Any] | None = None,
        token: str | None = None,
        max_sessions: int = 4,
        health_timeout_s: float = 60.0,
        shm_size: str | int | None = None,
        openenv: bool = True,
        spare_envs: int = 0,
    ) -> ContainerHandle:
        """Start ``python -m envgym serve env_id`` in ``image`` and wait until ``/health`` answers.

        ``token``: the bearer token the server requires (a random one when ``None``).  ``shm_size``:
        the size of the container's /dev/shm (``None``: the engine's default, 64 MiB).  ``openenv``:
        also serve OpenEnv's routes; ``spare_envs``: envs the server keeps built ahead of demand, with
        ``env_kwargs`` as the server's own kwargs, so the owner's sessions take them (both options
        need the image's envgym to know them).  Raises :class:`InfraError` carrying the container's
        logs when it exits or is not healthy in time.
        """
        token = token or secrets.token_urlsafe(24)
        command = [
            "python", "-m", "envgym", "serve", env_id, "--host", "0.0.0.0", "--port", str(SERVER_PORT),
            "--max-sessions", str(max_sessions), "--token", token,
            # The container serves its owner only: its sessions must not be reaped while a warm
            # pool keeps them waiting.
            "--idle-timeout", str(7 * 24 * 3600),
            # ...and it is its only client (the random token): it may send its own kwargs and tasks
            # with reward code (those run in the reward jail inside the container).
            "--allow-python-rewards", *[a for name in sorted(env_kwargs or {}) for a in ("--allow-kwarg", name)],
            *([] if openenv else ["--no-openenv"]), *_spare_options(spare_envs, env_kwargs or {}),
        ]
        handle = self.start_container(
            image, role="env-server", command=command, env_id=env_id, cpus=cpus, mem_limit=mem_limit,
            pids_limit=pids_limit, network_mode=network_mode, publish=SERVER_PORT,
            **({"shm_size": shm_size} if shm_size else {}),
        )
        handle.token = token
        handle.env_kwargs = dict(env_kwargs or {})
        try:
            self.wait_healthy(handle, health_timeout_s)
        except BaseException:
            self.remove(handle)
            raise
        return handle

    def wait_healthy(self, handle: ContainerHandle, timeout_s: float) -> None:
        """Poll ``GET /health`` until it answers 200; fail early when the container stops."""
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        next_state_check = 0.0
        last_error = "no answer yet"
        while True:
            try:
                with _NO_PROXY.open(f"{handle.url}/health", timeout=2.0) as reply:
                    if reply.status == 200:
                        return
                    last_error = f"HTTP {reply.status}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last_error = str(exc)
            now = time.monotonic()
            if now >= next_state_check:
                next_state_check = now + 0.5
                state = handle.state()
                if state.get("Status") not in ("running", "created", "configured", "initialized"):
                    raise InfraError(
                        f"container {handle.name} ({handle.env_id}) exited before it became healthy "
                        f"(status {state.get('Status')}, exit code {state.get('ExitCode')}); logs:\n{handle.logs()}"
                    )
            if now >= deadline:
                raise InfraError(
                    f"container {handle.name} ({handle.env_id}, image {handle.image}) did not answer "
                    f"{handle.url}/health within {timeout_s:g} s (last: {last_error}); logs:\n{handle.logs()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)  # a refused connection costs little; a late answer costs the caller

    # ------------------------------------------------------------------ cleanup
    def remove(self, handle: ContainerHandle) -> None:
        """Force-remove ``handle``'s container (idempotent)."""
        import docker.errors

        with self._lock:
            self._live.pop(handle.container_id, None)
            if handle.removed:
                return
            handle.removed = True
        handle.dead.set()
        for attempt in range(10):
            try:
                self.client.api.remove_container(handle.container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass
            except Exception as exc:  # the engine is gone or busy: prune will catch it later
                if "state improper" in str(exc) and attempt < 9:  # podman: a container that exited is still stopping
                    time.sleep(0.2)
                    continue
                logger.warning("could not remove container %s: %s", handle.name, exc)
            return

    def remove_all(self, parallel: bool = True) -> int:
        """Remove every container this process still owns; return how many.  ``parallel=False`` at
        interpreter exit, where no new thread may start."""
        with self._lock:
            handles = list(self._live.values())
        if parallel and len(handles) > 1:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(handles))) as executor:
                list(executor.map(self.remove, handles))
        else:
            for handle in handles:
                self.remove(handle)
        return len(handles)

    def shutdown(self, wait_s: float = 30.0) -> int:
        """At exit or SIGTERM: refuse new containers, wait (up to ``wait_s``) for creations in flight,
        then remove every container this process owns; return how many."""
        with self._creating:
            self._shutting_down = True
            self._creating.wait_for(lambda: self._pending == 0, timeout=wait_s)
        return self.remove_all(parallel=False)

    def live_handles(self) -> list[ContainerHandle]:
        with self._lock:
            return list(self._live.values())

    def list_containers(self) -> list[dict[str, Any]]:
        """Every envgym-managed container on the engine (all owners), as dicts."""
        rows = []
        for info in self.client.api.containers(all=True, filters={"label": "envgym.managed=true"}):
            labels = info.get("Labels") or {}
            rows.append({
                "id": info["Id"][:12],
                "name": (info.get("Names") or ["?"])[0].lstrip("/"),
                "image": info.get("Image"),
                "role": labels.get("envgym.role", ""),
                "env_id": labels.get("envgym.env_id", ""),
                "status": info.get("State"),
                "owner_pid": labels.get("envgym.owner_pid"),
                "owner_alive": owner_alive(labels),
                "session": labels.get("envgym.session"),
                "port": ",".join(
                    f"{p.get('IP') or '?'}:{p['PublicPort']}" for p in info.get("Ports") or [] if p.get("PublicPort")
                ),
                "created": info.get("Created"),
            })
        return rows

    def prune_containers(self, all_owners: bool = False) -> int:
        """Remove managed containers whose owner process is gone (or all of them); return the count.

        Containers of this very process are kept unless ``all_owners``.
        """
        import docker.errors

        removed = 0
        for info in self.client.api.containers(all=True, filters={"label": "envgym.managed=true"}):
            labels = info.get("Labels") or {}
            mine = labels.get("envgym.session") == SESSION_ID
            if not all_owners and (mine or owner_alive(labels)):
                continue
            try:
                self.client.api.remove_container(info["Id"], force=True, v=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            with self._lock:
                handle = self._live.pop(info["Id"], None)
            if handle is not None:
                handle.removed = True
                handle.dead.set()
        return removed

    # ------------------------------------------------------------------ monitor and hooks
    def _ensure_monitor(self) -> None:
        with self._lock:
            if self._monitor is not None and self._monitor.is_alive():
                return
            self._monitor = threading.Thread(target=self._watch, name="envgym-container-monitor", daemon=True)
            self._monitor.start()

    def _watch(self) -> None:
        """Mark handles dead when their container stops; exits when no container is owned."""
        while True:
            with self._lock:
                if not self._live:
                    self._monitor = None
                    return
            try:
                listed_at = time.monotonic()
                rows = self.client.api.containers(all=True, filters={"label": f"envgym.session={SESSION_ID}"})
                states = {row["Id"]: row.get("State") for row in rows}
                with self._lock:
                    for container_id, handle in self._live.items():
                        if handle.dead.is_set() or handle.created_at >= listed_at:
                            continue  # created after the listing: its absence means nothing
                        if states.get(container_id) in ("running", "created", "configured", "initialized"):
                            continue
                        logger.warning("container %s (%s) stopped", handle.name, handle.env_id or handle.role)
                        handle.dead.set()
            except Exception as exc:  # engine hiccup: try again next round
                logger.debug("container monitor: %s", exc)
            time.sleep(MONITOR_INTERVAL_S)

    def _install_hooks(self) -> None:
        if self._hooks_installed:
            return
        self._hooks_installed = True
        atexit.register(self.shutdown)
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread; atexit still runs
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            self.shutdown()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:  # default action: die of SIGTERM, as we would have
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:  # not the main interpreter
            pass


_RUNTIME: ContainerRuntime | None = None
_RUNTIME_LOCK = threading.Lock()


def get_runtime() -> ContainerRuntime:
    """The process-wide :class:`ContainerRuntime`."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = ContainerRuntime()
        return _RUNTIME


def start_env_container(env_id: str, image: str, **kwargs: Any) -> ContainerHandle:
    """:meth:`ContainerRuntime.start_env_container` on the process-wide runtime."""
    return get_runtime().start_env_container(env_id, image, **kwargs)


def list_containers() -> list[dict[str, Any]]:
    return get_runtime().list_containers()


def prune_containers(all_owners: bool = False) -> int:
    return get_runtime().prune_containers(all_owners=all_owners)


# ---------------------------------------------------------------------- the env wrapper
class ContainerEnv(gymnasium.Wrapper):
    """A :class:`~envgym.remote.client.RemoteEnv` whose server runs in a container it owns.

    Calls run on a worker thread while the caller waits on both the reply and the container's
    death, so a killed container raises :class:`ContainerDied` within about a second.  After a death,
    ``reset()`` starts a replacement container (``restart``, default on) — also when the engine still
    lists the container as running but its server, whose session broke, no longer answers (a server
    that exited after an infrastructure failure), and when the server dies during the reset itself:
    the failed episode stays an infrastructure failure, the next one starts cleanly.  ``close()``
    removes the container.
    """

    def __init__(
        self,
        remote: Any,
        handle: ContainerHandle,
        restart: Callable[[], tuple[Any, ContainerHandle]] | None = None,
        owns_container: bool = True,
    ):
        super().__init__(remote)
        self.handle = handle
        self._restart = restart
        self._owns_container = owns_container
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="envgym-container-env")
        self._closed = False

    @property
    def dead(self) -> bool:
        return self.handle.dead.is_set()

    @property
    def spec(self) -> Any:
        """A Gymnasium spec whose ``make()`` opens another session on this env's container (as
        ``gymnasium.utils.env_checker.check_env`` does for every render mode); the new env does not
        own the container."""
        remote_spec = getattr(self.env, "spec", None)
        if remote_spec is None:
            return None
        handle = self.handle

        def entry_point(**kwargs: Any) -> ContainerEnv:
            return ContainerEnv(remote_spec.make(**kwargs), handle, owns_container=False)

        return gymnasium.envs.registration.EnvSpec(
            id=remote_spec.id, entry_point=entry_point, kwargs=dict(remote_spec.kwargs),
            disable_env_checker=True, order_enforce=False,
        )

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise InfraError("the container env is closed")
        if self.handle.dead.is_set():
            raise ContainerDied(self.handle.death_message())
        future = self._executor.submit(method, *args, **kwargs)
        while True:
            done, _ = concurrent.futures.wait([future], timeout=MONITOR_INTERVAL_S / 2)
            if done:
                try:
                    return future.result()
                except InfraError as exc:
                    if self.handle.dead.is_set() or not self._container_running():
                        self.handle.dead.set()
                        raise ContainerDied(f"{self.handle.death_message()} ({exc})") from exc
                    raise
            if self.handle.dead.is_set():
                # The worker stays blocked until the client's own timeout; give it a fresh thread.
                self._executor.shutdown(wait=False)
                self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="envgym-container-env")
                raise ContainerDied(self.handle.death_message())

    def _container_running(self) -> bool:
        return self.handle.state().get("Status") == "running"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if (self.handle.dead.is_set() or getattr(self.env, "broken", False)) and self._server_gone():
            self._replace()
        try:
            return self._call(self.env.reset, seed=seed, options=options)
        except InfraError:
            if not self._server_gone():  # the env failed, or the link did: its server is alive
                raise
        self._replace()  # the server died before answering: this reset runs on a replacement
        return self._call(self.env.reset, seed=seed, options=options)

    def _server_gone(self) -> bool:
        """Whether the env server is gone and can be replaced: its container stopped, or it does not
        answer ``/health`` (the engine may list a container whose server has exited as running for a
        moment).  Marks the handle dead."""
        if self._restart is None or self._closed:
            return False
        if not self.handle.dead.is_set() and self.handle.answers_health():
            return False
        self.handle.dead.set()
        return True

    def step(self, action: Any):
        try:
            return self._call(self.env.step, action)
        except ContainerDied as exc:
            if getattr(self.env, "raise_on_infra_error", True):
                raise
            info = {"infra_error": f"{type(exc).__name__}: {exc}", "success": False}
            return {"text": f"The environment failed: {exc}", "last_action_error": ""}, 0.0, False, True, info

    def get_state(self) -> dict[str, Any]:
        return self._call(self.env.get_state)

    def set_state(self, state: dict[str, Any]) -> None:
        return self._call(self.env.set_state, state)

    def render(self) -> Any:
        return self._call(self.env.render)

    def _replace(self) -> None:
        assert self._restart is not None
        old_remote, old_handle = self.env, self.handle
        self._close_remote(old_remote)
        if self._owns_container:
            old_handle.remove()
        self.env, self.handle = self._restart()

    def _close_remote(self, remote: Any) -> None:
        """Close the client without waiting on a dead peer for long."""
        closer = threading.Thread(target=_quiet_close, args=(remote,), daemon=True)
        closer.start()
        closer.join(timeout=2.0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_remote(self.env)
        self._executor.shutdown(wait=False)
        if self._owns_container:
            self.handle.remove()

    def __repr__(self) -> str:
        return f"ContainerEnv({self.handle.env_id!r}, container={self.handle.name}, url={self.handle.host_port and self.handle.url})"


def _quiet_close(remote: Any) -> None:
    try:
        remote.close()
    except Exception:
        pass


def _spare_options(spare_envs: int, env_kwargs: dict[str, Any]) -> list[str]:
    """``envgym serve`` options for ``spare_envs`` spares built with the owner's ``env_kwargs`` (the
    server's own kwargs then; a kwarg JSON cannot carry stays the client's, and its sessions build
    their envs themselves)."""
    if not spare_envs:
        return []
    options = ["--spare-envs", str(int(spare_envs))]
    for name, value in sorted(env_kwargs.items()):
        try:
            options += ["--kw", f"{name}={json.dumps(value)}"]
        except (TypeError, ValueError):
            continue
    return options


def connect_remote(handle: ContainerHandle, *, connect_timeout_s: float = 10.0, step_timeout_s: float | None = 300.0,
                   raise_on_infra_error: bool = True) -> Any:
    """A :class:`~envgym.remote.client.RemoteEnv` session on ``handle``'s env server."""
    from envgym.remote.client import RemoteEnv

    return RemoteEnv(
        handle.url, handle.env_id, token=handle.token, env_kwargs=handle.env_kwargs,
        connect_timeout_s=connect_timeout_s, step_timeout_s=step_timeout_s,
        raise_on_infra_error=raise_on_infra_error,
    )


def split_container_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(container options, env constructor kwargs)`` of ``make(..., runtime="container", **kwargs)``."""
    options = {k: v for k, v in kwargs.items() if k in CONTAINER_OPTIONS}
    env_kwargs = {k: v for k, v in kwargs.items() if k not in CONTAINER_OPTIONS}
    return options, env_kwargs


def make_container_env(env_spec: Any, **kwargs: Any) -> Any:
    """``envgym.make(id, runtime="container", **kwargs)``: the env served from its own container.

    Container options (:data:`CONTAINER_OPTIONS`): ``image`` (a built tag; default: build
    ``containers/<spec.image>/`` by content hash), ``base``, ``cpus`` (1.0), ``mem_limit`` ("1g"),
    ``pids_limit`` (256), ``network_mode`` ("bridge"), ``shm_size`` (engine default) — defaults from
    :func:`container_limits` (the ``web`` image: "2g", 512 pids, "256m" shm) — the server's
    ``openenv`` and ``spare_envs`` (see :meth:`ContainerRuntime.start_env_container`; defaults per
    recipe), ``health_timeout_s`` (60) and the client's ``connect_timeout_s`` / ``step_timeout_s`` /
    ``raise_on_infra_error``.
    Everything else is an env constructor argument, sent to the server.

    Envs built on :data:`SELF_CONTAINED_IMAGES` (the code sandbox) are built in this process: their
    untrusted part already runs in a locked-down container of their own.
    """
    options, env_kwargs = split_container_options(kwargs)
    if env_spec.image in SELF_CONTAINED_IMAGES:
        for key in ("image", "cpus", "mem_limit", "pids_limit"):
            if key in options:
                env_kwargs[key] = options[key]
        return env_spec.make(**env_kwargs)
    from envgym.containers.plugin_images import image_for_spec

    image = options.get("image") or image_for_spec(env_spec, base=options.get("base"))
    client_options = {k: options[k] for k in ("connect_timeout_s", "step_timeout_s", "raise_on_infra_error") if k in options}
    runtime = get_runtime()
    limits = {**container_limits(env_spec.image),
              **{key: options[key] for key in (*DEFAULT_LIMITS, "openenv", "spare_envs") if key in options}}

    def start() -> tuple[Any, ContainerHandle]:
        try:
            handle = runtime.start_env_container(
                env_spec.id, image, **limits,
                env_kwargs=env_kwargs, health_timeout_s=options.get("health_timeout_s", 60.0),
            )
        except InfraError as exc:
            if "No environment registered as" not in str(exc):
                raise
            raise UsageError(
                f"the container from image {image} does not have {env_spec.id} (its envgym knows no such env): "
                "leave image= unset so envgym builds an overlay that installs the plugin's distribution, or "
                "register the env with image=<a recipe directory or tag whose image installs the plugin>"
            ) from exc
        try:
            return connect_remote(handle, **client_options), handle
        except BaseException:
            handle.remove()
            raise

    remote, handle = start()
    return ContainerEnv(remote, handle, restart=start)

