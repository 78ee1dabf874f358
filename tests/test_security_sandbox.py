"""PythonSandbox under attack: nothing survives an episode, nothing the code does breaks the runner,
and a container killed from outside is an infra failure, not the code's memory use.

Real containers (the engine fixture of ``tests/conftest.py``).  Each attack is code an agent could
send through ``python(code)``; the checks run as code too, in the next call or the next episode.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time

import pytest
from envgym.envs.python_sandbox import PythonSandboxEnv

import envgym
from envgym.containers.engine import docker_client

ENV_ID = "envgym/PythonSandbox-v0"
TASK = "binary-2024"
SECRET = "envgym-cached-answer-7f3a91"
#: Every path the code may write to (anything else writable would be a path reset must know about).
WRITABLE = {"/workspace", "/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"}
TMPFS = ("/workspace", "/tmp", "/var/tmp", "/dev/shm")

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def env(engine):
    sandbox = envgym.make(ENV_ID, time_limit_s=8.0)
    sandbox.reset(options={"task": TASK})
    yield sandbox.unwrapped
    sandbox.close()


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def run_json(env: PythonSandboxEnv, text: str) -> dict:
    result = env.runner.run(code(text), timeout_s=env.time_limit_s, max_output_bytes=200_000)
    assert result.exit_code == 0 and not result.sandbox_restarted, result
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_serving(env: PythonSandboxEnv) -> None:
    result = env.run_code("print(6 * 7)")
    assert result.exit_code == 0 and result.stdout.strip() == "42", result


WRITABLE_PATHS = """
    import json, os
    found = []
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys")) or root.startswith(tuple(p + "/" for p in found)):
            dirs[:] = []
            continue
        if os.access(root, os.W_OK):
            found.append(root)
            dirs[:] = []
            continue
        found += [os.path.join(root, f) for f in files if os.access(os.path.join(root, f), os.W_OK)
                  and not os.path.join(root, f).startswith("/dev/")]
    print(json.dumps({"writable": found}))
"""

PLANT = f"""
    import ctypes, json, os, subprocess, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    SECRET = {SECRET!r}
    for top in {TMPFS!r}:
        os.makedirs(f"{{top}}/.cache/ro", exist_ok=True)
        with open(f"{{top}}/.cache/ro/answer.txt", "w") as handle:
            handle.write(SECRET)
        os.chmod(f"{{top}}/.cache/ro/answer.txt", 0)
        os.chmod(f"{{top}}/.cache/ro", 0o500)      # a read-only directory: its file cannot be unlinked
        os.chmod(f"{{top}}/.cache", 0o100)         # and its parent is execute-only
        os.mkfifo(f"{{top}}/fifo")
        os.symlink("/proc/self/environ", f"{{top}}/link")
        filled, n = 0, 0
        try:                                        # fill the tmpfs: memory charged to the container
            while True:
                with open(f"{{top}}/fill{{n}}", "wb") as handle:
                    handle.write(os.urandom(4 << 20))
                filled, n = filled + (4 << 20), n + 1
        except OSError:
            pass
    shmid = libc.shmget(0x5EC7E7, 8 << 20, 0o1000 | 0o666)        # SysV shared memory, IPC_CREAT
    address = libc.shmat(shmid, None, 0)
    ctypes.memset(address, 1, 8 << 20)
    ctypes.memmove(address, SECRET.encode(), len(SECRET))
    libc.msgget(0x5EC7E8, 0o1000 | 0o666)                          # a SysV message queue
    mq = libc.mq_open(b"/answer", os.O_CREAT | os.O_RDWR, 0o600, None)  # a POSIX message queue
    libc.mq_send(mq, SECRET.encode(), len(SECRET), 0)
    survivor = subprocess.Popen([sys.executable, "-c",
        "import os, time\\nos.setsid()\\nwhile True:\\n    open('/tmp/alive', 'w').write('x'); time.sleep(0.05)"],
        start_new_session=True)
    usage = [open(p).read() for p in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
             if os.path.exists(p)][0]
    print(json.dumps({{"shmid": shmid, "mq": mq, "memory": int(usage)}}))
