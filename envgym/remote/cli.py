"""Command line of the env server: ``python -m envgym.remote serve ENV_ID [options]``.

The ``envgym serve`` command of the main CLI takes the same options (see :func:`add_serve_arguments`
and :func:`run_serve`).  Once the socket is bound the command prints ``READY http://HOST:PORT`` on
stdout (``--port 0`` picks a free port).  The token may come from ``ENVGYM_TOKEN`` instead of
``--token`` (which other users of the machine can see in the process list).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from envgym.remote.protocol import MAX_MESSAGE_BYTES


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument("env_id", help="registered env id, e.g. envgym/Maze-v0")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: a free one)")
    parser.add_argument("--max-sessions", type=int, default=256)
    parser.add_argument("--token", default=os.environ.get("ENVGYM_TOKEN") or None,
                        help="bearer token (default: $ENVGYM_TOKEN)")
    parser.add_argument("--idle-timeout-s", type=float, default=600.0)
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of env constructor defaults")
    parser.add_argument("--max-message-bytes", type=int, default=MAX_MESSAGE_BYTES)
    parser.add_argument("--no-client-kwargs", action="store_true", help="refuse env kwargs sent by clients")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (it may register envs); repeatable")
    parser.add_argument("--log-level", default="warning")


def run_serve(args: argparse.Namespace) -> None:
    """Serve with parsed ``args`` (blocking)."""
    from envgym.remote.server import serve

    for module in args.imports:
        importlib.import_module(module)
    env_kwargs = json.loads(args.env_kwargs)
    if not isinstance(env_kwargs, dict):
        raise SystemExit("--env-kwargs must be a JSON object")

    def ready(url: str) -> None:
        print(f"READY {url}", flush=True)

    serve(
        args.env_id,
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        token=args.token,
        idle_timeout_s=args.idle_timeout_s,
        env_kwargs=env_kwargs,
        log_level=args.log_level,
        max_message_bytes=args.max_message_bytes,
        allow_client_kwargs=not args.no_client_kwargs,
        on_ready=ready,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m envgym.remote", description="envgym env server")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(commands.add_parser("serve", help="serve one env over WebSocket"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        run_serve(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
