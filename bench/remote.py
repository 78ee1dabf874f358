"""Benchmark of remote envs; prints JSON.

Measures, for a no-op env (``envgym-test/NoOp-v0``):

* ``in_process`` — ``env.step`` called directly: steps/s, p50/p99 latency;
* ``websocket_one_session`` — the same over WebSocket with the sync :class:`RemoteEnv` (server in a
  subprocess), plus a raw driver (pre-encoded messages) for comparison with OpenEnv;
* ``concurrent`` — 256 sessions on one server, driven from one asyncio loop for ``--duration``
  seconds: aggregate steps/s, latency percentiles, errors; with :class:`AsyncRemoteEnv` and with the
  raw driver;
* ``openenv`` — OpenEnv's server (``openenv-core`` from PyPI) serving an equivalent no-op env on the
  same machine, under the same uvicorn settings, driven by the same raw driver with the same load
  shape (``--repeats`` runs alternating with envgym's, medians reported); ``ratio_vs_openenv`` is
  envgym's requests/s over OpenEnv's, and OpenEnv's server CPU per request over envgym's.  OpenEnv runs in the Python
  given by ``--openenv-python`` / ``$OPENENV_PYTHON`` (default: the cached ``openenv`` peer venv of
  :mod:`envgym.interop.peer_venvs`, built on first use), so its dependencies need not share this
  environment; if it cannot run, ``openenv.error`` says why;
* ``openenv_compat`` — envgym's server speaking OpenEnv's protocol (its ``/openenv/ws`` route, the
  same server process as ``concurrent_raw``), driven with OpenEnv's messages in the same alternation;
  ``ratio_vs_openenv.openenv_compat_concurrent_requests_per_s`` is its requests/s over OpenEnv's.

Usage: ``python bench/remote.py [--sessions 256] [--duration 5] [--steps 5000] [--openenv-python PY]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envgym  # noqa: E402
from envgym.remote.client import AsyncRemoteEnv, RemoteEnv, websocket_url  # noqa: E402
from envgym.remote.server import WS_IMPLEMENTATION  # noqa: E402
from envgym.remote.loopback import read_ready_line, running_server_process  # noqa: E402
from tests.support.echo_envs import IMPORTS, NOOP_ID  # noqa: E402


def _process_cpu_s(pid: int) -> float | None:
    """User+system CPU seconds of process ``pid`` (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _with_server_cpu(result: dict[str, Any], pid: int, cpu_before: float | None) -> dict[str, Any]:
    cpu_after = _process_cpu_s(pid)
    if cpu_before is not None and cpu_after is not None and result.get("steps"):
        result["server_cpu_us_per_step"] = round(1e6 * (cpu_after - cpu_before) / result["steps"], 1)
    return result


def _percentiles(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(latencies_s)
    return {
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 4),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "mean_ms": round(1000 * statistics.fmean(ordered), 4),
    }


def _timed_loop(call, steps: int, warmup: int = 200) -> dict[str, Any]:
    for _ in range(warmup):
        call()
    latencies = []
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {"steps": steps, "steps_per_s": round(steps / elapsed, 1), **_percentiles(latencies)}


def bench_in_process(steps: int) -> dict[str, Any]:
    env = envgym.make(NOOP_ID)
    env.reset(seed=0)
    result = _timed_loop(lambda: env.step("noop"), steps)
    env.close()
    return result


def bench_remote_one_session(url: str, steps: int) -> dict[str, Any]:
    env = RemoteEnv(url, NOOP_ID)
    env.reset(seed=0)
    result = _timed_loop(lambda: env.step("noop"), steps)
    env.close()
    return {"client": "RemoteEnv (sync)", **result}


def bench_raw_one_session(ws_url: str, reset: str, step: str, steps: int) -> dict[str, Any]:
    """Pre-encoded messages over the sync websockets client: the transport + server cost alone."""
    from websockets.sync.client import connect

    with connect(ws_url, compression=None, proxy=None, max_size=None, open_timeout=30) as ws:
        ws.send(reset)
        ws.recv(timeout=30)

        def call() -> None:
            ws.send(step)
            ws.recv(timeout=30)

        result = _timed_loop(call, steps)
    return {"client": "raw websockets (sync)", **result}


async def _drive_raw(ws_url: str, sessions: int, duration_s: float, reset: str, step: str) -> dict[str, Any]:
    """``sessions`` connections on one loop, each stepping back to back for ``duration_s``."""
    import orjson
    from websockets.asyncio.client import connect

    errors = 0
    error_samples: list[str] = []
    connects = await asyncio.gather(
        *(connect(ws_url, compression=None, proxy=None, max_size=None, open_timeout=120, ping_interval=None)
          for _ in range(sessions)),
        return_exceptions=True,
    )
    conns = [c for c in connects if not isinstance(c, BaseException)]
    errors += len(connects) - len(conns)
    error_samples += [repr(c)[:200] for c in connects if isinstance(c, BaseException)][:3]

    async def first(ws):
        await ws.send(reset)
        return await ws.recv()

    for reply in await asyncio.gather(*(first(ws) for ws in conns), return_exceptions=True):
        if isinstance(reply, BaseException) or orjson.loads(reply).get("type") == "error":
            errors += 1
            error_samples.append(repr(reply)[:200])
    latencies: list[float] = []
    counts = [0]
    deadline = time.perf_counter() + duration_s

    async def worker(ws):
        nonlocal errors
        local = []
        n = 0
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await ws.send(step)
                reply = await ws.recv()
                local.append(time.perf_counter() - t0)
                n += 1
                if b'"error"' in (reply.encode() if isinstance(reply, str) else reply)[:40]:
                    errors += 1
                    if len(error_samples) < 3:
                        error_samples.append(str(reply)[:200])
        except Exception as exc:  # noqa: BLE001 - counted
            errors += 1
            if len(error_samples) < 3:
                error_samples.append(repr(exc)[:200])
        latencies.extend(local)
        counts[0] += n

    start = time.perf_counter()
    await asyncio.gather(*(worker(ws) for ws in conns))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return {
        "client": "raw websockets (asyncio, one loop)",
        "sessions": sessions,
        "connected": len(conns),
        "duration_s": round(elapsed, 3),
        "steps": counts[0],
        "steps_per_s": round(counts[0] / elapsed, 1),
        "errors": errors,
        "error_samples": error_samples,
        **_percentiles(latencies),
    }


async def _drive_envgym_client(url: str, sessions: int, duration_s: float) -> dict[str, Any]:
    envs = [AsyncRemoteEnv(url, NOOP_ID, connect_timeout_s=120) for _ in range(sessions)]
    connected = await asyncio.gather(*(env.connect() for env in envs), return_exceptions=True)
    errors = sum(isinstance(c, BaseException) for c in connected)
    samples = [repr(c)[:200] for c in connected if isinstance(c, BaseException)][:3]
    envs = [env for env, c in zip(envs, connected) if not isinstance(c, BaseException)]
    await asyncio.gather(*(env.reset(seed=i) for i, env in enumerate(envs)))
    latencies: list[float] = []
    counts = [0]
    deadline = time.perf_counter() + duration_s

    async def worker(env):
        nonlocal errors
        local = []
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await env.step("noop")
                local.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - counted
            errors += 1
            if len(samples) < 3:
                samples.append(repr(exc)[:200])
        latencies.extend(local)
        counts[0] += len(local)

    start = time.perf_counter()
    await asyncio.gather(*(worker(env) for env in envs))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(env.close() for env in envs), return_exceptions=True)
    return {
        "client": "AsyncRemoteEnv (one loop)",
        "sessions": sessions,
        "connected": len(envs),
        "duration_s": round(elapsed, 3),
        "steps": counts[0],
        "steps_per_s": round(counts[0] / elapsed, 1),
        "errors": errors,
        "error_samples": samples,
        **_percentiles(latencies),
    }


