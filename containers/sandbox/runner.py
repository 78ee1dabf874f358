"""In-container runner of the Python sandbox (stdlib only).

``runner.py init``
    PID 1 of the sandbox container, as the ``sandbox-init`` user (not the user code runs as, so code
    cannot signal or trace it): reaps orphans (so killed snippets never pile up as zombies that count
    against the pids limit).  It installs no signal handler, so no signal sent from inside the
    container can stop it; the engine removes the container with SIGKILL.
``runner.py run TIMEOUT_S MAX_OUTPUT_BYTES ADDRESS_SPACE_BYTES B64 [B64 ...]``
    Runs one snippet (its UTF-8 source base64-encoded, split over any number of arguments) with
    ``python3 -I`` in ``/workspace``, under a wall-clock limit, an address-space rlimit, a file-size
    rlimit and an OOM score that makes it the first victim of the container's memory limit.  The
    source, stdout and stderr live in memfds, not in a directory: code that fills ``/tmp`` (or any
    other tmpfs) cannot break later calls.  The runner makes itself non-dumpable, so the snippet (same
    user) cannot ptrace it or open its descriptors through ``/proc``.  Every process the snippet left
    behind (background children, fork-bomb survivors, ``setsid`` escapees) is killed afterwards with
    ``kill(-1, SIGKILL)``, which reaches every process of this user in the container but the runner
    itself.  Prints one JSON object: ``{"stdout", "stderr", "exit_code", "timed_out", "oom_killed",
    "oom_kills", "truncated", "duration_s"}`` (``oom_kills``: the container's count so far).
``runner.py oom-kills``
    Prints the container's OOM-kill count (how the host tells a memory kill from another death).

Between episodes the host replaces the whole container (a fresh one from a warm spare), so nothing
a snippet leaves (files in any tmpfs, IPC objects, memory charged to the cgroup) reaches the next.
"""

import base64
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

WORKSPACE = "/workspace"
FILE_SIZE_LIMIT = 8 * 1024 * 1024
PR_SET_DUMPABLE = 4


def init() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        signal.sigtimedwait([signal.SIGCHLD], 60)


def _other_live_pids() -> list:
    me = os.getpid()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(name))
    return pids


def kill_leftovers() -> None:
    """Kill every other process of this user; repeat while a forking process keeps adding more."""
    for _ in range(500):
        if not _other_live_pids():
            return
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.002)


def oom_kills() -> int:
    """The container cgroup's OOM-kill counter (cgroup v2 or v1), or -1 when unreadable."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return -1


def _read_capped(fd: int, limit: int):
    data = os.pread(fd, limit + 1, 0)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def _not_dumpable() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run(timeout_s: float, max_output: int, address_space: int, chunks: list) -> dict:
    _not_dumpable()
    kill_leftovers()
    code = base64.b64decode("".join(chunks))
    script, out, err = (os.memfd_create(name, 0) for name in ("snippet.py", "stdout", "stderr"))
    os.write(script, code)

    def limit_child() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        if address_space > 0:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        try:
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write("1000")
        except OSError:
            pass

    oom_before = oom_kills()
    start = time.monotonic()
    timed_out = False
    proc = subprocess.Popen(
        [sys.executable, "-I", f"/proc/self/fd/{script}"],
        cwd=WORKSPACE, stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(script,),
        preexec_fn=limit_child, start_new_session=True,
    )
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_leftovers()
        proc.wait()
    duration = time.monotonic() - start
    kill_leftovers()
    stdout, cut_out = _read_capped(out, max_output)
    stderr, cut_err = _read_capped(err, max_output)
    oom_after = oom_kills()
    return {
        "stdout": stdout,
        "stderr": stderr,
        "exit_code": proc.returncode,
        "timed_out": timed_out,
        "oom_killed": oom_before >= 0 and oom_after > oom_before,
        "oom_kills": oom_after,
        "truncated": cut_out or cut_err,
        "duration_s": round(duration, 4),
    }


def main(argv: list) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "init":
        init()
    elif command == "run":
        result = run(float(argv[2]), int(argv[3]), int(argv[4]), argv[5:])
        sys.stdout.write(json.dumps(result))
    elif command == "oom-kills":
        sys.stdout.write(json.dumps({"oom_kills": oom_kills()}))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
