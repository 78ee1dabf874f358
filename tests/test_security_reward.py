"""Hostile reward code against the reward jail (envgym.rewards), under both boundaries.

Every payload gets what an attacker who read the code would want: the paths of a planted secret and
of a file to tamper with, the port of a loopback listener, an abstract and a path unix socket, and
the pid of a victim process — all passed in the states.  Payloads skip the static scan (they call
the jail directly) and use whatever Python offers: module attribute chains to ``os``/``sys``,
``ctypes`` syscalls, frames, descriptors.  After every payload the host must be unchanged: the
secret never appears in the result, no file is created, changed, renamed or removed, nothing
connects to the listeners, the victim and this process live, and the jail still scores correctly.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import envgym
from envgym.rewards import RewardLimits, run_call, run_calls, scan_reward_code, score_task
from envgym.rewards.jail import boundary
from envgym.rewards.scoring import recheck
from envgym.tasks import parse_task

LIMITS = RewardLimits(time_s=1.0, memory_mb=256)
GOOD = "def reward(initial, final, trajectory=None):\n    return float(final.get('x') == 1)\n"
#: Gets ``os``/``sys``/``ctypes`` and the real builtins without an import statement or a dunder name.
PRELUDE = '''
import json
sys = json.codecs.sys
os = sys.modules["os"]
ctypes = sys.modules["ctypes"]
builtins = sys.modules["builtins"]
libc = ctypes.CDLL(None, use_errno=True)
builtins.globals().update(builtins.vars(builtins))  # every real builtin back: Python-level limits are gone
'''


def payload(body: str) -> str:
    """Reward code running ``body`` (with ``initial`` = the targets) and reporting what it got."""
    lines = "\n".join("        " + line for line in body.strip().splitlines())
    return PRELUDE + f'''
def reward(initial, final, trajectory=None):
    got = []
    try:
{lines}
    except builtins.BaseException as exc:
        got.append("blocked: " + type(exc).__name__ + ": " + str(exc))
    return {{"score": 0.0, "components": {{"got": repr(got)[:150], "more": repr(got)[150:3000]}}}}
'''


@pytest.fixture(params=["bwrap", "landlock"])
def jail(request, monkeypatch):
    monkeypatch.setenv("ENVGYM_REWARD_JAIL", request.param)
    assert boundary()["backend"] == request.param
    return request.param


@dataclass
class Host:
    """The attack surface a test plants, and the checks that it is untouched."""

    dir: Path
    secret: str
    listener: socket.socket
    unix_listener: socket.socket
    abstract_listener: socket.socket
    victim: subprocess.Popen

    @property
    def targets(self) -> dict:
        return {"secret_path": str(self.dir / "secret.txt"), "keep": str(self.dir / "keep.txt"), "dir": str(self.dir),
                "port": self.listener.getsockname()[1], "unix": str(self.dir / "unix.sock"),
                "abstract": self.abstract_listener.getsockname().decode(), "victim": self.victim.pid, "host_pid": os.getpid()}

    def snapshot(self) -> dict:
        return {p.name: (p.read_bytes() if p.is_file() else None, p.stat().st_mode) for p in self.dir.iterdir()}

    def assert_unchanged(self, before: dict, result) -> None:
        text = json.dumps(result.to_json())
        assert self.secret not in text, f"the secret leaked: {text[:300]}"
        assert "root:x:0:0" not in text, "/etc/passwd leaked"
        assert self.snapshot() == before, "files in the host directory changed"
        for listener in (self.listener, self.unix_listener, self.abstract_listener):
            with pytest.raises(BlockingIOError):
                listener.accept()
        assert self.victim.poll() is None, "the victim process was killed"
        assert run_call(GOOD, {"x": 0}, {"x": 1}, limits=LIMITS).score == 1.0, "the jail no longer scores"


@pytest.fixture
def host(tmp_path):
    secret = f"envgym-secret-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(secret)
    (tmp_path / "keep.txt").write_text("keep me as I am")
    listener = socket.create_server(("127.0.0.1", 0))
    unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_listener.bind(str(tmp_path / "unix.sock"))
    abstract_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_listener.bind(f"\0envgym-test-{uuid.uuid4().hex}")
    for s in (listener, unix_listener, abstract_listener):
        s.listen(8)
        s.setblocking(False)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield Host(tmp_path, secret, listener, unix_listener, abstract_listener, victim)
    finally:
        victim.kill()
        victim.wait()
        for s in (listener, unix_listener, abstract_listener):
            s.close()


def attack(host: Host, body: str, limits: RewardLimits = LIMITS, max_seconds: float = 10.0, ran: bool = True):
    """Run the payload against the host; ``ran``: it must have run to its end (reported back)."""
    before = host.snapshot()
    start = time.monotonic()
    result = run_call(payload(body), host.targets, {"x": 1}, limits=limits)
    assert time.monotonic() - start < max_seconds, "the call outlived its limits"
    host.assert_unchanged(before, result)
    if ran:
        assert result.ok and "got" in result.components, f"the payload did not run to its end: {result}"
    assert "ALLOWED" not in json.dumps(result.to_json()), result  # payloads mark what got through
    return result


# ------------------------------------------------------------------------------- host files
FILE_ATTACKS = {
    "read_secret_via_module_chain": 'got.append(os.read(os.open(initial["secret_path"], os.O_RDONLY), 200))',
    "read_passwd_via_module_chain": 'got.append(os.read(os.open("/etc/passwd", os.O_RDONLY), 200))',
    "read_secret_via_real_builtins": 'got.append(builtins.open(initial["secret_path"]).read())',
    "read_secret_via_subclasses": '''
for c in ().__class__.__base__.__subclasses__():
    if c.__name__ == "FileIO":
        got.append(c(initial["secret_path"]).read())''',
    "read_secret_via_libc_open": '''
fd = libc.open(initial["secret_path"].encode(), 0)
buf = ctypes.create_string_buffer(200)
got.append((fd, libc.read(fd, buf, 200), buf.value))''',
    "read_secret_via_openat_dirfd": '''
d = os.open(initial["dir"], os.O_RDONLY | os.O_DIRECTORY)
got.append(os.read(os.open("secret.txt", os.O_RDONLY, dir_fd=d), 200))''',
    "list_host_dir_and_home": 'got.append((os.listdir(initial["dir"]), os.listdir("/root"), os.listdir("/home")))',
    "read_proc_of_the_host": '''
got.append(os.listdir("/proc"))
got.append(open("/proc/%d/environ" % initial["host_pid"], "rb").read())''',
    "create_file": '''
fd = os.open(initial["dir"] + "/created.txt", os.O_WRONLY | os.O_CREAT, 0o644)
got.append(os.write(fd, b"owned"))''',
    "truncate_file": 'os.truncate(initial["keep"], 0)',
    "overwrite_file": 'got.append(os.write(os.open(initial["keep"], os.O_WRONLY), b"owned"))',
    "rename_file": 'os.rename(initial["keep"], initial["keep"] + ".moved")',
    "unlink_file": 'os.unlink(initial["keep"])',
    "chmod_file": 'os.chmod(initial["keep"], 0o777)',
    "symlink_and_hardlink": 'os.symlink("/etc/passwd", initial["dir"] + "/l")\nos.link(initial["keep"], initial["dir"] + "/h")',
    "mkdir_and_mknod": 'os.mkdir(initial["dir"] + "/d")\nos.mkfifo(initial["dir"] + "/f")',
    "write_anywhere_writable": '''
for d in ("/tmp", "/var/tmp", "/dev/shm", "/", os.getcwd()):
    try:
        os.close(os.open(d + "/envgym-owned", os.O_WRONLY | os.O_CREAT, 0o644))
        got.append("ALLOWED create in " + d)
    except OSError as exc:
        got.append(d + ": " + exc.strerror)''',
}


@pytest.mark.parametrize("name", sorted(FILE_ATTACKS))
def test_file_attacks_leave_the_host_unchanged(jail, host, name):
    attack(host, FILE_ATTACKS[name])
    for path in ("/tmp/envgym-owned", "/var/tmp/envgym-owned", "/dev/shm/envgym-owned"):
        assert not os.path.exists(path)


# ------------------------------------------------------------------------------- network and IPC
NETWORK_ATTACKS = {
    "tcp_connect_loopback": '''
socket = builtins.__import__("socket")
s = socket.create_connection(("127.0.0.1", initial["port"]), timeout=0.5)
got.append("ALLOWED connect")''',
    "tcp_via_libc_socket": 'got.append("ALLOWED socket" if libc.socket(2, 1, 0) >= 0 else "no socket")',
    "raw_netlink_packet_udp_sockets": '''
for family, kind in ((2, 3), (16, 3), (17, 3), (10, 2)):
    if libc.socket(family, kind, 0) >= 0:
        got.append("ALLOWED socket %d/%d" % (family, kind))''',
    "unix_socket_path": '''
socket = builtins.__import__("socket")
s = socket.socket(socket.AF_UNIX)
s.connect(initial["unix"])
got.append("ALLOWED connect")''',
    "unix_socket_abstract": '''
socket = builtins.__import__("socket")
s = socket.socket(socket.AF_UNIX)
s.connect(initial["abstract"])
got.append("ALLOWED connect")''',
    "container_engine_socket": '''
socket = builtins.__import__("socket")
for path in ("/run/envgym/podman.sock", "/var/run/docker.sock", "/run/podman/podman.sock"):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\\r\\n\\r\\n")
        got.append("ALLOWED " + repr(s.recv(100)))
    except OSError as exc:
        got.append(path + ": " + str(exc))''',
    "sysv_and_posix_ipc_channels": '''
for name, r in (("shmget", libc.shmget(0x5EED, 4096, 0o1666)), ("msgget", libc.msgget(0x5EED, 0o1666)),
                ("semget", libc.semget(0x5EED, 1, 0o1666)), ("mq_open", libc.syscall(240, b"/envgym", 0o102, 0o666, None))):
    if r >= 0:
        got.append("ALLOWED " + name)''',
}


@pytest.mark.parametrize("name", sorted(NETWORK_ATTACKS))
def test_network_and_ipc_attacks_reach_nothing(jail, host, name):
    attack(host, NETWORK_ATTACKS[name])


# ------------------------------------------------------------------------------- processes
PROCESS_ATTACKS = {
    "kill_victim_and_parents": '''
for pid in (initial["victim"], initial["host_pid"], os.getppid(), 1, -1):
    try:
        os.kill(pid, 9)
        got.append("ALLOWED kill %d" % pid)
    except OSError as exc:
        got.append(exc.errno)''',
    "kill_process_groups": 'os.killpg(os.getpgid(initial["victim"]), 9)\ngot.append("ALLOWED killpg")',
    "sigio_to_victim_through_fcntl": '''
fcntl = builtins.__import__("fcntl")
for fd in range(0, 16):
    try:
        fcntl.fcntl(fd, fcntl.F_SETOWN, initial["victim"])
        fcntl.fcntl(fd, 10, 9)
        fcntl.fcntl(fd, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)
        os.write(fd, b"x")
        got.append("ALLOWED SIGIO on %d" % fd)
    except OSError:
        pass''',
    "pidfd_signal_via_syscall": '''
fd = libc.syscall(434, initial["victim"], 0)
if fd >= 0 or libc.syscall(424, fd, 9, None, 0) >= 0:
    got.append("ALLOWED pidfd")''',
    "ptrace_and_process_vm": '''
if libc.ptrace(16, initial["victim"], 0, 0) >= 0:
    got.append("ALLOWED ptrace")
if libc.syscall(310, initial["victim"], 0, 0, 0, 0, 0) >= 0:
    got.append("ALLOWED process_vm_readv")''',
    "prlimit_the_victim": '''
resource = builtins.__import__("resource")
resource.prlimit(initial["victim"], resource.RLIMIT_CPU, (1, 1))
got.append("ALLOWED prlimit")''',
    "fork_bomb": '''
for _ in range(10000):
    if os.fork() == 0:
        while True:
            pass
got.append("ALLOWED fork")''',
    "clone_and_vfork_syscalls": '''
for nr in (56, 57, 58, 435):
    r = libc.syscall(nr, 17, 0, 0, 0, 0) if nr != 435 else libc.syscall(nr, 0, 0)
    if r == 0:
        os._exit(0)
    if r > 0:
        got.append("ALLOWED %d" % nr)''',
    "exec_a_shell": 'os.execv("/bin/sh", ["sh", "-c", "touch /tmp/envgym-exec-owned"])',
    "exec_the_interpreter": 'os.execv(sys.executable, [sys.executable, "-c", "print(1)"])',
    "namespaces_and_mounts": '''
for nr, args in ((272, (0x10000000,)), (165, (b"none", b"/", b"tmpfs", 0, None)), (308, (0, 0)), (161, (b"/",))):
    if libc.syscall(nr, *args) >= 0:
        got.append("ALLOWED %d" % nr)''',
    "kernel_surface_syscalls": '''
for nr in (321, 298, 323, 425, 250, 319, 16 | 0x40000000, 101):
    if libc.syscall(nr, 0, 0, 0, 0, 0) >= 0:
        got.append("ALLOWED %d" % nr)''',
    "raise_own_limits": '''
resource = builtins.__import__("resource")
resource.setrlimit(resource.RLIMIT_AS, (-1, -1))
got.append("ALLOWED setrlimit")''',
}


@pytest.mark.parametrize("name", sorted(PROCESS_ATTACKS))
def test_process_attacks_touch_no_other_process(jail, host, name):
    limits_before = _limits_of(host.victim.pid)
    attack(host, PROCESS_ATTACKS[name])
    assert not os.path.exists("/tmp/envgym-exec-owned")
    assert _limits_of(host.victim.pid) == limits_before, "the victim's limits changed"


def _limits_of(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as handle:
        return handle.read()


# ------------------------------------------------------------------------------- resources
def test_memory_bomb_is_a_memory_error(jail, host):
    result = attack(host, "x = bytearray(8 << 30)\ngot.append(len(x))")
    assert "MemoryError" in result.components.get("got", "")
    raw = run_call("def reward(i, f, t=None):\n    x = 'a' * (8 << 30)\n    return 1.0", {}, {}, limits=LIMITS)
    assert (raw.ok, raw.kind) == (False, "memory")


def test_cpu_burn_ignoring_signals_hits_the_wall_clock(jail, host):
    code = PRELUDE + '''
def reward(initial, final, trajectory=None):
    signal = builtins.__import__("signal")
    for s in (signal.SIGXCPU, signal.SIGALRM, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass
'''
    start = time.monotonic()
    result = run_call(code, host.targets, {}, limits=LIMITS)
    assert (result.ok, result.kind) == (False, "timeout") and time.monotonic() - start < LIMITS.time_s + 4


def test_sleeping_past_the_limit_is_a_timeout(jail, host):
    code = PRELUDE + "def reward(initial, final, trajectory=None):\n    builtins.__import__('time').sleep(60)\n    return 1.0\n"
    start = time.monotonic()
    result = run_call(code, {}, {}, limits=LIMITS)
    assert (result.ok, result.kind) == (False, "timeout") and time.monotonic() - start < LIMITS.time_s + 4


def test_task_files_cannot_raise_their_own_limits(monkeypatch):
    monkeypatch.setenv("ENVGYM_REWARD_TIME_S", "0.5")
    task = {"task_id": "t", "env_id": "test/Count-v0", "instruction": "x",
            "reward": {"kind": "python", "params": {"time_limit_s": 20, "memory_mb": 4000},
                       "code": "def reward(i, f, t=None):\n    while f['x'] == 1:\n        pass\n    return 1.0"}}
    start = time.monotonic()
    result = score_task(task, {"x": 0}, {"x": 1})
    assert result.error and result.error.startswith("timeout") and time.monotonic() - start < 4
    monkeypatch.setenv("ENVGYM_REWARD_TIME_S", "1000")
    with pytest.raises(ValueError, match="hard upper bound"):
        score_task(task, {"x": 0}, {"x": 1})
    with pytest.raises(ValueError, match="hard upper bound"):
        RewardLimits(memory_mb=1 << 20)


# ------------------------------------------------------------------------------- the results channel
def test_forged_status_and_frames_are_not_believed(jail, host):
    forge_status = '''
for fd in range(0, 64):
    try:
        os.write(fd, b'{"exit": 0, "timed_out": false, "seconds": 0.0, "maxrss_kb": 1}\\n')
    except OSError:
        pass
while True:
    pass'''
    result = attack(host, forge_status, max_seconds=LIMITS.time_s + 6, ran=False)
    assert (result.ok, result.kind) == (False, "timeout")  # the status comes from wait4, not from the child
    forge_frame = '''
struct = builtins.__import__("struct")
body = json.dumps({"score": 1.0, "components": {"forged": True}}).encode()
for fd in range(3, 64):
    try:
        os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass'''
    result = attack(host, forge_frame, ran=False)
    assert result.score != 1.0 and not result.components.get("forged")
    old_style = 'os.write(1, json.dumps({"results": [{"score": 1.0, "components": {}}]}).encode() + b"\\n")'
    result = attack(host, old_style)
    assert result.score == 0.0 and "blocked" in result.components["got"]  # fd 1 is closed in the child


def test_oversized_output_is_capped_and_costs_the_host_nothing(jail, host):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    huge = '''
struct = builtins.__import__("struct")
chunk = b"A" * (1 << 20)
for fd in range(3, 64):
    try:
        os.write(fd, struct.pack(">I", 200 << 20))
        for _ in range(200):
            os.write(fd, chunk)
    except OSError:
        pass'''
    before_files = host.snapshot()
    result = run_call(payload(huge), host.targets, {}, limits=LIMITS)
    host.assert_unchanged(before_files, result)
    assert not result.ok and result.kind in ("bad_output", "crashed")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB: the host read at most the cap
    big = run_call("def reward(i, f, t=None):\n    return {'score': 0.5, 'components': {str(k): 'x' * 10**6 for k in range(100)}}",
                   {}, {}, limits=LIMITS)
    assert big.score == 0.5 and len(json.dumps(big.to_json())) < LIMITS.output_bytes


def test_descriptor_tricks_find_nothing_to_read_or_reopen(jail, host):
    """Read every inherited descriptor, free every slot but the result pipe (RLIMIT_NOFILE is not
    the boundary), then try to open files and sockets again."""
    body = '''
fcntl = builtins.__import__("fcntl")
for fd in range(0, 256):
    try:
        got.append((fd, os.read(fd, 100)))
    except OSError:
        pass
for fd in range(0, 1024):
    try:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:
            os.close(fd)
    except OSError:
        pass
for path in (initial["secret_path"], "/etc/shadow", "/etc/passwd", "/dev/mem", "/dev/tty", "/proc/self/mem"):
    try:
        got.append(os.read(os.open(path, os.O_RDONLY), 100))
        got.append("ALLOWED " + path)
    except OSError:
        pass
if libc.socket(2, 1, 0) >= 0:
    got.append("ALLOWED socket")'''
    attack(host, body)


def test_the_environment_holds_no_host_secret(jail, host, monkeypatch):
    monkeypatch.setenv("ENVGYM_TEST_SECRET", host.secret)  # an operator's secret in the host environment
    attack(host, "got.append(dict(os.environ))\ngot.append(os.uname().nodename)")


# ------------------------------------------------------------------------------- no state between calls
def test_no_state_carries_over_between_calls(jail):
    """Call-counting and cross-call channels: each call is a fresh child of a zygote that never
    held a job, so module globals, builtins and live objects start clean every time."""
    counting = PRELUDE + '''
def reward(initial, final, trajectory=None):
    builtins.calls = getattr(builtins, "calls", 0) + 1
    json.seen = getattr(json, "seen", []) + [final["marker"]]
    found = set()
    for o in __import__("gc").get_objects():
        values = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple, set)) else ()
        found.update(v for v in values if isinstance(v, str) and v.startswith("marker-") and len(v) > 20)
    return {"score": 0.0, "components": {"calls": builtins.calls, "seen": len(json.seen), "markers": repr(sorted(found))}}
'''
    markers = [f"marker-{uuid.uuid4().hex}" for _ in range(6)]
    results = run_calls(counting, [({}, {"marker": m}) for m in markers], limits=LIMITS)
    results += [run_call(counting, {}, {"marker": m}, limits=LIMITS) for m in markers]
    for result, marker in zip(results, markers + markers):
        assert result.ok and result.components["calls"] == 1 and result.components["seen"] == 1, result
        assert result.components["markers"] == repr([marker]), "a call found another call's data"


def test_a_reward_cannot_tell_a_check_from_a_run(jail):
    """What a reward reaches through frames and modules is the same whether the synthesis checks
    call it (many probes, another hash seed) or an env scores an episode."""
    introspect = PRELUDE + '''
def reward(initial, final, trajectory=None):
    frame, names = sys._getframe(), []
    while frame is not None:
        names.append(frame.f_code.co_name + ":" + ",".join(sorted(k for k in frame.f_locals)))
        frame = frame.f_back
    return {"score": float(final["x"] == 1), "components": {"frames": "|".join(names), "modules": len(sys.modules),
                                                            "threads": len(sys._current_frames())}}
'''
    checked = run_calls(introspect, [({"x": 0}, {"x": i}) for i in range(8)], hash_seed=1)
    task = {"task_id": "t", "env_id": "test/Count-v0", "instruction": "x", "reward": {"kind": "python", "code": introspect}}
    with pytest.MonkeyPatch.context() as patch:  # the run-time path, scan aside (this code would fail it)
        patch.setattr("envgym.rewards.scoring.scan_problem", lambda code: None)
        scored = score_task(task, {"x": 0}, {"x": 1})
    assert scored.error is None and scored.score == 1.0
    for result in checked:
        assert {k: result.components[k] for k in ("frames", "modules", "threads")} == \
            {k: scored.components[k] for k in ("frames", "modules", "threads")}
    assert "calls" not in scored.components["frames"] and "states" not in scored.components["frames"]


# ------------------------------------------------------------------------------- verification
def _settings_task(code: str, scores: dict) -> dict:
    return {"task_id": "t", "env_id": "test/Count-v0", "instruction": "x", "initial_state": {"x": 0},
            "golden": {"state": {"x": 1}}, "verification": {"scores": scores},
            "reward": {"kind": "python", "code": code}}


def test_run_time_recheck_catches_a_reward_that_changed_its_mind(jail):
    honest = _settings_task(GOOD, {"initial": 0.0, "golden": 1.0})
    assert recheck(parse_task(honest)) is None and score_task(honest, {"x": 0}, {"x": 1}).score == 1.0
    liar = _settings_task("def reward(i, f, t=None):\n    return 1.0 if f['x'] in (0, 1) else 0.0", {"initial": 0.0, "golden": 1.0})
    result = score_task(liar, {"x": 0}, {"x": 5})
    assert result.error is not None and "verification" in result.error and result.score is None


#: Pays 1 whenever it cannot see the many calls of a check (the old batch sandbox showed them in the
#: caller's frames): honest under the old checks, 1.0 for any state at run time.
FRAME_READER = PRELUDE + """
def reward(initial, final, trajectory=None):
    frame, checking = sys._getframe(), False
    while frame is not None:
        checking = checking or len(frame.f_locals.get("calls", ())) > 1
        frame = frame.f_back
    if not checking:
        return 1.0
    return float(final["prefs"].get("theme") == "dark" and final["todos"] == initial["todos"])
