"""Read-only, time-limited query execution against a SQLite file, with compact text results.

Layers of protection (1 and 2 each stop writes to the database file; 3 and 4 also stop writes to
other files, which ``ATTACH`` of a new file or ``VACUUM INTO`` would create):

1. the file is opened with a ``file:...?mode=ro`` URI (SQLite opens it O_RDONLY);
2. ``PRAGMA query_only=ON``;
3. an authorizer (``set_authorizer``) allows only reads: SELECT, reading columns, calling functions
   (except ``load_extension``), recursive CTEs and a short list of introspection PRAGMAs (``table_info``,
   ``foreign_key_list``…).  INSERT/UPDATE/DELETE, CREATE/DROP/ALTER, ATTACH/DETACH (and so ``VACUUM INTO``),
   transactions, PRAGMA writes and everything else are denied;
4. ``SQLITE_LIMIT_ATTACHED`` is 0, so no other database file can be attached.

Resource limits: a progress handler aborts any statement running longer than ``timeout_s`` (an
infinite ``WITH RECURSIVE`` included, since the handler fires every :data:`PROGRESS_STEPS` VM
instructions while rows are produced); strings and blobs are capped at ``SQLITE_LIMIT_LENGTH``; the
SQL text is capped; at most ``max_rows`` rows are rendered and at most ``count_limit`` more are
counted.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROGRESS_STEPS = 1000
MAX_VALUE_BYTES = 1_000_000
MAX_SQL_CHARS = 20_000

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


class QueryError(Exception):
    """The query could not run (syntax error, unknown table, refused write, time limit…)."""


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
    """One read-only connection to a SQLite file.  ``run(sql)`` returns a :class:`QueryResult` or
    raises :class:`QueryError` with a message meant for the agent."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = 2.0,
        max_rows: int = 50,
        count_limit: int = 10_000,
        max_sql_chars: int = MAX_SQL_CHARS,
    ):
        self.path = Path(path).resolve()
        self.timeout_s = float(timeout_s)
        self.max_rows = int(max_rows)
        self.count_limit = int(count_limit)
        self.max_sql_chars = int(max_sql_chars)
        self._deadline: float | None = None
        self._refused: str | None = None
        conn = sqlite3.connect(
            f"{self.path.as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, max(self.max_sql_chars * 4, 1000))
            conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
            conn.text_factory = lambda data: data.decode("utf-8", "replace")
            conn.set_authorizer(self._authorize)
            conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    # ------------------------------------------------------------------ guards
    def _authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
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

    def _progress(self) -> int:
        return 1 if self._deadline is not None and time.monotonic() > self._deadline else 0

    # ------------------------------------------------------------------ running queries
    def run(self, sql: str) -> QueryResult:
        if self._conn is None:
            raise QueryError("the database connection is closed")
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
        self._refused = None
        self._deadline = time.monotonic() + self.timeout_s
        cursor = None
        rows: list[tuple[Any, ...]] = []
        columns: list[str] = []
        try:
            cursor = self._conn.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(self.max_rows)
            more, uncounted = 0, False
            if len(rows) == self.max_rows and cursor.description is not None:
                try:
                    while more < self.count_limit:
                        chunk = cursor.fetchmany(min(1000, self.count_limit - more))
                        if not chunk:
                            break
                        more += len(chunk)
                    else:
                        uncounted = cursor.fetchone() is not None
                except sqlite3.OperationalError as exc:
                    if not _is_interrupt(exc):
                        raise
                    uncounted = True  # the rows shown are right; counting the rest ran out of time
            return QueryResult(columns=columns, rows=rows, more_rows=more, more_uncounted=uncounted)
        except sqlite3.OperationalError as exc:
            if _is_interrupt(exc):
                raise QueryError(
                    f"the query was stopped after the {self.timeout_s:g} s time limit "
                    "(an unbounded WITH RECURSIVE or a huge join?)"
                ) from None
            raise QueryError(self._message(exc, sql)) from None
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise QueryError(self._message(exc, sql)) from None
        except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
            raise QueryError(f"cannot run the query: {exc}") from None
        finally:
            self._deadline = None
            if cursor is not None:
                try:
                    cursor.close()
                except sqlite3.Error:
                    pass

    def _message(self, exc: BaseException, sql: str) -> str:
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
        return message

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def _is_interrupt(exc: BaseException) -> bool:
    return "interrupted" in str(exc)


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
