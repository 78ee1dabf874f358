"""Child side of the reward sandbox: ``python -s -S -P _sandbox_runner.py`` with a JSON job on stdin.

Self-contained (standard library only, nothing from envgym) so it runs in a bare interpreter
(no site-packages, a clean environment set by the parent).
It pre-imports the allowed modules, then locks itself down before touching the untrusted code:
``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_FSIZE = 0`` (no file writes), ``RLIMIT_NOFILE``
(no new files or sockets), ``RLIMIT_NPROC = 0`` (no processes).  The code runs with a restricted
``__builtins__`` (no ``open``, ``exec``, ``eval``, ``compile``, ``getattr``/``setattr``, ``globals``…)
and an ``__import__`` that hands out only the allowed modules.  Each call has a wall-clock limit
(``setitimer``); the first timeout or memory error ends the job.

Job: ``{"code", "states": [state, ...], "calls": [[i_initial, i_final], ...], "time_limit_s",
"memory_mb", "allowed_modules"}``.  Output (one JSON line on stdout): ``{"results": [{"score",
"components"} | {"error", "kind"}, ...]}`` where ``kind`` is ``error``, ``timeout``, ``memory`` or
``bad_output``; or ``{"fatal", "kind"}`` when the code cannot even be loaded.
"""

import json
import math
import resource
import signal
import sys


class _Timeout(BaseException):
    """Raised by the timer; a BaseException so ``except Exception`` in reward code cannot swallow it."""


SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset",
    "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "chr", "ord", "format", "bin", "hex", "oct", "callable",
    "Exception", "ValueError", "KeyError", "TypeError", "IndexError", "AttributeError",
    "ZeroDivisionError", "StopIteration", "ArithmeticError", "LookupError", "RuntimeError",
    "True", "False", "None", "NotImplemented",
)


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


def _normalise(value):
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
        for key, item in components.items():
            if isinstance(item, (bool, int, float, str)) or item is None:
                clean[str(key)] = item
            else:
                clean[str(key)] = repr(item)[:100]
    return {"score": score, "components": clean}


def _on_alarm(signum, frame):
    raise _Timeout()


def main():
    job = json.loads(sys.stdin.read())
    allowed = job.get("allowed_modules", ["math", "re"])
    modules = {}
    for name in allowed:
        try:
            modules[name] = __import__(name)
        except ImportError:
            pass
    time_limit = float(job.get("time_limit_s", 2.0))
    calls = job["calls"]
    memory = int(job.get("memory_mb", 512)) * 1024 * 1024
    cpu = int(math.ceil(time_limit * max(1, len(calls)))) + 2
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    states = [json.dumps(s) for s in job["states"]]
    out = sys.stdout
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace = {"__builtins__": _safe_builtins(modules), "__name__": "reward_code"}
    try:
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        exec(compile(job["code"], "<reward>", "exec"), namespace)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        out.write(json.dumps({"fatal": "loading the code timed out", "kind": "timeout"}) + "\n")
        return
    except MemoryError:
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.write(json.dumps({"fatal": "loading the code ran out of memory", "kind": "memory"}) + "\n")
        return
    except BaseException as exc:  # noqa: BLE001 - anything the code does while loading
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.write(json.dumps({"fatal": f"{type(exc).__name__}: {exc}"[:500], "kind": "error"}) + "\n")
        return
    function = namespace.get("reward")
    if not callable(function):
        out.write(json.dumps({"fatal": "the code defines no function reward(initial, final, trajectory=None)", "kind": "error"}) + "\n")
        return
    results = []
    for i_initial, i_final in calls:
        try:
            initial, final = json.loads(states[i_initial]), json.loads(states[i_final])
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                value = function(initial, final, None)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Timeout:
            results.append({"error": f"reward() ran longer than {time_limit} s", "kind": "timeout"})
            break
        except MemoryError:
            results.append({"error": "reward() ran out of memory", "kind": "memory"})
            break
        except RecursionError as exc:
            results.append({"error": f"RecursionError: {exc}"[:300], "kind": "error"})
            continue
        except BaseException as exc:  # noqa: BLE001 - the code's own errors
            results.append({"error": f"{type(exc).__name__}: {exc}"[:300], "kind": "error"})
            continue
        try:
            results.append(_normalise(value))
        except Exception as exc:  # noqa: BLE001
            results.append({"error": str(exc)[:300], "kind": "bad_output"})
    out.write(json.dumps({"results": results}) + "\n")


if __name__ == "__main__":
    main()