"""
#: Honest from its second call in a process on (the old checks' first call was reward(initial,
#: initial), which must be 0 anyway): passed the old checks, always 0 at run time.
COUNTER = PRELUDE + """
def reward(initial, final, trajectory=None):
    builtins.seen = getattr(builtins, "seen", 0) + 1
    if builtins.seen == 1:
        return 0.0
    return float(final["prefs"].get("theme") == "dark" and final["todos"] == initial["todos"])
"""


@pytest.mark.parametrize("code", [FRAME_READER, COUNTER], ids=["frame_reader", "call_counter"])
def test_checks_reject_introspective_and_counting_rewards(code, monkeypatch):
    """Both passed the old batch sandbox.  The scan refuses them; and with the scan out of the way
    (code that slipped past it), one fresh process per call makes them behave at check time as at
    run time, so the checks fail them for what a run would pay."""
    from envgym.synth import checks
    from tests.test_synth_checks import check

    assert check(code=code).failure.check == "static_scan"
    monkeypatch.setattr(checks, "scan_reward_code", lambda code, allowed=None: [])
    failure = check(code=code).failure
    assert failure is not None and failure.code in ("initial_already_passes", "golden_fails_reward", "reward_constant"), failure


def test_a_reward_that_pays_for_any_change_is_rejected_unless_that_is_the_goal():
    from tests.test_synth_checks import SPEC, check

    any_change = "def reward(i, f, t=None):\n    return float(f != i)"
    result = check(code=any_change, spec={**SPEC, "forbid_side_effects": False})
    assert result.failure is not None and result.failure.code == "reward_pays_any_change"
    result = check(code=any_change, spec={**SPEC, "forbid_side_effects": False, "any_change_is_goal": True})
    assert result.failure is None or result.failure.code != "reward_pays_any_change"


# ------------------------------------------------------------------------------- the env path
def test_env_episode_scoring_runs_jailed_and_reports_infra_errors(jail, host):
    """The env's own scoring path (``reset(options={"task": ...})``): the code is scanned, then
    jailed; code that cannot run is an infra error, never a reward."""
    env = envgym.make("test/Count-v0")
    stealing = PRELUDE + "def reward(initial, final, trajectory=None):\n    return 1.0 if final else 0.0\n"
    task = {"task_id": "t", "env_id": "test/Count-v0", "instruction": "x", "spec": {"n": 1},
            "reward": {"kind": "python", "code": stealing}}
    env.reset(options={"task": task})
    _, reward, terminated, _, info = env.step("up")
    assert terminated and reward == 0.0 and "static scan" in info["infra_error"]
    burning = {**task, "reward": {"kind": "python", "code": "def reward(i, f, t=None):\n    while f is not None:\n        pass\n    return 1.0"}}
    env.reset(options={"task": burning})
    start = time.monotonic()
    _, reward, _, _, info = env.step("up")
    assert reward == 0.0 and info["infra_error"].endswith(f"ran longer than {envgym.rewards.default_limits().time_s:g} s")
    assert time.monotonic() - start < 8
    honest = {**task, "reward": {"kind": "python", "code": "def reward(i, f, t=None):\n    return float(f['k'] == f['n'])"}}
    env.reset(options={"task": honest})
    assert env.step("up")[1:3] == (1.0, True)


def test_no_boundary_is_an_error_never_an_unsandboxed_run(monkeypatch):
    from envgym.rewards import IsolationUnavailable

    monkeypatch.setenv("ENVGYM_REWARD_JAIL", "nothing-such")
    with pytest.raises(IsolationUnavailable):
        run_call(GOOD, {"x": 0}, {"x": 1})
    assert isinstance(IsolationUnavailable("x"), envgym.InfraError)


# ------------------------------------------------------------------------------- the static scan
@pytest.mark.parametrize("code", [
    "import json\ndef reward(i, f, t=None):\n    return float(json.codecs.sys.modules['os'] is not None and f['x'])",
    "def reward(i, f, t=None):\n    g = (x for x in [f])\n    return float(getattr(getattr(g, 'gi_frame'), 'f_back') is None)",
    "def reward(i, f, t=None):\n    return float(f['x'])\n" + "x = f" + ".a" * 5000,
    "def reward(i, f, t=None):\n    return float(f['x'] == " + "[" * 5000 + "]" * 5000 + ")",
    "def reward(i, f, t=None):\n    return float(f['x'])\n" + "# " + "x" * 70000,
])
def test_scan_refuses_module_chains_frame_walks_deep_and_huge_code(code):
    assert scan_reward_code(code)


def test_parallel_scans_never_hit_the_ast_recursion_bug():
    """CPython 3.11 shares the AST constructor's recursion counter between threads: a thread
    switch inside ``ast.parse`` (a garbage collection running finalizers) made a later parse fail
    with ``SystemError: AST constructor recursion depth mismatch``.  The scan serialises parsing."""
    code = ast.unparse(ast.parse(open(ast.__file__).read())) + "\ndef reward(i, f, t=None):\n    return float(f['x'])\n"
    errors: list[str] = []

    class Finalized:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            time.sleep(0)

    def work() -> None:
        for _ in range(15):
            for _ in range(300):
                Finalized()
            try:
                scan_reward_code(code)
            except SystemError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert errors == []


def test_a_killed_zygote_is_replaced(jail):
    from envgym.rewards import jail as jail_module

    run_call(GOOD, {"x": 0}, {"x": 1}, limits=LIMITS)
    for zygotes in jail_module._POOL.idle.values():
        for zygote in zygotes:
            os.killpg(zygote.proc.pid, signal.SIGKILL)
    results = [run_call(GOOD, {"x": 0}, {"x": 1}, limits=LIMITS) for _ in range(3)]
    assert any(r.ok for r in results)
    assert run_call(GOOD, {"x": 0}, {"x": 1}, limits=LIMITS).score == 1.0