"""

INSPECT = f"""
    import json, os, subprocess
    SECRET = {SECRET!r}
    listing = {{top: sorted(os.listdir(top)) for top in {sorted(WRITABLE)!r}}}
    ipc = {{kind: open(f"/proc/sysvipc/{{kind}}").read().splitlines()[1:] for kind in ("shm", "msg", "sem")}}
    procs = [p for p in os.listdir("/proc") if p.isdigit()]
    usage = [open(p).read() for p in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
             if os.path.exists(p)][0]
    found = subprocess.run(["grep", "-rl", SECRET, "/workspace", "/tmp", "/var/tmp", "/dev/shm"],
                           capture_output=True, text=True).stdout.split()
    data = b"\\x01" * (150 << 20)                   # the allocation that OOMed after a dirty reset
    print(json.dumps({{"listing": listing, "ipc": ipc, "procs": len(procs), "memory": int(usage),
                      "found": found, "allocated": len(data)}}))
"""


def test_only_the_known_tmpfs_paths_are_writable(env):
    assert set(run_json(env, WRITABLE_PATHS)["writable"]) == WRITABLE


def test_reset_leaves_nothing_of_the_last_episode(env):
    env.reset(options={"task": TASK})
    planted = run_json(env, PLANT)
    assert planted["shmid"] >= 0 and planted["mq"] >= 0
    assert planted["memory"] > 100 << 20, "the attack charges the container's memory"
    time.sleep(0.2)
    assert env.run_code("print(open('/tmp/alive').read())").stdout.strip() == ""  # the survivor was killed…
    first = env.runner.handle.container_id
    env.reset(options={"task": TASK})  # …and the next episode starts on a clean slate
    assert env.runner.handle.container_id != first
    seen = run_json(env, INSPECT)
    assert seen["listing"] == {top: [] for top in sorted(WRITABLE)}, seen["listing"]
    assert seen["ipc"] == {"shm": [], "msg": [], "sem": []}
    assert seen["found"] == [] and SECRET not in json.dumps(seen)
    assert seen["procs"] <= 3  # PID 1, the runner, the inspecting snippet
    assert seen["memory"] < 80 << 20, f"{seen['memory'] >> 20} MiB still charged"
    assert seen["allocated"] == 150 << 20
    assert set(run_json(env, WRITABLE_PATHS)["writable"]) == WRITABLE


def test_the_replaced_container_is_removed(env):
    env.reset(options={"task": TASK})
    old = env.runner.handle.container_id
    env.reset(options={"task": TASK})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if old not in {c["Id"] for c in docker_client().api.containers(all=True)}:
            return
        time.sleep(0.2)
    pytest.fail("the last episode's container is still there")


def test_full_tmpfs_do_not_break_later_calls(env):
    env.reset(options={"task": TASK})
    run_json(env, f"""
        import json, os
        for top in {TMPFS!r}:
            n = 0
            try:
                while True:
                    with open(f"{{top}}/fill{{n}}", "wb") as handle:
                        handle.write(b"x" * (4 << 20))
                    n += 1
            except OSError:
                pass
            try:
                with open(f"{{top}}/last", "wb", buffering=0) as handle:  # and the last bytes, to the brim
                    while True:
                        handle.write(b"x" * 4096)
            except OSError:
                pass
        print(json.dumps({{top: os.statvfs(top).f_bavail for top in {TMPFS!r}}}))
    """)
    assert_serving(env)
    failing = env.run_code("raise ValueError('still reported')")
    assert failing.exit_code == 1 and "ValueError: still reported" in failing.stderr
    loud = env.run_code("print('y' * 100000)")
    assert loud.exit_code == 0 and loud.truncated and loud.stdout.startswith("yyy")
    forked = env.run_code("import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'print(5)'], capture_output=True, text=True).stdout)")
    assert forked.stdout.strip() == "5"
    assert not any(r.sandbox_restarted for r in (failing, loud, forked))


def test_code_can_neither_signal_nor_trace_pid_1(env):
    env.reset(options={"task": TASK})
    pid1 = docker_client().api.inspect_container(env.runner.handle.container_id)["State"]["Pid"]
    outcome = run_json(env, """
        import ctypes, json, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        results = {}
        for sig in range(1, 32):
            try:
                os.kill(1, sig)
                results[sig] = "sent"
            except OSError as exc:
                results[sig] = exc.errno
        attach = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH
        print(json.dumps({"signals": results, "ptrace": [attach, ctypes.get_errno()]}))
    """)
    assert set(outcome["signals"].values()) == {1}, outcome  # EPERM for every signal
    assert outcome["ptrace"] == [-1, 1]
    state = docker_client().api.inspect_container(env.runner.handle.container_id)["State"]
    assert state["Running"] and state["Pid"] == pid1
    assert_serving(env)


def test_code_cannot_trace_the_runner_or_forge_its_reply(env):
    env.reset(options={"task": TASK})
    result = env.runner.run(code("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        runner = os.getppid()
        print("ptrace", libc.ptrace(16, runner, None, None), ctypes.get_errno())
        for fd in (0, 1, 2):
            try:
                with open(f"/proc/{runner}/fd/{fd}", "w") as handle:
                    handle.write('{"stdout": "forged", "stderr": "", "exit_code": 0}')
                print("wrote", fd)
            except OSError as exc:
                print("denied", fd, exc.errno)
    """), timeout_s=5.0, max_output_bytes=10_000)
    assert result.exit_code == 0 and not result.sandbox_restarted, result
    lines = result.stdout.splitlines()
    assert lines[0] == "ptrace -1 1" and lines[1:] == ["denied 0 13", "denied 1 13", "denied 2 13"], lines
    assert_serving(env)


