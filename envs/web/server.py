"""Serving an ASGI app on 127.0.0.1 from a background thread (one uvicorn server per app instance).

The listening socket is bound (port 0: a free port) and listening *before* the thread starts, so the
origin is usable immediately: connections made before uvicorn's loop starts wait in the backlog.
"""

from __future__ import annotations

import socket
from typing import Any

from envgym.loop_thread import LoopThread


class AppServer:
    """``AppServer(asgi_app).origin`` is ``http://127.0.0.1:PORT``; ``close()`` stops it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self.origin = f"http://{host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", loop="asyncio",
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  (not the main thread)
        self._loop = LoopThread(f"envgym-app-{self.port}")
        self._serving = self._loop.submit(self._server.serve(sockets=[self._socket]))

    @property
    def running(self) -> bool:
        return not self._serving.done()

    def close(self) -> None:
        self._server.should_exit = True
        try:
            self._serving.result(timeout=10)
        except Exception:  # noqa: BLE001 - stopping: a timeout or server error changes nothing
            pass
        self._loop.stop()
        try:
            self._socket.close()
        except OSError:
            pass
