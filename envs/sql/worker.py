"""The query worker: a separate process that runs an agent's SQL against one read-only SQLite file.

Started by :class:`envgym.envs.sql.sandbox.ReadOnlyDatabase` as ``python3 -I worker.py CONFIG_JSON``
(stdlib only: it imports nothing of envgym).  It reads one JSON request per line on stdin
(``{"sql": "..."}``) and writes one JSON reply per line on stdout: ``{"columns", "rows",
"more_rows", "more_uncounted"}`` or ``{"error": message}``.  Blobs travel as ``{"$blob": base64}``.

The process is the memory boundary.  The kernel bounds it (``RLIMIT_AS``; ``RLIMIT_FSIZE`` 0: it
writes no file), SQLite bounds its own heap (``PRAGMA hard_heap_limit``, process-wide, which is why
each database gets its own process) and keeps temporary tables and sorts in that heap
(``temp_store=MEMORY``: no temp files on the host's disk), and no value is longer than
``SQLITE_LIMIT_LENGTH``.  The parent bounds the time: a progress handler stops a statement at the
time limit, and a single function evaluation that never returns to the VM (``printf('%.*c', 1e9,
'x')``, a ``LIKE`` with many ``%``) is ended by the parent killing this process.

Read-only, in layers: the file is opened ``mode=ro``; ``PRAGMA query_only``; an authorizer allows
only reads (SELECT, reading columns, calling functions other than :data:`DENIED_FUNCTIONS`,
recursive CTEs, the introspection PRAGMAs of :data:`READ_ONLY_PRAGMAS`); ``SQLITE_LIMIT_ATTACHED``
is 0, so ``ATTACH`` and ``VACUUM INTO`` cannot create files.
"""

import base64
import json
import resource
import signal
import sqlite3
import sys
import time
from pathlib import Path

PROGRESS_STEPS = 1000
MAX_VALUE_BYTES = 1_000_000
#: Replies stop keeping rows once this many bytes of them are encoded (the rest are only counted).
MAX_REPLY_BYTES = 8_000_000

#: PRAGMAs an agent may run (``PRAGMA table_info(orders)``): all of them only read.  Any other PRAGMA,
#: with or without a value (``writable_schema``, ``query_only=OFF``…), is refused.
READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "function_list",
})
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_ACTION_NAMES = {
    getattr(sqlite3, name): name[len("SQLITE_"):].lower().replace("_", " ")
    for name in (
        "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TEMP_TRIGGER", "SQLITE_CREATE_VTABLE", "SQLITE_DROP_TABLE",
        "SQLITE_DROP_INDEX", "SQLITE_DROP_VIEW", "SQLITE_DROP_TRIGGER", "SQLITE_DROP_TEMP_TABLE",
        "SQLITE_DROP_TEMP_INDEX", "SQLITE_DROP_TEMP_VIEW", "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_VTABLE",
        "SQLITE_ALTER_TABLE", "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_TRANSACTION", "SQLITE_SAVEPOINT",
        "SQLITE_ANALYZE", "SQLITE_REINDEX", "SQLITE_PRAGMA", "SQLITE_FUNCTION",
    )
    if hasattr(sqlite3, name)
}


class QueryFailed(Exception):
    """A message for the agent."""


