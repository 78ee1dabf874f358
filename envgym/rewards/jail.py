"""The reward jail: untrusted reward code runs behind a kernel-enforced boundary, one fresh process
per call.

**Boundary** — chosen on first use (``$ENVGYM_REWARD_JAIL``: ``auto`` (default), ``bwrap`` or
``landlock``) and kept, and an error (:class:`IsolationUnavailable`, an :class:`envgym.InfraError`) when none
can be established; reward code never runs unsandboxed:

* ``bwrap`` (primary): bubblewrap puts the zygote in new user, pid, network, IPC, UTS, cgroup and
  mount namespaces, as uid 65534, with a read-only view of only the Python binary, its standard
  library (site-packages hidden), the C library directories and the zygote script — no ``/proc``,
  ``/dev``, ``/etc``, ``/home``, ``/tmp``, no network interface but a down loopback;
* ``landlock`` (fallback, for hosts or containers where user namespaces are off, e.g. Docker's
  default seccomp profile): the same zygote in the caller's namespaces, each child confined by
  Landlock to reading the standard library and C library directories (no writes anywhere, no
  ``/proc``, no TCP, no signals out of its domain with ABI >= 6) and, when the caller is root, run
  as uid 65534.

Both add, in every child: a seccomp filter (no sockets, processes, exec, signals, ptrace,
``prlimit``, mounts, namespaces, SysV IPC, ``ioctl``…), rlimits (address space, CPU, no file
writes, no processes, 8 descriptors) and the restricted builtins of the old sandbox.  Every zygote
is probed from inside before use (:data:`PROBE_PATHS` must be unreadable, sockets, fork, kill and
writes must fail); a hole makes it :class:`IsolationUnavailable`.

**Calls** (:func:`run_call`, :func:`run_calls`) — a warm pool of zygotes (see ``_zygote.py``) forks
one child per call, which holds nothing but the reward code and the two states: no state carries
over between calls and the code cannot see who calls it.  The job crosses as size-capped JSON on a
pipe; the result comes back on a pipe of its own (never stdout), capped, and is validated here;
whether a call timed out or crashed comes from the zygote's ``wait4`` on the child, never from the
child.  A zygote whose call did not end cleanly is killed, not reused.

**Limits** (:class:`RewardLimits`) come from the operator — arguments or ``$ENVGYM_REWARD_TIME_S``,
``$ENVGYM_REWARD_MEMORY_MB``, ``$ENVGYM_REWARD_INPUT_BYTES``, ``$ENVGYM_REWARD_OUTPUT_BYTES`` —
within hard upper bounds (:data:`BOUNDS`); never from a task file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envgym.errors import InfraError

ZYGOTE = Path(__file__).with_name("_zygote.py")
ALLOWED_MODULES = ("math", "re", "json", "itertools", "functools", "collections", "statistics", "string")
#: Host files a jailed child must not be able to read (checked from inside every new zygote).
PROBE_PATHS = ("/etc/passwd", "/etc/hostname", "/proc/self/environ", "/proc/1/cmdline", str(Path(__file__).resolve()))
NOBODY = 65534
_STARTUP_TIMEOUT_S = 20.0
#: on top of the call's own limit, how long the host waits for a zygote before killing it
_BACKSTOP_S = 5.0


#: (lowest, highest) value of every limit; the highest is a hard bound no configuration can raise
BOUNDS: dict[str, tuple[float, float]] = {"time_s": (0.01, 30.0), "memory_mb": (64, 4096),
                                          "input_bytes": (1024, 64 << 20), "output_bytes": (1024, 1 << 20)}


class IsolationUnavailable(InfraError):
    """No kernel-enforced boundary could be established for reward code (it is never run without one)."""


# ---------------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class RewardLimits:
    """Per-call limits of reward code: wall-clock seconds, address space, JSON bytes in and out."""

    time_s: float = 2.0
    memory_mb: int = 512
    input_bytes: int = 8 << 20
    output_bytes: int = 64 << 10

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < low:
                raise ValueError(f"reward limit {name} must be a number >= {low}, got {value!r}")
            if value > high:
                raise ValueError(f"reward limit {name}={value} is above its hard upper bound {high}")

    @classmethod
    def from_env(cls) -> RewardLimits:
        """The operator's limits from ``$ENVGYM_REWARD_*`` (defaults where unset)."""
        values: dict[str, Any] = {}
        for name, kind in (("time_s", float), ("memory_mb", int), ("input_bytes", int), ("output_bytes", int)):
            raw = os.environ.get(f"ENVGYM_REWARD_{name.upper()}")
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ValueError(f"$ENVGYM_REWARD_{name.upper()}={raw!r} is not a {kind.__name__}") from None
        return cls(**values)




