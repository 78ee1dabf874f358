"""Hostile SQL: memory bombs and time bombs are bounded, the env goes on, the host is unchanged.

Each query runs against the real SQLite shop database through :class:`ReadOnlyDatabase` (its query
worker process).  While it runs, a thread samples the worker's resident memory and open files.
Every query must end with an error (or a bounded result) well within the time limit plus the kill
grace, the worker must stay under its memory bound and never open a temporary file, and the next
query must work.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from envgym.envs.sql.database import ensure_database
from envgym.envs.sql.sandbox import (
    ADDRESS_SPACE_BYTES,
    KILL_GRACE_S,
    QueryError,
    ReadOnlyDatabase,
)

import envgym

TIMEOUT_S = 2.0
#: What a hostile query may make the worker hold: the SQLite heap limit plus Python and a reply.
WORKER_MEMORY_BOUND = 450 * 1024 * 1024
C = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
BIG = "randomblob(900000)"

#: Each must end with an error or a bounded result, within the memory bound.
HOSTILE_QUERIES = {
    "sort-of-big-rows": C + f"SELECT count(*) FROM (SELECT {BIG} FROM c ORDER BY 1)",
    "distinct-big-rows": C + f"SELECT count(*) FROM (SELECT DISTINCT {BIG} FROM c)",
    "recursive-union-big-rows": f"WITH RECURSIVE c(x, b) AS (SELECT 1, {BIG} UNION SELECT x + 1, {BIG} FROM c) SELECT count(*) FROM c",
    "window-frame-of-big-rows": C + f"SELECT max(n) FROM (SELECT count(*) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) n, {BIG} b FROM c)",
    "group-by-big-keys": C + f"SELECT count(*) FROM (SELECT 1 FROM c GROUP BY {BIG} || x)",
    "in-subquery-of-big-values": C + f"SELECT count(*) FROM customers WHERE email IN (SELECT {BIG} || x FROM c)",
    "json-array-growth": C + "SELECT length(json_group_array(hex(randomblob(400000)))) FROM c",
    "group-concat-growth": C + "SELECT length(group_concat(hex(randomblob(100000)))) FROM c",
    "printf-width": "SELECT length(printf('%2000000000d', 1))",
    "zeroblob": "SELECT length(zeroblob(2000000000))",
    "randomblob": "SELECT length(randomblob(2000000000))",
    "replace-growth": "SELECT length(replace(printf('%.*c', 900000, 'a'), 'a', printf('%.*c', 900000, 'b')))",
    "hex-of-hex": "SELECT length(hex(hex(hex(randomblob(300000)))))",
    "wide-row-of-blobs": "SELECT " + ", ".join([BIG] * 140),
    "cte-materialised-big-rows": f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5000), m AS MATERIALIZED (SELECT x, {BIG} b FROM c) SELECT count(*) FROM m a, m b WHERE a.x = b.x",
    "huge-like-pattern": "SELECT count(*) FROM customers WHERE email LIKE '" + "%_" * 1000 + "'",
    "like-many-wildcards": "SELECT printf('%.*c', 900000, 'a') LIKE '" + "%a" * 400 + "%b'",
    "glob-many-stars": "SELECT printf('%.*c', 900000, 'a') GLOB '" + "*a" * 400 + "*b'",
    "recursive-doubling": "WITH RECURSIVE c(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM c) SELECT count(*) FROM c, c AS d, c AS e, c AS f, c AS g",
}
#: Each must be stopped by the time limit.  The printf ones run in ONE function call (a per-character
#: loop in SQLite's printf that goes on after the length limit is hit), where the progress handler
#: never runs: only killing the worker stops them.
TIME_BOMBS = {
    "printf-precision": "SELECT printf('%.*c', 1e9, 'x')",
    "printf-max-int-precision": "SELECT printf('%.*c', 2147483647, 'x')",
    "format-alternate-form": "SELECT format('%!.*c', 1000000000, 'x')",
    "printf-in-aggregate": "SELECT max(printf('%.*c', 1e9, 'x')) FROM customers",
    "printf-in-where": "SELECT count(*) FROM orders WHERE printf('%.*c', 1e9, 'x') IS NULL",
    "cartesian-join": "SELECT count(*) FROM order_items a, order_items b, order_items c",
    "endless-recursion": C + "SELECT count(*) FROM c",
}


@pytest.fixture(scope="module")
def db():
    database = ReadOnlyDatabase(ensure_database(0), timeout_s=TIMEOUT_S)
    yield database
    database.close()


class WorkerWatch:
    """Samples the worker's resident memory and the files it has open while a query runs."""

    def __init__(self, database: ReadOnlyDatabase):
        self.database = database
        self.peak_rss = 0
        self.files: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            pid = self.database.worker_pid
            try:
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmRSS:"):
                            self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    self.files.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except (OSError, TypeError):
                pass
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def parent_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_hostile(db: ReadOnlyDatabase, sql: str):
    """Run ``sql``; returns (outcome, seconds, watch).  The outcome is the QueryError or the result."""
    started = time.monotonic()
    with WorkerWatch(db) as watch:
        try:
            outcome = db.run(sql)
        except QueryError as exc:
            outcome = exc
    return outcome, time.monotonic() - started, watch


