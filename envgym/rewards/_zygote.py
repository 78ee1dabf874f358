"""Inside the reward jail: a fork server whose every call runs in a fresh, locked-down child.

Self-contained (standard library only, nothing from envgym): it runs as
``python -s -S -B -P _zygote.py CONFIG`` in a bare interpreter, under bubblewrap or on its own
(see :mod:`envgym.rewards.jail`).  It imports the allowed modules, then locks itself down for
good — uid 65534 when it is root outside a user namespace, no new privileges, Landlock
(``landlock`` boundary: read-only access to the standard library and C libraries only, no TCP, no
signals or abstract sockets out of the domain), a seccomp filter (no ``socket``, ``execve``,
``ptrace``, ``prlimit``, mounts, namespaces, SysV IPC, ``ioctl``, ``fcntl`` beyond
F_GETFL/F_SETFD…; only what forking and reaping its children needs stays open), no file writes —
prints ``{"ready": true}`` and then, for every byte ``g`` read on stdin, forks a child that
inherits all of it:

* the **child** closes every descriptor but the job pipe and the result pipe, reads one job
  (``{"code", "initial", "final"}`` framed by an 8-byte length) from the job pipe, closes it, adds
  its own limits — address space, CPU, no processes, 8 descriptors, and a second seccomp filter
  without ``fork``/``clone``/``kill``/``pidfd_open`` — and only then compiles and runs the untrusted
  code, writes its result (framed by a 4-byte length) to the result pipe and exits;
* the **zygote** never reads a job or a result, so no child can find another call's data in the
  memory it inherits.  It waits for the child (``pidfd`` + ``select``), kills it at the wall-clock
  limit, and prints one status line: ``{"exit" | "signal", "timed_out", "seconds", "maxrss_kb"}``.

A job ``{"probe": [paths]}`` makes the child report what its lockdown blocks instead of running
code (the host refuses a jail whose probe shows a hole).
"""

import ctypes
import json
import math
import os
import resource
import select
import signal
import struct
import sys
import time

SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset",
    "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "chr", "ord", "format", "bin", "hex", "oct", "callable",
    "Exception", "ValueError", "KeyError", "TypeError", "IndexError", "AttributeError",
    "ZeroDivisionError", "StopIteration", "ArithmeticError", "LookupError", "RuntimeError",
    "True", "False", "None", "NotImplemented",
)
NOBODY = 65534

# ---------------------------------------------------------------------------- seccomp (x86_64)
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SYS_FCNTL = 72
#: What the zygote needs (forking, signalling its children; setting a child's rlimits before the
#: child's own filter), denied to children.
CHILD_ONLY_DENIED_X86_64 = (56, 57, 58, 62, 434, 160, 302)  # clone fork vfork kill pidfd_open setrlimit prlimit64
#: fcntl commands a child may use: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC
#: (no F_SETFL/F_SETOWN/F_SETSIG/F_SETPIPE_SZ: they would touch the pipes it shares with later calls)
FCNTL_ALLOWED = (0, 1, 2, 3, 1030)
#: x86_64 system calls a child gets EPERM for
DENIED_X86_64 = (
    41, 42, 43, 49, 50, 53, 288,  # socket connect accept bind listen socketpair accept4
    56, 57, 58, 59, 322, 435,  # clone fork vfork execve execveat clone3
    62, 200, 234, 129, 297, 424, 434, 438,  # kill tkill tgkill rt_(tg)sigqueueinfo pidfd_send_signal/open/getfd
    101, 310, 311, 312, 302, 160, 141, 142, 144, 203, 251, 256, 279, 274, 440, 448,  # ptrace, other processes
    165, 166, 155, 161, 272, 308, 428, 429, 430, 431, 432, 433, 442,  # mounts and namespaces
    250, 248, 249, 321, 298, 323, 425, 426, 427, 319, 447, 300, 303, 304,  # keys bpf perf uffd io_uring memfd fanotify handles
    16, 135, 153, 154, 172, 173, 212, 179, 443, 163, 167, 168, 169, 246, 320, 175, 313, 176,  # ioctl and admin
    164, 227, 159, 305, 170, 171, 103, 134, 133, 259,  # clocks, names, syslog, uselib, mknod
    29, 30, 31, 67, 64, 65, 66, 220, 68, 69, 70, 71, 240, 241, 242, 243, 244, 245,  # SysV IPC, POSIX mqueues
)
_LD_W_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO_EPERM, _RET_KILL = 0x7FFF0000, 0x00050000 | 1, 0x80000000