ENVGYM_RESET = json.dumps({"type": "reset", "id": 0, "seed": 0})
ENVGYM_STEP = json.dumps({"type": "step", "id": 1, "action": "noop"})
OPENENV_RESET = json.dumps({"type": "reset", "data": {}})
OPENENV_STEP = json.dumps({"type": "step", "data": {"message": "noop"}})
OPENENV_COMPAT_STEP = json.dumps({"type": "step", "data": {"action": "noop"}})  # envgym's action field

OPENENV_SERVER = textwrap.dedent(
    '''
    """An OpenEnv no-op env server, the counterpart of envgym-test/NoOp-v0."""
    import sys

    import uvicorn
    from openenv.core.env_server.http_server import create_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State


    class NoOpAction(Action):
        message: str = ""


    class NoOpObservation(Observation):
        text: str = "ok"


    class NoOpEnvironment(Environment):
        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self):
            super().__init__()
            self._state = State(episode_id="noop", step_count=0)

        def reset(self, seed=None, episode_id=None, **kwargs):
            self._state = State(episode_id=episode_id or "noop", step_count=0)
            return NoOpObservation(done=False, reward=0.0)

        def step(self, action, timeout_s=None, **kwargs):
            self._state.step_count += 1
            return NoOpObservation(done=False, reward=0.0)

        @property
        def state(self):
            return self._state


    max_sessions, ws_impl = int(sys.argv[1]), sys.argv[2]
    app = create_app(NoOpEnvironment, NoOpAction, NoOpObservation, env_name="noop", max_concurrent_envs=max_sessions)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws=ws_impl,
                            ws_per_message_deflate=False, access_log=False, backlog=4096)
    sock = config.bind_socket()


    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            print(f"READY http://127.0.0.1:{sock.getsockname()[1]}", flush=True)


    Server(config).run(sockets=[sock])
    '''
)