# ---------------------------------------------------------------------------------------- results
@dataclass
class CallResult:
    """One reward call: a score in [0, 1] with components, or an error of a ``kind``: ``error``
    (the code raised or could not run), ``timeout``, ``memory``, ``bad_output``, ``crashed``."""

    score: float | None = None
    components: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        if self.ok:
            return {"score": self.score, "components": self.components}
        return {"error": self.error, "kind": self.kind}


def _result_from_frame(frame: bytes) -> CallResult:
    """A child's result frame (4-byte length + JSON), validated; anything else is ``bad_output``."""
    if len(frame) < 4 or struct.unpack(">I", frame[:4])[0] != len(frame) - 4:
        return CallResult(error="the reward process wrote no well-formed result", kind="bad_output")
    try:
        data = json.loads(frame[4:])
    except ValueError:
        return CallResult(error="the reward process wrote a result that is not JSON", kind="bad_output")
    if isinstance(data, dict) and set(data) == {"score", "components"}:
        score, components = data["score"], data["components"]
        if isinstance(score, (int, float)) and not isinstance(score, bool) and 0.0 <= score <= 1.0 \
                and isinstance(components, dict) and all(
                    isinstance(v, (bool, int, float, str)) or v is None for v in components.values()):
            return CallResult(score=float(score), components=components)
    if isinstance(data, dict) and set(data) == {"error", "kind"} and isinstance(data["error"], str) \
            and data["kind"] in ("error", "memory", "bad_output"):
        return CallResult(error=data["error"][:500], kind=data["kind"])
    return CallResult(error="the reward process wrote a malformed result", kind="bad_output")


def _result_from_status(status: dict[str, Any], limits: RewardLimits) -> CallResult:
    if status.get("timed_out"):
        return CallResult(error=f"reward() ran longer than {limits.time_s:g} s", kind="timeout")
    if status.get("signal") == signal.SIGXCPU:
        return CallResult(error="reward() used up its CPU time", kind="timeout")
    if "signal" in status:
        return CallResult(error=f"the reward process was killed by signal {status['signal']}", kind="crashed")
    return CallResult(error=f"the reward process exited with status {status.get('exit')} and no result", kind="crashed")


# ---------------------------------------------------------------------------------------- the view
def _mapped_runtime_libraries() -> list[str]:
    """The C library, math library, dynamic loader and libpython this interpreter has mapped."""
    wanted = re.compile(r"^(ld-.*\.so.*|libc\.so.*|libm\.so.*|libpython.*\.so.*)$")
    paths = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/") and wanted.match(os.path.basename(parts[5].strip())):
                paths.append(parts[5].strip())
    return sorted(set(paths))