def limit_process(address_space_bytes: int) -> None:
    """Kernel limits of this process: its address space, and no file writes (EFBIG, not a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if address_space_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))


class Engine:
    """One guarded read-only connection; :meth:`run` answers one request."""

    def __init__(self, path: str, *, timeout_s: float, max_rows: int, count_limit: int, max_sql_chars: int,
                 heap_limit_bytes: int):
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.count_limit = count_limit
        self._deadline = None
        self._refused = None
        conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only=ON")
        conn.execute(f"PRAGMA hard_heap_limit={int(heap_limit_bytes)}")
        conn.execute(f"PRAGMA soft_heap_limit={int(heap_limit_bytes) // 2}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA mmap_size=0")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, max(max_sql_chars * 4, 1000))
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
        conn.text_factory = lambda data: data.decode("utf-8", "replace")
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        self.conn = conn

    def _authorize(self, action, arg1, arg2, _db, _src):
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in DENIED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK  # these only read; arg2 is their argument, e.g. the table name
        if self._refused is None:
            what = _ACTION_NAMES.get(action, f"operation {action}")
            target = " ".join(str(a) for a in (arg1, arg2) if a)
            self._refused = f"{what} {target}".strip()
        return sqlite3.SQLITE_DENY

    def _progress(self):
        return 1 if self._deadline is not None and time.monotonic() > self._deadline else 0

    def run(self, sql: str) -> dict:
        self._refused = None
        self._deadline = time.monotonic() + self.timeout_s
        cursor = None
        try:
            cursor = self.conn.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows, more, uncounted = self._collect(cursor)
            return {"columns": columns, "rows": rows, "more_rows": more, "more_uncounted": uncounted}
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryFailed(f"the query was stopped after the {self.timeout_s:g} s time limit "
                                  "(an unbounded WITH RECURSIVE or a huge join?)") from None
            raise QueryFailed(self._message(exc, sql)) from None
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise QueryFailed(self._message(exc, sql)) from None
        except MemoryError:
            raise QueryFailed("the query needs more memory than the database worker may use") from None
        except (ValueError, OverflowError, RecursionError, UnicodeError) as exc:
            raise QueryFailed(f"cannot run the query: {exc}") from None
        finally:
            self._deadline = None
            if cursor is not None:
                try:
                    cursor.close()
                except sqlite3.Error:
                    pass

    def _collect(self, cursor):
        """The first ``max_rows`` rows (encoded; fewer once :data:`MAX_REPLY_BYTES` are used), then a
        count of up to ``count_limit`` more, one row at a time (no batch of big rows in memory)."""
        kept, size, more, uncounted, counting = [], 0, 0, False, False
        if cursor.description is None:
            return kept, more, uncounted
        try:
            for row in iter(cursor.fetchone, None):
                if not counting:
                    encoded = []
                    for value in row:  # value by value: a row too big for the reply is never encoded whole
                        encoded.append(encode(value))
                        size += len(json.dumps(encoded[-1]))
                        if size > MAX_REPLY_BYTES:
                            break
                    counting = size > MAX_REPLY_BYTES or len(kept) + 1 >= self.max_rows
                    if size <= MAX_REPLY_BYTES:
                        kept.append(encoded)
                        continue
                if more >= self.count_limit:
                    uncounted = True
                    break
                more += 1
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc) or not counting:
                raise
            uncounted = True  # the rows kept are right; counting the rest ran out of time
        return kept, more, uncounted

    def _message(self, exc, sql):
        message = str(exc) or type(exc).__name__
        if self._refused is not None and "pragma_" in sql.lower():
            return "table-valued PRAGMA functions (pragma_table_info(...)) are not available; use PRAGMA table_info(name)"
        if self._refused is not None or "not authorized" in message or "authorization denied" in message:
            detail = f" (refused: {self._refused})" if self._refused else ""
            return f"the database is read-only: only SELECT queries are allowed{detail}"
        if "readonly" in message or "read-only" in message:
            return f"the database is read-only: only SELECT queries are allowed ({message})"
        if "one statement at a time" in message:
            return "run one statement per sql() call"
        if "out of memory" in message:
            return "the query needs more memory than the database worker may use"
        return message


def encode(value):
    if isinstance(value, bytes):
        return {"$blob": base64.b64encode(value).decode("ascii")}
    return value


def serve(engine: Engine, reader, writer) -> None:
    for line in reader:
        try:
            reply = engine.run(json.loads(line)["sql"])
        except QueryFailed as exc:
            reply = {"error": str(exc)}
        except MemoryError:
            reply = {"error": "the query needs more memory than the database worker may use"}
        writer.write(json.dumps(reply) + "\n")
        writer.flush()


def main(argv) -> int:
    config = json.loads(argv[1])
    limit_process(config.pop("address_space_bytes"))
    try:
        engine = Engine(config.pop("path"), **config)
    except sqlite3.Error as exc:
        sys.stdout.write(json.dumps({"error": f"cannot open the database: {exc}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    serve(engine, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