def seccomp_programs():
    """``(zygote filter, child filter)`` as packed ``struct sock_filter`` arrays, or ``None`` on an
    architecture without a table.  A child runs under both (filters stack)."""
    if os.uname().machine != "x86_64":
        return None
    zygote = set(DENIED_X86_64) - set(CHILD_ONLY_DENIED_X86_64)
    return _program(sorted(zygote), fcntl_rule=True), _program(sorted(CHILD_ONLY_DENIED_X86_64), fcntl_rule=False)


def _program(denied, fcntl_rule):
    """Arch check (else kill), x32 calls denied, fcntl by command (``fcntl_rule``), the deny list."""
    # (code, jt, jf, k) with jt/jf as labels resolved below
    prog = [(_LD_W_ABS, 0, 0, 4), (_JEQ, 0, "kill", AUDIT_ARCH_X86_64), (_LD_W_ABS, 0, 0, 0),
            (_JGE, "deny", 0, X32_SYSCALL_BIT), (_JEQ, "fcntl" if fcntl_rule else "allow", 0, SYS_FCNTL)]
    prog += [(_JEQ, "deny", 0, nr) for nr in denied]
    prog += [(_RET, 0, 0, _RET_ALLOW)]
    labels = {"fcntl": len(prog)}
    prog += [(_LD_W_ABS, 0, 0, 24)]  # low word of args[1]: the command
    prog += [(_JEQ, "allow", 0, cmd) for cmd in FCNTL_ALLOWED]
    labels["deny"] = len(prog)
    prog += [(_RET, 0, 0, _RET_ERRNO_EPERM)]
    labels["allow"] = len(prog)
    prog += [(_RET, 0, 0, _RET_ALLOW)]
    labels["kill"] = len(prog)
    prog += [(_RET, 0, 0, _RET_KILL)]
    out = b""
    for index, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        out += struct.pack("HBBI", code, jt, jf, k)
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_GET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 21, 2


def install_seccomp(program):
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


# ---------------------------------------------------------------------------- Landlock
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}


def landlock_abi():
    abi = LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return max(0, abi)


def landlock_ruleset(read_paths):
    """A ruleset fd: every filesystem access handled, reads allowed beneath ``read_paths``; with
    ABI >= 4 TCP bind/connect handled (so denied); with ABI >= 6 signals and abstract unix sockets
    scoped to the domain."""
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    handled_fs = (1 << _FS_BITS_BY_ABI.get(abi, 16)) - 1
    attr = struct.pack("QQQ", handled_fs, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = LIBC.syscall(SYS_LANDLOCK_CREATE_RULESET, attr, size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    for path in read_paths:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        access = LANDLOCK_READ if os.path.isdir(path) else (1 << 2)
        rule = struct.pack("=Qi", access, fd)  # struct landlock_path_beneath_attr (packed)
        done = LIBC.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, 1, rule, 0)
        os.close(fd)
        if done != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
    return ruleset, abi


# ---------------------------------------------------------------------------- the child
def lock_down_zygote(config, filters):
    """The zygote's own, irreversible restrictions (every child inherits them)."""
    if config["landlock_paths"] is not None:
        ruleset, _ = landlock_ruleset(config["landlock_paths"])
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # needed by Landlock and seccomp alike
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if config["landlock_paths"] is not None:
        if LIBC.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        os.close(ruleset)
    for limit in (resource.RLIMIT_FSIZE, resource.RLIMIT_CORE, resource.RLIMIT_MEMLOCK, resource.RLIMIT_MSGQUEUE):
        resource.setrlimit(limit, (0, 0))
    install_seccomp(filters[0])


def lock_down_child(config, filters):
    """What a child adds before it runs untrusted code."""
    memory = int(config["memory_mb"]) * 1024 * 1024
    cpu = int(math.ceil(float(config["time_s"]))) + 1
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_NOFILE, 8), (resource.RLIMIT_NPROC, 0)):
        resource.setrlimit(limit, (value, value))
    install_seccomp(filters[1])


def _safe_builtins(modules):
    import builtins

    safe = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES if hasattr(builtins, name)}

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or name not in modules:
            raise ImportError(f"import of {name} is not allowed")
        return modules[name]

    def _getattr(obj, name, *default):
        if not isinstance(name, str) or name.startswith("_"):
            raise AttributeError(f"access to {name!r} is not allowed")
        return getattr(obj, name, *default)

    safe["__import__"] = _import
    safe["getattr"] = _getattr
    safe["__build_class__"] = builtins.__build_class__
    return safe