@dataclass(frozen=True)
class _View:
    """What a jailed interpreter may read: its binary, stdlib, C libraries (and how they link)."""

    python: str
    stdlib: str
    hidden: tuple[str, ...]
    library_dirs: tuple[str, ...]
    library_files: tuple[str, ...]
    links: tuple[tuple[str, str], ...]

    @classmethod
    def of_this_interpreter(cls) -> _View:
        python = os.path.realpath(sys.executable)
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        hidden = tuple(os.path.join(stdlib, d) for d in ("site-packages", "dist-packages")
                       if os.path.isdir(os.path.join(stdlib, d)))
        dirs, files = set(), set()
        for path in _mapped_runtime_libraries():
            real = os.path.realpath(path)
            (files if "libpython" in os.path.basename(real) else dirs).add(real if "libpython" in real else os.path.dirname(real))
        dirs.update(d for d in ("/usr/lib64", "/lib64") if os.path.isdir(d) and not os.path.islink(d))
        if os.path.isfile("/etc/ld.so.cache"):
            files.add("/etc/ld.so.cache")
        links = tuple((os.readlink(p), p) for p in ("/lib", "/lib64", "/lib32", "/libx32") if os.path.islink(p))
        return cls(python, stdlib, hidden, tuple(sorted(dirs)), tuple(sorted(files)), links)

    def readable_paths(self) -> list[str]:
        """Landlock read rules: the stdlib's entries except the hidden ones, libraries, the binary."""
        entries = [os.path.join(self.stdlib, e) for e in sorted(os.listdir(self.stdlib))]
        return [e for e in entries if e not in self.hidden] + list(self.library_dirs) + list(self.library_files) + [self.python]

    def bwrap_args(self, zygote_path: str) -> list[str]:
        args = ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "jail",
                "--clearenv", "--chdir", "/"]
        for target, link in self.links:
            args += ["--symlink", target, link]
        for path in (self.python, self.stdlib, *self.library_dirs, *self.library_files):
            args += ["--ro-bind", path, path]
        for path in self.hidden:
            args += ["--tmpfs", path, "--remount-ro", path]
        return args + ["--ro-bind", str(ZYGOTE), zygote_path, "--remount-ro", "/"]


def _python_flags() -> list[str]:
    # -s -S: no site, no user site; -B: never write bytecode; -P (3.11+): no script dir on sys.path.
    # No -E/-I: the environment is ours (clean), and PYTHONHASHSEED must reach the interpreter.
    return ["-s", "-S", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])


# ---------------------------------------------------------------------------------------- zygotes
@dataclass(frozen=True)
class _Key:
    backend: str
    hash_seed: int
    limits: RewardLimits
    modules: tuple[str, ...]