def assert_contained(db, outcome, seconds, watch, parent_before):
    assert seconds < TIMEOUT_S + KILL_GRACE_S + 3.0, f"took {seconds:.1f} s"
    assert watch.peak_rss < WORKER_MEMORY_BOUND, f"worker reached {watch.peak_rss >> 20} MB"
    temp = {f for f in watch.files if f.startswith("/") and not f.endswith((".sqlite", "/dev/null"))}
    assert not temp, f"the worker opened files: {temp}"
    assert parent_rss() - parent_before < 200 * 1024 * 1024, "the env's own process grew"
    assert db.run("SELECT COUNT(*) FROM customers").rows == [(400,)], "the next query works"


@pytest.mark.parametrize("name", list(HOSTILE_QUERIES))
def test_memory_bombs_and_huge_patterns_are_refused_within_bounds(db, name):
    before = parent_rss()
    outcome, seconds, watch = run_hostile(db, HOSTILE_QUERIES[name])
    if not isinstance(outcome, QueryError):  # a bounded result is fine: the wide row is counted, not kept
        assert outcome.total_rows <= 1 and sum(len(str(v)) for row in outcome.rows for v in row) < 10_000_000
    assert_contained(db, outcome, seconds, watch, before)


@pytest.mark.parametrize("name", list(TIME_BOMBS))
def test_time_bombs_stop_at_the_time_limit_even_inside_one_function(db, name):
    before = parent_rss()
    outcome, seconds, watch = run_hostile(db, TIME_BOMBS[name])
    assert isinstance(outcome, QueryError), outcome
    assert "time limit" in str(outcome) or "memory" in str(outcome), outcome
    assert_contained(db, outcome, seconds, watch, before)


def test_the_worker_runs_under_kernel_limits(db):
    db.run("SELECT 1")
    with open(f"/proc/{db.worker_pid}/limits") as handle:
        limits = {line[:26].strip(): line[26:].split() for line in handle}
    assert int(limits["Max address space"][0]) == ADDRESS_SPACE_BYTES
    assert limits["Max file size"][0] == "0"


def test_a_one_function_time_bomb_replaces_the_worker_and_the_env_goes_on(tmp_path):
    env = envgym.make("envgym/SQL-v0", db_dir=str(tmp_path), query_timeout_s=1.0)
    try:
        env.reset(options={"task": "sql-customers-total"})
        first = env.unwrapped.db.worker_pid
        started = time.monotonic()
        obs, reward, terminated, truncated, info = env.step({"name": "sql", "arguments": {"query": TIME_BOMBS["printf-precision"]}})
        assert "time limit" in info["action_error"] and not terminated and not truncated and reward == 0.0
        assert time.monotonic() - started < 1.0 + KILL_GRACE_S + 3.0
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # the stuck worker is gone, not left spinning
        obs, *_, info = env.step('sql("SELECT COUNT(*) FROM customers")')
        assert "action_error" not in info and "\n400\n" in obs["text"] and env.unwrapped.db.worker_pid != first
    finally:
        env.close()


def test_a_killed_worker_is_replaced_transparently(db):
    pid = db.worker_pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.01)
    assert db.run("SELECT COUNT(*) FROM orders").rows == [(2000,)] and db.worker_pid != pid


ORPHAN = textwrap.dedent(
    """
    import sys, time
    from envgym.envs.sql.sandbox import ReadOnlyDatabase
    db = ReadOnlyDatabase(sys.argv[1])
    print(db.worker_pid, flush=True)
    time.sleep(60)
    """
)


def test_the_worker_exits_when_its_env_process_dies():
    owner = subprocess.Popen([sys.executable, "-c", ORPHAN, str(ensure_database(0))], stdout=subprocess.PIPE, text=True)
    worker_pid = int(owner.stdout.readline())
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the query worker outlived its env process")


def test_close_stops_the_worker():
    database = ReadOnlyDatabase(ensure_database(0))
    pid = database.worker_pid
    database.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(QueryError, match="closed"):
        database.run("SELECT 1")