def normalise(value):
    """The reward's return value as ``{"score", "components"}`` (raises ``ValueError``)."""
    if isinstance(value, dict):
        if "score" not in value:
            raise ValueError("a dict result needs a 'score' key")
        components = value.get("components", {k: v for k, v in value.items() if k != "score"})
        score = value["score"]
    else:
        score, components = value, {}
    if isinstance(score, bool):
        score = float(score)
    if not isinstance(score, (int, float)):
        raise ValueError(f"score must be a number, got {type(score).__name__}")
    score = float(score)
    if not math.isfinite(score) or score < 0.0 or score > 1.0:
        raise ValueError(f"score must lie in [0, 1], got {score!r}")
    clean = {}
    if isinstance(components, dict):
        for key, item in list(components.items())[:64]:
            if isinstance(item, (bool, int, float, str)) or item is None:
                clean[str(key)[:100]] = item[:200] if isinstance(item, str) else item
            else:
                clean[str(key)[:100]] = repr(item)[:100]
    return {"score": score, "components": clean}


def run_reward(job, modules):
    """Compile and run the untrusted code on the job's two states (already locked down)."""
    namespace = {"__builtins__": _safe_builtins(modules), "__name__": "reward_code"}
    try:
        exec(compile(job["code"], "<reward>", "exec"), namespace)
        function = namespace.get("reward")
        if not callable(function):
            return {"error": "the code defines no function reward(initial, final, trajectory=None)", "kind": "error"}
        value = function(job["initial"], job["final"], None)
    except MemoryError:
        return {"error": "reward() ran out of memory", "kind": "memory"}
    except BaseException as exc:  # noqa: BLE001 - the code's own errors
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "kind": "error"}
    try:
        return normalise(value)
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)[:300], "kind": "bad_output"}


def probe(paths):
    """What the lockdown blocks, tried from inside (the host checks every entry)."""
    facts = {"uid": os.getuid(), "seccomp": LIBC.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2}
    facts["socket_blocked"] = LIBC.socket(2, 1, 0) < 0  # AF_INET, SOCK_STREAM
    pid = LIBC.fork()
    if pid == 0:  # the filter failed to stop it: leave at once
        os._exit(0)
    facts["fork_blocked"] = pid < 0
    facts["kill_blocked"] = LIBC.kill(1, 0) < 0 and LIBC.kill(os.getppid(), 0) < 0
    readable = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            readable.append(path)
        except OSError:
            pass
    facts["readable"] = readable
    try:
        os.close(os.open("/probe-write", os.O_WRONLY | os.O_CREAT, 0o600))
        facts["write_blocked"] = False
    except OSError:
        facts["write_blocked"] = True
    return facts


def _read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, min(n - len(data), 1 << 20))
        if not chunk:
            raise EOFError("the job pipe closed mid-job")
        data += chunk
    return data


def child(config, modules, filters):
    """Runs in the forked child; never returns."""
    status = 1
    try:
        sys.stdout = sys.stderr = None
        for fd in (0, 1, 2):
            os.close(fd)
        job_fd, result_fd, limit = config["job_fd"], config["result_fd"], config["output_bytes"]
        (size,) = struct.unpack(">Q", _read_exact(job_fd, 8))
        if size > config["input_bytes"]:
            raise ValueError("job above the input limit")
        job = json.loads(_read_exact(job_fd, size))
        os.close(job_fd)
        lock_down_child(config, filters)
        del config
        result = {"probe": probe(job["probe"])} if "probe" in job else run_reward(job, modules)
        del job
        body = json.dumps(result).encode()
        if len(body) > limit:
            body = json.dumps({"error": f"the result is larger than {limit} bytes", "kind": "bad_output"}).encode()
        os.write(result_fd, struct.pack(">I", len(body)) + body)
        status = 0
    finally:
        os._exit(status)


# ---------------------------------------------------------------------------- the zygote
def wait_child(pid, time_s):
    """Wait for ``pid`` at most ``time_s`` seconds (then SIGKILL it); its status as a dict."""
    start = time.monotonic()
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], time_s)
        timed_out = not ready
        if timed_out:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    out = {"timed_out": timed_out, "seconds": round(time.monotonic() - start, 6), "maxrss_kb": usage.ru_maxrss}
    if os.WIFSIGNALED(status):
        out["signal"] = os.WTERMSIG(status)
    else:
        out["exit"] = os.WEXITSTATUS(status)
    return out


def serve(config, modules, filters):
    status_out = os.fdopen(1, "w", buffering=1)
    status_out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    while os.read(0, 1) == b"g":
        pid = os.fork()
        if pid == 0:
            child(config, modules, filters)
        status_out.write(json.dumps(wait_child(pid, float(config["time_s"]))) + "\n")


def main():
    config = json.loads(sys.argv[1])
    modules = {}
    for name in config["allowed_modules"]:
        try:
            modules[name] = __import__(name)
        except ImportError:
            pass
    filters = seccomp_programs()
    if filters is None:
        raise SystemExit(f"no seccomp filter table for {os.uname().machine}")
    lock_down_zygote(config, filters)
    serve(config, modules, filters)


if __name__ == "__main__":
    main()