class _Zygote:
    """One jailed fork server and the pipes to it; serves one call at a time."""

    def __init__(self, key: _Key, view: _View):
        control_r, self.control = os.pipe()
        job_r, self.job = os.pipe()
        self.result, result_w = os.pipe()
        config = {"time_s": key.limits.time_s, "memory_mb": key.limits.memory_mb,
                  "input_bytes": key.limits.input_bytes, "output_bytes": key.limits.output_bytes,
                  "allowed_modules": list(key.modules), "job_fd": job_r, "result_fd": result_w,
                  "landlock_paths": view.readable_paths() if key.backend == "landlock" else None}
        env = {"PYTHONHASHSEED": str(key.hash_seed), "LC_ALL": "C.UTF-8"}
        if key.backend == "bwrap":
            argv = [shutil.which("bwrap") or "bwrap", *view.bwrap_args("/jail/zygote.py")]
            argv += [a for k, v in env.items() for a in ("--setenv", k, v)]
            argv += ["--", view.python, *_python_flags(), "/jail/zygote.py", json.dumps(config)]
        else:
            argv = [view.python, *_python_flags(), str(ZYGOTE), json.dumps(config)]
        try:
            self.proc = subprocess.Popen(argv, stdin=control_r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         pass_fds=(job_r, result_w), env=env, cwd="/", start_new_session=True)
        except OSError as exc:
            for fd in (control_r, job_r, result_w, self.control, self.job, self.result):
                os.close(fd)
            raise IsolationUnavailable(f"{key.backend}: cannot start the jail: {exc}") from exc
        for fd in (control_r, job_r, result_w):
            os.close(fd)
        self.key = key
        self.facts: dict[str, Any] = {}
        self.status = self.proc.stdout.fileno()
        self._lines = b""
        for fd in (self.job, self.result, self.status):
            os.set_blocking(fd, False)
        if self._read_line(time.monotonic() + _STARTUP_TIMEOUT_S) is None:
            self.kill()
            raise IsolationUnavailable(f"{key.backend}: the jail did not start: {self._stderr()}")

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        while b"\n" not in self._lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.status], [], [], remaining)[0]:
                return None
            chunk = os.read(self.status, 4096)
            if not chunk:
                return None
            self._lines += chunk
        line, self._lines = self._lines.split(b"\n", 1)
        return json.loads(line)

    def call(self, job: bytes) -> tuple[CallResult, bool]:
        """Run one job; ``(result, healthy)`` — an unhealthy zygote must be killed, not reused."""
        frame, failure = self.exchange(job)
        if failure is not None:
            return failure, False
        return _result_from_frame(frame), True

    def exchange(self, job: bytes) -> tuple[bytes, CallResult | None]:
        """Send one job, wait for its child: ``(result frame, None)``, or ``(b"", failure)`` when the
        call did not end cleanly (then the zygote must be killed)."""
        limits = self.key.limits
        payload = struct.pack(">Q", len(job)) + job
        try:
            os.write(self.control, b"g")
        except OSError:
            return b"", CallResult(error=f"the reward jail died: {self._stderr()}", kind="crashed")
        frame, status = b"", None
        deadline = time.monotonic() + limits.time_s + _BACKSTOP_S
        cap = limits.output_bytes + 4
        while status is None:
            writers = [self.job] if payload else []
            readable, writable, _ = select.select([self.status, self.result], writers, [], max(0.0, deadline - time.monotonic()))
            if not readable and not writable:
                return b"", CallResult(error=f"the reward jail did not answer within {limits.time_s + _BACKSTOP_S:g} s",
                                       kind="timeout")
            if writable:
                payload = payload[_write_some(self.job, payload):]
            if self.result in readable:
                frame += _read_available(self.result, cap + 1 - len(frame))
                if len(frame) > cap:
                    return b"", CallResult(error=f"the reward wrote more than {limits.output_bytes} bytes of result",
                                           kind="bad_output")
            if self.status in readable:
                status = self._read_line(deadline)
                if status is None:
                    return b"", CallResult(error=f"the reward jail died: {self._stderr()}", kind="crashed")
        frame += _read_available(self.result, cap + 1 - len(frame))
        if status.get("exit") != 0 or status.get("timed_out"):
            return b"", _result_from_status(status, limits)
        if payload or len(frame) > cap:
            return b"", CallResult(error="the reward process did not read its whole job or wrote too much", kind="crashed")
        return frame, None

    def _stderr(self) -> str:
        try:
            os.set_blocking(self.proc.stderr.fileno(), False)
            return (self.proc.stderr.read(4000) or b"").decode("utf-8", "replace").strip()[-600:] or "no message"
        except (OSError, ValueError, TypeError):
            return "no message"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.forget()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def forget(self) -> None:
        """Close this process's ends of the pipes (the zygote sees EOF and exits)."""
        for fd in (self.control, self.job, self.result):
            with contextlib.suppress(OSError):
                os.close(fd)
        for stream in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()


def _write_some(fd: int, data: bytes) -> int:
    try:
        return os.write(fd, data[: 1 << 20])
    except OSError:  # full (the status line tells what became of the child) or gone
        return 0


def _read_available(fd: int, limit: int) -> bytes:
    out = b""
    while len(out) < limit:
        try:
            chunk = os.read(fd, min(1 << 16, limit - len(out)))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return out


