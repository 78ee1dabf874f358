"""In-container runner of the Python sandbox (stdlib only; runs as the unprivileged ``sandbox`` user).

``runner.py init``
    PID 1 of the sandbox container: reaps orphans (so killed snippets never pile up as zombies that
    count against the pids limit) and exits on SIGTERM.
``runner.py run TIMEOUT_S MAX_OUTPUT_BYTES ADDRESS_SPACE_BYTES B64 [B64 ...]``
    Runs one snippet (its UTF-8 source base64-encoded, split over any number of arguments) with
    ``python3 -I`` in ``/workspace``, under a wall-clock limit, an address-space rlimit, a file-size
    rlimit and an OOM score that makes it the first victim of the container's memory limit.  Every
    process the snippet left behind (background children, fork-bomb survivors, ``setsid`` escapees)
    is killed afterwards with ``kill(-1, SIGKILL)``, which reaches every process of this user in the
    container except PID 1 and the runner itself.  Prints one JSON object:
    ``{"stdout", "stderr", "exit_code", "timed_out", "oom_killed", "truncated", "duration_s"}``.
``runner.py reset``
    Kills every leftover process and empties ``/workspace`` and ``/tmp`` (a new episode).
"""

import base64
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

WORKSPACE = "/workspace"
SCRATCH = "/tmp/.envgym-runner"
FILE_SIZE_LIMIT = 8 * 1024 * 1024


def init() -> None:
    def stop(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
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
    """Kill every process but PID 1 and this one; repeat while a forking process keeps adding more."""
    for _ in range(500):
        if not _other_live_pids():
            return
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.002)


def _oom_kills() -> int:
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


def _read_capped(path: str, limit: int):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def run(timeout_s: float, max_output: int, address_space: int, chunks: list) -> dict:
    kill_leftovers()
    os.makedirs(SCRATCH, exist_ok=True)
    code = base64.b64decode("".join(chunks)).decode("utf-8")
    script = os.path.join(SCRATCH, "snippet.py")
    out_path, err_path = os.path.join(SCRATCH, "stdout"), os.path.join(SCRATCH, "stderr")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(code)

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

    oom_before = _oom_kills()
    start = time.monotonic()
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", script],
            cwd=WORKSPACE,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=limit_child,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_leftovers()
            proc.wait()
    duration = time.monotonic() - start
    kill_leftovers()
    oom_after = _oom_kills()
    stdout, cut_out = _read_capped(out_path, max_output)
    stderr, cut_err = _read_capped(err_path, max_output)
    return {
        "stdout": stdout,
        "stderr": stderr,
        "exit_code": proc.returncode,
        "timed_out": timed_out,
        "oom_killed": oom_before >= 0 and oom_after > oom_before,
        "truncated": cut_out or cut_err,
        "duration_s": round(duration, 4),
    }


def reset() -> None:
    kill_leftovers()
    for root in (WORKSPACE, "/tmp"):
        for name in os.listdir(root):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def main(argv: list) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "init":
        init()
    elif command == "run":
        result = run(float(argv[2]), int(argv[3]), int(argv[4]), argv[5:])
        sys.stdout.write(json.dumps(result))
    elif command == "reset":
        reset()
        sys.stdout.write(json.dumps({"ok": True}))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