def test_code_that_kills_its_runner_restarts_the_sandbox_and_is_not_called_a_memory_kill(env):
    env.reset(options={"task": TASK})
    result = env.run_code("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert result.sandbox_restarted and not result.oom_killed, result
    assert "memory" not in result.note
    assert_serving(env)


def test_memory_exhaustion_is_reported_as_the_memory_limit(env):
    env.reset(options={"task": TASK})
    result = env.run_code("chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (8 << 20))")
    assert result.oom_killed or result.exit_code == -9, result
    obs, *_ = env.step({"name": "python", "arguments": {"code": "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (8 << 20))"}})
    assert "memory limit" in obs["text"], obs["text"]
    assert_serving(env)


def test_pid_1_killed_from_outside_during_a_call_is_an_infra_error(env):
    env.reset(options={"task": TASK})
    pid1 = docker_client().api.inspect_container(env.runner.handle.container_id)["State"]["Pid"]
    threading.Timer(1.0, os.kill, (pid1, signal.SIGKILL)).start()
    with pytest.raises(envgym.InfraError) as caught:
        env.step({"name": "python", "arguments": {"code": "import time\ntime.sleep(5)\nprint('done')"}})
    message = str(caught.value)
    assert "from outside the sandbox" in message and "memory" not in message and "OOM" not in message, message
    env.reset(options={"task": TASK})
    assert_serving(env)


def test_pid_1_killed_between_calls_is_an_infra_error_recorded_by_the_episode_loop(env):
    from envgym.agents.loop import run_episode

    class Killer:
        name = "killer"

        def __init__(self):
            self.turn = 0

        def reset(self, *args, **kwargs):
            self.turn = 0

        def act(self, observation, info):
            self.turn += 1
            if self.turn == 2:
                docker_client().api.kill(env.runner.handle.container_id)
                time.sleep(1.0)
            return {"name": "python", "arguments": {"code": "print(1)"}}

    episode = run_episode(env, Killer(), task=TASK)
    assert episode.infra_error and "memory" not in episode.infra_error and not episode.success
    env.reset(options={"task": TASK})
    assert_serving(env)