# ---------------------------------------------------------------------------------------- the pool
class _Pool:
    """Idle zygotes by key.  Reset in a forked child (the zygotes belong to the parent)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: dict[_Key, list[_Zygote]] = {}
        self.max_idle = min(16, 2 * (os.cpu_count() or 1))  # per key: ~12 MB each

    def acquire(self, key: _Key, view: _View) -> _Zygote:
        while True:
            with self.lock:
                idle = self.idle.get(key)
                zygote = idle.pop() if idle else None
            if zygote is None:
                break
            if zygote.proc.poll() is None:
                return zygote
            zygote.kill()  # died while idle (killed from outside): take the next one
        zygote = _Zygote(key, view)
        try:
            _check_probe(zygote)
        except BaseException:
            zygote.kill()
            raise
        return zygote

    def release(self, zygote: _Zygote) -> None:
        with self.lock:
            idle = self.idle.setdefault(zygote.key, [])
            if len(idle) < self.max_idle:
                idle.append(zygote)
                return
        zygote.kill()

    def close(self, *, wait_s: float | None = 2.0) -> None:
        """End the idle zygotes: each sees EOF and exits (``wait_s`` each, then killed);
        ``wait_s=None``: only let go of them (after a fork, they belong to the parent)."""
        with self.lock:
            zygotes = [z for idle in self.idle.values() for z in idle]
            self.idle.clear()
        for zygote in zygotes:
            zygote.forget()
        for zygote in zygotes if wait_s is not None else ():
            try:
                zygote.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                zygote.kill()


def _check_probe(zygote: _Zygote) -> None:
    """Ask a fresh child what its lockdown blocks; any hole makes the jail unusable."""
    frame, failure = zygote.exchange(json.dumps({"probe": list(PROBE_PATHS)}).encode())
    if failure is not None:
        raise IsolationUnavailable(f"{zygote.key.backend}: the jail's probe failed: {failure.error}")
    try:
        facts = json.loads(frame[4:])["probe"]
    except (ValueError, KeyError, TypeError):
        raise IsolationUnavailable(f"{zygote.key.backend}: the jail's probe wrote no facts") from None
    uid = NOBODY if zygote.key.backend == "bwrap" or os.geteuid() == 0 else os.geteuid()
    holes = [name for name in ("seccomp", "socket_blocked", "fork_blocked", "kill_blocked", "write_blocked")
             if facts.get(name) is not True]
    if facts.get("readable"):
        holes.append(f"readable host files {facts['readable']}")
    if facts.get("uid") != uid:
        holes.append(f"runs as uid {facts.get('uid')}, not {uid}")
    if holes:
        raise IsolationUnavailable(f"{zygote.key.backend}: the jail has holes: {', '.join(holes)}")
    zygote.facts = facts


_POOL = _Pool()
#: $ENVGYM_REWARD_JAIL value -> {"backend", "view", "facts"} of the boundary it chose
_BOUNDARIES: dict[str, dict[str, Any]] = {}
_BACKEND_LOCK = threading.Lock()
_EXECUTOR: ThreadPoolExecutor | None = None


def _after_fork_in_child() -> None:
    global _POOL, _EXECUTOR
    _POOL.close(wait_s=None)
    _POOL = _Pool()
    _EXECUTOR = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _backend(modules: tuple[str, ...]) -> tuple[str, _View]:
    """The boundary for ``$ENVGYM_REWARD_JAIL`` (chosen on first use and kept); raises
    :class:`IsolationUnavailable` with every candidate's reason when there is none."""
    wanted = os.environ.get("ENVGYM_REWARD_JAIL", "auto").strip().lower() or "auto"
    chosen = _BOUNDARIES.get(wanted)
    if chosen is not None:
        return chosen["backend"], chosen["view"]
    if wanted not in ("auto", "bwrap", "landlock"):
        raise IsolationUnavailable(f"$ENVGYM_REWARD_JAIL={wanted!r}: expected auto, bwrap or landlock")
    with _BACKEND_LOCK:
        if wanted in _BOUNDARIES:
            return _BOUNDARIES[wanted]["backend"], _BOUNDARIES[wanted]["view"]
        view = _View.of_this_interpreter()
        reasons = []
        for name in ("bwrap", "landlock") if wanted == "auto" else (wanted,):
            if name == "bwrap" and shutil.which("bwrap") is None:
                reasons.append("bwrap: bubblewrap is not installed (apt-get install bubblewrap)")
                continue
            try:
                zygote = _POOL.acquire(_Key(name, 0, RewardLimits(), modules), view)
            except IsolationUnavailable as exc:
                reasons.append(str(exc))
                continue
            _POOL.release(zygote)
            _BOUNDARIES[wanted] = {"backend": name, "view": view, "facts": zygote.facts}
            return name, view
        raise IsolationUnavailable("no isolation boundary for reward code: " + "; ".join(reasons))


