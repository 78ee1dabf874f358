"""Read-only queries bounded in time and memory, run in a separate process, with compact text results.

:class:`ReadOnlyDatabase` owns one query worker (:mod:`envgym.envs.sql.worker`, a ``python3 -I``
process per database) and sends it one statement at a time.  The worker is read-only in layers
(``mode=ro``, ``query_only``, an authorizer that allows only reads, no ``ATTACH``) and bounded in
memory by the kernel (``RLIMIT_AS``) and by SQLite (``hard_heap_limit``, temporary tables and sorts
in that heap, ``SQLITE_LIMIT_LENGTH`` per value).  Time: the worker's progress handler stops a
statement after ``timeout_s``; if no reply comes :data:`KILL_GRACE_S` later (one long function
evaluation never yields to the progress handler), the worker is killed and replaced on the next
query.  Either way the agent gets a :class:`QueryError` and the env goes on.

The SQL text is capped; at most ``max_rows`` rows are kept and at most ``count_limit`` more are counted.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envgym.envs.sql import worker

MAX_SQL_CHARS = 20_000
#: How long after the time limit the worker may still take to answer before it is killed.
KILL_GRACE_S = 1.0
HEAP_LIMIT_BYTES = 128 * 1024 * 1024
ADDRESS_SPACE_BYTES = 1024 * 1024 * 1024
_MAX_REPLY_BYTES = 4 * worker.MAX_REPLY_BYTES  # rows (base64 for blobs) plus JSON escapes


class QueryError(Exception):
    """The query could not run (syntax error, unknown table, refused write, time or memory limit…)."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    more_rows: int = 0  # rows after ``rows`` that were counted but not kept
    more_uncounted: bool = False  # counting stopped (count limit or time limit): there are even more

    @property
    def total_rows(self) -> int:
        return len(self.rows) + self.more_rows


class ReadOnlyDatabase:
    """A read-only SQLite file behind a query worker.  ``run(sql)`` returns a :class:`QueryResult`
    or raises :class:`QueryError` with a message meant for the agent."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = 2.0,
        max_rows: int = 50,
        count_limit: int = 10_000,
        max_sql_chars: int = MAX_SQL_CHARS,
        heap_limit_bytes: int = HEAP_LIMIT_BYTES,
        address_space_bytes: int = ADDRESS_SPACE_BYTES,
    ):
        self.path = Path(path).resolve()
        self.timeout_s = float(timeout_s)
        self.max_sql_chars = int(max_sql_chars)
        self._config = {
            "path": str(self.path), "timeout_s": self.timeout_s, "max_rows": int(max_rows),
            "count_limit": int(count_limit), "max_sql_chars": self.max_sql_chars,
            "heap_limit_bytes": int(heap_limit_bytes), "address_space_bytes": int(address_space_bytes),
        }
        self._lock = threading.Lock()
        self._closed = False
        self._proc: subprocess.Popen | None = None
        self._start()  # fail now, not at the first query, when the file cannot be opened

    # ------------------------------------------------------------------ the worker
    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._proc = subprocess.Popen(
            [sys.executable, "-I", worker.__file__, json.dumps(self._config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        reply = self._read_reply(time.monotonic() + 30.0)
        if reply is None or "error" in reply:
            self._kill()
            detail = (reply or {}).get("error", "the query worker did not start")
            raise QueryError(f"cannot open {self.path}: {detail}")
        return self._proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def _read_reply(self, deadline: float) -> dict | None:
        """One reply line, or ``None`` when the worker died, ran past ``deadline`` or sent too much."""
        fd = self._proc.stdout.fileno()
        data = bytearray()
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk or len(data) + len(chunk) > _MAX_REPLY_BYTES:
                return None
            data += chunk
        return json.loads(data)

    def _ask(self, sql: str) -> dict:
        proc = self._start()
        try:
            proc.stdin.write(json.dumps({"sql": sql}).encode("utf-8") + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._kill()
            raise QueryError("the query worker stopped; run the query again") from None
        reply = self._read_reply(time.monotonic() + self.timeout_s + KILL_GRACE_S)
        if reply is not None:
            return reply
        died = proc.poll() is not None
        self._kill()
        if died:
            raise QueryError("the query used more memory than the database worker may use (it was stopped)")
        raise QueryError(f"the query was stopped after the {self.timeout_s:g} s time limit "
                         "(one function call running that long, an unbounded WITH RECURSIVE or a huge join?)")

    # ------------------------------------------------------------------ running queries
    def run(self, sql: str) -> QueryResult:
        if not isinstance(sql, str):
            raise QueryError(f"the query must be a string, got {type(sql).__name__}")
        if len(sql) > self.max_sql_chars:
            raise QueryError(f"the query is {len(sql)} characters long; the limit is {self.max_sql_chars}")
        sql = sql.strip()
        while sql.endswith(";"):
            sql = sql[:-1].rstrip()
        if not sql:
            raise QueryError("the query is empty")
        if "\x00" in sql:
            raise QueryError("the query contains a NUL character")
        with self._lock:
            if self._closed:
                raise QueryError("the database connection is closed")
            reply = self._ask(sql)
        if "error" in reply:
            raise QueryError(reply["error"])
        rows = [tuple(_decode(v) for v in row) for row in reply["rows"]]
        return QueryResult(columns=reply["columns"], rows=rows, more_rows=reply["more_rows"],
                           more_uncounted=reply["more_uncounted"])

    @property
    def worker_pid(self) -> int | None:
        """The query worker's process id (``None`` until the next query restarts a stopped one)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._kill()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["$blob"])
    return value


# ---------------------------------------------------------------------- rendering
def format_value(value: Any, max_chars: int) -> str:
    """One cell as text: NULL, integers as is, floats with up to 12 significant digits, blobs as
    ``<blob N bytes>``, newlines escaped, long text cut with ``…``."""
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = repr(value) if len(repr(value)) <= 16 else f"{value:.12g}"
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = f"<blob {len(bytes(value))} bytes>"
    else:
        text = str(value)
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ").replace("|", "\\|")
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def format_result(result: QueryResult, *, max_chars: int = 4000, max_cell_chars: int = 200) -> str:
    """A compact text table: a header line, one line per row (cells joined by `` | ``), then a
    row-count line such as ``(3 rows)`` or ``... (120 more rows, 170 in total)``.  Cells are cut at
    ``max_cell_chars``, lines at ``max_chars``, and rows stop once ``max_chars`` are used."""
    if not result.columns:
        return "(statement returned no columns)"

    def line_of(values) -> str:
        line = " | ".join(format_value(v, max_cell_chars) for v in values)
        return line if len(line) <= max_chars else line[: max_chars - 1] + "…"

    lines = [line_of(result.columns)]
    used = len(lines[0])
    shown = 0
    for row in result.rows:
        line = line_of(row)
        if used + len(line) + 1 > max_chars and shown > 0:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    hidden = result.total_rows - shown
    if hidden > 0 or result.more_uncounted:
        plus = "+" if result.more_uncounted else ""
        lines.append(f"... ({hidden}{plus} more rows, {result.total_rows}{plus} in total)")
    else:
        lines.append(f"({shown} row{'s' if shown != 1 else ''})")
    return "\n".join(lines)
