"""Serve an env on the loopback interface for this process's own use: a background thread
(:func:`running_server`) or a subprocess running ``envgym serve`` (:func:`running_server_process`).

``envgym check --runtime remote`` checks an env through one, and tests and benchmarks use them to talk
to a real server over a real socket.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def running_server(env_id: str, **kwargs: Any) -> Iterator[str]:
    """Serve ``env_id`` on 127.0.0.1 (a free port) in a background thread; yield ``http://…`` URL.

    ``kwargs`` go to :func:`envgym.remote.server.create_app`.  The server stops on exit.
    """
    from envgym.remote.server import build_server, create_app

    app = create_app(env_id, **kwargs)
    ready = threading.Event()
    server, sock = build_server(app, host="127.0.0.1", port=0, on_started=ready.set)
    server.config.timeout_graceful_shutdown = 2
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="envgym-loopback-server", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout=30) or server.should_exit:
            raise RuntimeError(f"loopback server for {env_id} did not start")
        port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextlib.contextmanager
def running_server_process(
    env_id: str,
    *,
    imports: tuple[str, ...] = (),
    args: tuple[str, ...] = (),
    startup_timeout_s: float = 60.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve ``env_id`` from a subprocess (``python -m envgym serve``) on a free 127.0.0.1 port.

    ``imports``: modules the server imports first (``--import``: e.g. ones that register envs); the
    subprocess gets this process's ``sys.path``, so it finds what this process finds.  Yields
    ``(url, process)``; the process is killed on exit if still running.
    """
    command = [sys.executable, "-m", "envgym", "serve", env_id, "--host", "127.0.0.1", "--port", "0"]
    for module in imports:
        command += ["--import", module]
    command += list(args)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a chatty server must never block on it
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)
        try:
            url = read_ready_line(process, startup_timeout_s, stderr)
            yield url, process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


def read_ready_line(process: subprocess.Popen, timeout_s: float, stderr: Any = None) -> str:
    """Wait for the ``READY <url>`` line the serve command prints once it accepts connections.

    ``stderr`` (a file the process writes its stderr to) is quoted in the error if it never does.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:  # the process exited
            break
        buffer += chunk
        for line in buffer.decode("utf-8", "replace").splitlines():
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
    process.kill()
    process.wait(timeout=10)
    err = b""
    if stderr is not None:
        stderr.seek(0)
        err = stderr.read()
    raise RuntimeError(f"env server did not start: {err.decode('utf-8', 'replace')[-2000:]}")