def boundary() -> dict[str, Any]:
    """The boundary in use: ``{"backend", "facts"}`` (``facts``: what a child's lockdown blocked,
    probed from inside)."""
    backend, _ = _backend(ALLOWED_MODULES)
    facts = next(b["facts"] for b in _BOUNDARIES.values() if b["backend"] == backend)
    return {"backend": backend, "facts": dict(facts)}


def boundary_name() -> str:
    """A one-line description of the boundary in use."""
    info = boundary()
    if info["backend"] == "bwrap":
        return "bwrap (user, pid, net, ipc, uts, cgroup, mount namespaces; uid 65534) + seccomp + rlimits"
    return "landlock (filesystem, TCP, signal scoping) + seccomp + rlimits"


# ---------------------------------------------------------------------------------------- calls
def run_call(code: str, initial: Any, final: Any, *, limits: RewardLimits | None = None, hash_seed: int = 0,
             allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> CallResult:
    """``reward(initial, final)`` of ``code`` in a fresh jailed process (see the module docstring).
    Raises :class:`IsolationUnavailable` when no boundary can be established."""
    limits = limits or default_limits()
    try:
        job = json.dumps({"code": code, "initial": initial, "final": final}, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        return CallResult(error=f"the states are not JSON: {exc}", kind="error")
    if len(job) > limits.input_bytes:
        return CallResult(error=f"code and states take {len(job)} bytes, above the limit of {limits.input_bytes}",
                          kind="error")
    backend, view = _backend(tuple(allowed_modules))
    zygote = _POOL.acquire(_Key(backend, int(hash_seed), limits, tuple(allowed_modules)), view)
    try:
        result, healthy = zygote.call(job)
    except BaseException:
        zygote.kill()
        raise
    if healthy:
        _POOL.release(zygote)
    else:
        zygote.kill()
    return result


def run_calls(code: str, pairs: list[tuple[Any, Any]], *, limits: RewardLimits | None = None, hash_seed: int = 0,
              allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> list[CallResult]:
    """:func:`run_call` for each ``(initial, final)`` pair, a fresh process each, run side by side."""
    global _EXECUTOR
    if len(pairs) <= 1:
        return [run_call(code, i, f, limits=limits, hash_seed=hash_seed, allowed_modules=allowed_modules) for i, f in pairs]
    with _BACKEND_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="envgym-reward")
        executor = _EXECUTOR
    futures = [executor.submit(run_call, code, i, f, limits=limits, hash_seed=hash_seed, allowed_modules=allowed_modules)
               for i, f in pairs]
    return [future.result() for future in futures]


def default_limits() -> RewardLimits:
    """The operator's limits (``$ENVGYM_REWARD_*``, read at every call: cheap, and always current)."""
    return RewardLimits.from_env()


def close_jails() -> None:
    """End this process's warm zygotes (they are started again on the next call)."""
    _POOL.close()


import atexit  # noqa: E402

atexit.register(close_jails)