def _openenv_python(explicit: str | None) -> tuple[str | None, str | None]:
    """``(python, version)`` of an interpreter with openenv-core, or ``(None, reason)``."""
    candidates = [explicit, os.environ.get("OPENENV_PYTHON")]
    if not any(candidates):
        from envgym.interop.peer_venvs import peer_python

        try:
            candidates.append(peer_python("openenv"))
        except Exception as exc:  # noqa: BLE001 - recorded, then this interpreter is tried
            candidates.append(None)
            print(f"openenv peer venv: {exc}", file=sys.stderr)
        candidates.append(sys.executable)
    reasons = []
    for python in [c for c in candidates if c]:
        probe = subprocess.run(
            [python, "-c", "import importlib.metadata as m, openenv.core.env_server.http_server; print(m.version('openenv-core'))"],
            capture_output=True, text=True,
        )
        if probe.returncode == 0:
            return python, probe.stdout.strip()
        reasons.append(f"{python}: {probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else probe.returncode}")
    return None, "; ".join(reasons) or "no interpreter"


@contextlib.contextmanager
def openenv_server(python: str, max_sessions: int):
    """OpenEnv's server for the no-op env in a subprocess; yields ``(url, process)``."""
    with tempfile.NamedTemporaryFile("w", suffix="_openenv_noop_server.py", delete=False) as handle:
        handle.write(OPENENV_SERVER)
        script = handle.name
    stderr = tempfile.TemporaryFile()  # a file, not a pipe: its error logs must never block the server
    process = subprocess.Popen(
        [python, script, str(max_sessions), WS_IMPLEMENTATION], stdout=subprocess.PIPE, stderr=stderr
    )
    try:
        yield read_ready_line(process, 120, stderr), process
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()
        os.unlink(script)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["steps_per_s"])
    median = dict(ordered[len(ordered) // 2])
    median["runs_steps_per_s"] = [r["steps_per_s"] for r in runs]
    median["errors"] = sum(r["errors"] for r in runs)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=256)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of the concurrent runs")
    parser.add_argument("--steps", type=int, default=5000, help="steps of the one-session runs")
    parser.add_argument("--openenv-python", default=None)
    parser.add_argument("--skip-openenv", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of the two servers under load")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "env": NOOP_ID,
        "uvicorn_ws": WS_IMPLEMENTATION,
        "in_process": bench_in_process(max(args.steps, 20000)),
    }
    extra = ("--max-sessions", str(args.sessions + 64))
    with running_server_process(NOOP_ID, imports=IMPORTS, args=extra) as (url, process):
        ws_url = websocket_url(url)
        cpu = _process_cpu_s(process.pid)
        report["websocket_one_session"] = _with_server_cpu(bench_remote_one_session(url, args.steps), process.pid, cpu)
        cpu = _process_cpu_s(process.pid)
        report["websocket_one_session_raw"] = _with_server_cpu(
            bench_raw_one_session(ws_url, ENVGYM_RESET, ENVGYM_STEP, args.steps), process.pid, cpu
        )
        cpu = _process_cpu_s(process.pid)
        report["concurrent"] = _with_server_cpu(
            asyncio.run(_drive_envgym_client(url, args.sessions, args.duration)), process.pid, cpu
        )

    python, version = (None, "skipped (--skip-openenv)") if args.skip_openenv else _openenv_python(args.openenv_python)
    with contextlib.ExitStack() as servers:
        url, process = servers.enter_context(running_server_process(NOOP_ID, imports=IMPORTS, args=extra))
        targets = {
            "envgym": (websocket_url(url), process, ENVGYM_RESET, ENVGYM_STEP),
            "openenv_compat": (websocket_url(f"{url}/openenv"), process, OPENENV_RESET, OPENENV_COMPAT_STEP),
        }
        if python is not None:
            try:
                oe_url, oe_process = servers.enter_context(openenv_server(python, args.sessions + 64))
                targets["openenv"] = (websocket_url(oe_url), oe_process, OPENENV_RESET, OPENENV_STEP)
                report["openenv"] = {"version": version, "python": python}
            except Exception as exc:  # noqa: BLE001 - recorded, not fatal
                report["openenv"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            report["openenv"] = {"error": f"openenv-core not importable: {version}"}
        runs: dict[str, list] = {name: [] for name in targets}
        for _ in range(args.repeats):  # alternate the two servers, so load from elsewhere hits both alike
            for name, (ws_url, proc, reset, step) in targets.items():
                cpu = _process_cpu_s(proc.pid)
                result = asyncio.run(_drive_raw(ws_url, args.sessions, args.duration, reset, step))
                runs[name].append(_with_server_cpu(result, proc.pid, cpu))
        report["concurrent_raw"] = _median_run(runs["envgym"])
        report["openenv_compat"] = {
            "raw_one_session": bench_raw_one_session(targets["openenv_compat"][0], OPENENV_RESET, OPENENV_COMPAT_STEP, args.steps),
            "concurrent_raw": _median_run(runs["openenv_compat"]),
        }
        if "openenv" in targets:
            oe_url = targets["openenv"][0]
            report["openenv"]["raw_one_session"] = bench_raw_one_session(oe_url, OPENENV_RESET, OPENENV_STEP, args.steps)
            report["openenv"]["concurrent_raw"] = _median_run(runs["openenv"])

    openenv = report["openenv"]
    if "concurrent_raw" in openenv:
        ours, theirs = report["concurrent_raw"], openenv["concurrent_raw"]
        report["ratio_vs_openenv"] = {
            "concurrent_requests_per_s": round(ours["steps_per_s"] / theirs["steps_per_s"], 2),
            "one_session_requests_per_s": round(
                report["websocket_one_session_raw"]["steps_per_s"] / openenv["raw_one_session"]["steps_per_s"], 2
            ),
        }
        compat = report["openenv_compat"]["concurrent_raw"]
        report["ratio_vs_openenv"]["openenv_compat_concurrent_requests_per_s"] = round(
            compat["steps_per_s"] / theirs["steps_per_s"], 2)
        if compat.get("server_cpu_us_per_step") and theirs.get("server_cpu_us_per_step"):
            report["ratio_vs_openenv"]["openenv_compat_server_cpu_per_request"] = round(
                theirs["server_cpu_us_per_step"] / compat["server_cpu_us_per_step"], 2)
        if ours.get("server_cpu_us_per_step") and theirs.get("server_cpu_us_per_step"):
            report["ratio_vs_openenv"]["server_cpu_per_request"] = round(
                theirs["server_cpu_us_per_step"] / ours["server_cpu_us_per_step"], 2
            )
    report["targets"] = {
        "ws_step_p50_le_1ms": report["websocket_one_session"]["p50_ms"] <= 1.0,
        f"{args.sessions}_sessions_no_errors": report["concurrent"]["errors"] == 0
        and report["concurrent_raw"]["errors"] == 0
        and report["openenv_compat"]["concurrent_raw"]["errors"] == 0
        and report["concurrent"]["connected"] == args.sessions,
        "ratio_vs_openenv_ge_2": report.get("ratio_vs_openenv", {}).get("concurrent_requests_per_s", 0) >= 2.0,
        "openenv_compat_ratio_ge_1_8": report.get("ratio_vs_openenv", {}).get(
            "openenv_compat_concurrent_requests_per_s", 0) >= 1.8,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
