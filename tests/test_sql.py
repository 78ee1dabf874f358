"""envgym/SQL-v0: a real SQLite file, read-only and time-limited, scored answers, oracle on every task."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

import envgym
from envgym.agents import OracleAgent, run_episode
from envgym.envs.sql.database import (
    TABLES, build_database, database_id, ensure_database, generate_rows, is_valid_database,
)
from envgym.envs.sql.make_tasks import TASK_FILE, build_tasks, render
from envgym.envs.sql import worker
from envgym.envs.sql.scoring import normalize_text, parse_number, score_answer

ENV_ID = "envgym/SQL-v0"


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory) -> Path:
    """One database cache for the module, never the user's ~/.cache."""
    directory = tmp_path_factory.mktemp("sqldb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENVGYM_SQL_DB_DIR", str(directory))
        yield directory


@pytest.fixture
def env(db_dir):
    env = envgym.make(ENV_ID, db_dir=str(db_dir), query_timeout_s=0.3)
    yield env
    env.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reset(env, task_id: str = "sql-customers-total"):
    return env.reset(options={"task": task_id})


# ---------------------------------------------------------------------------- contract
def test_check_env_passes(db_dir):
    env = envgym.make(ENV_ID)  # db dir from $ENVGYM_SQL_DB_DIR (set by the fixture)
    try:
        check_env(env)
        assert Path(env.unwrapped.database_path()).parent == db_dir
    finally:
        env.close()


def test_first_observation_has_question_schema_and_tools(env):
    obs, info = _reset(env)
    assert obs["instruction"] == "How many customers are there in the database?"
    assert obs["text"].startswith("Question: How many customers")
    for table in TABLES:
        assert f"{table} [" in obs["text"]
    names = [tool["function"]["name"] for tool in obs["tools"]]
    assert names == ["sql", "describe", "answer"]
    assert obs["tools"][0]["function"]["parameters"]["required"] == ["query"]
    assert obs in env.observation_space and obs["last_action_error"] == ""
    obs, *_ = env.step('sql("SELECT 1 AS one")')
    assert "orders [" not in obs["text"], "the schema is shown on the first turn only"
    assert obs["text"].startswith("sql result:\none\n1\n(1 row)")


def test_sql_results_are_compact_tables_with_row_counts(env):
    _reset(env)
    obs, reward, terminated, truncated, info = env.step({"name": "sql", "arguments": {"query": "SELECT * FROM order_items"}})
    total = env.unwrapped.db.run("SELECT COUNT(*) FROM order_items").rows[0][0]
    assert (reward, terminated, truncated, info["rows"]) == (0.0, False, False, total)
    assert "order_item_id | order_id | product_id" in obs["text"]
    assert f"more rows, {total} in total)" in obs["text"]
    assert obs["text"].count("\n") < 60 and len(obs["text"]) < 5000


def test_huge_cells_and_wide_rows_are_cut(env):
    _reset(env)
    obs, _, _, _, info = env.step({"name": "sql", "arguments": {"query": "SELECT group_concat(email) AS e FROM customers"}})
    assert "action_error" not in info and "…" in obs["text"] and len(obs["text"]) < 1000
    wide = "SELECT " + ", ".join(["c.*"] * 40) + " FROM customers c"
    obs, _, _, _, info = env.step({"name": "sql", "arguments": {"query": wide}})
    assert "action_error" not in info and info["rows"] == 400 and len(obs["text"]) < 9000


def test_env_survives_deepcopy_mid_episode(env):
    _reset(env)
    env.step('sql("SELECT 1")')
    clone = copy.deepcopy(env.unwrapped)
    obs, *_ = clone.step('sql("SELECT COUNT(*) FROM customers")')
    assert "\n400\n" in obs["text"] and clone.get_state()["queries"] == ["SELECT 1", "SELECT COUNT(*) FROM customers"]
    clone.close()
    assert env.unwrapped.get_state()["queries"] == ["SELECT 1"]
    obs, *_ = env.step('sql("SELECT 2")')
    assert "\n2\n" in obs["text"]


def test_describe_tool(env):
    _reset(env)
    obs, *_ = env.step({"name": "describe", "arguments": {"table": "payments"}})
    assert "table payments: payment_id INTEGER PK" in obs["text"] and "(3 rows)" in obs["text"]
    obs, _, _, _, info = env.step('describe("nope")')
    assert "no table" in info["action_error"]


# ---------------------------------------------------------------------------- tasks & oracle
def test_task_file_is_what_the_generator_makes(db_dir):
    tasks = envgym.load_tasks(TASK_FILE)
    assert len(tasks) >= 40
    assert {t.spec["difficulty"] for t in tasks} == {"easy", "medium", "hard"}
    assert {t.reward.params["answer_type"] for t in tasks} == {"number", "text", "list"}
    # regenerating on a fresh build of the database gives the same file: answers are up to date
    assert render(build_tasks(0, db_dir)) == TASK_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("prefer_replay", [True, False], ids=["replay", "oracle_action"])
def test_oracle_solves_every_task(env, prefer_replay):
    agent = OracleAgent(env, prefer_replay=prefer_replay)
    tasks = env.unwrapped.tasks
    for task in tasks:
        episode = run_episode(env, agent, task=task)
        assert episode.success, task.task_id
        assert episode.turns[-1].reward == 1.0 and episode.turns[-1].terminated
        assert len(episode.turns) == 2


def test_oracle_finishes_from_a_mid_episode_state(env):
    _reset(env, "sql-top3-products-units")
    env.step('sql("SELECT COUNT(*) FROM products")')
    env.step("nonsense")
    first = env.unwrapped.oracle_action()
    assert first["name"] == "sql"
    env.step(first)
    second = env.unwrapped.oracle_action()
    assert second["name"] == "answer"
    _, reward, terminated, _, info = env.step(second)
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    assert env.unwrapped.oracle_action() is None


def test_task_without_precomputed_answer_uses_reference_sql(env):
    task = {
        "task_id": "adhoc", "env_id": ENV_ID, "instruction": "How many suppliers are there?",
        "reward": {"kind": "env", "params": {"reference_sql": "SELECT COUNT(*) FROM suppliers", "answer_type": "number"}},
    }
    env.reset(options={"task": task})
    assert env.unwrapped.oracle_action()["name"] == "sql"
    _, reward, _, _, info = env.step({"name": "answer", "arguments": {"text": "15.0"}})
    assert reward == 1.0 and info["success"] is True


def test_wrong_answer_scores_zero_and_ends_the_episode(env):
    _reset(env)  # 400 customers
    obs, reward, terminated, truncated, info = env.step('answer("401")')
    assert (reward, terminated, truncated, info["success"]) == (0.0, True, False, False)
    assert "not correct" in obs["text"]
    with pytest.raises(envgym.ResetNeeded):
        env.step('answer("400")')
    _reset(env, "sql-country-most-customers")
    _, reward, terminated, _, info = env.step({"name": "answer", "arguments": {"text": "Germany"}})
    assert (reward, terminated, info["success"]) == (0.0, True, False)


@pytest.mark.parametrize("answer", ["400", "400.0", " 400 ", "400.", "400.00", "The answer is 400", 400, 400.0])
def test_number_answers_are_normalised(env, answer):
    _reset(env)
    _, reward, terminated, _, info = env.step({"name": "answer", "arguments": {"text": answer}})
    assert (reward, terminated, info["success"]) == (1.0, True, True)


def test_running_out_of_turns_truncates_without_success(db_dir):
    env = envgym.make(ENV_ID, db_dir=str(db_dir), max_turns=2)
    _reset(env)
    env.step('sql("SELECT 1")')
    _, reward, terminated, truncated, info = env.step('sql("SELECT 2")')
    assert (reward, terminated, truncated, info["success"]) == (0.0, False, True, False)
    env.close()


# ---------------------------------------------------------------------------- scoring functions
@pytest.mark.parametrize("text, expected", [
    ("42", 42.0), ("42.0", 42.0), (" 42 ", 42.0), ("42.", 42.0), ("$1,234.50", 1234.5), ("7.6%", 7.6),
    ("-3", -3.0), ("'42'", 42.0), ("about 42 rows", 42.0), ("1e3", 1000.0),
    ("", None), ("forty-two", None), ("42 or 43", None), ("2,3", None), ("nan", None), (True, None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_score_answer_rules():
    assert score_answer("42.0", 42, "number") and not score_answer("42.1", 42, "number")
    assert score_answer("101960.95", 101960.94, "number", {"abs_tol": 0.0101})
    assert not score_answer("101960.90", 101960.94, "number", {"abs_tol": 0.0101})
    assert score_answer("  home &  KITCHEN. ", "Home & Kitchen", "text")
    assert score_answer("**Engineering**", "Engineering", "text") and not score_answer("Engineering dept", "Engineering", "text")
    assert normalize_text("“USA”") == "usa"
    expected = ["Executive", "Finance", "Sales"]
    assert score_answer("sales, executive, finance", expected, "list", {"ordered": False})
    assert score_answer('["Sales", "Finance", "Executive"]', expected, "list")
    assert score_answer("- Executive\n- Finance\n- Sales", expected, "list", {"ordered": True})
    assert not score_answer("Sales, Finance, Executive", expected, "list", {"ordered": True})
    assert not score_answer("Sales, Finance", expected, "list")
    assert not score_answer("Sales, Finance, Finance", expected, "list")
    assert score_answer("1. 3\n2. 1.0\n3. 2", [3, 1, 2], "list", {"ordered": True})
    with pytest.raises(ValueError, match="answer_type"):
        score_answer("x", "x", "boolean")


# ---------------------------------------------------------------------------- read-only & limits
WRITES = [
    "INSERT INTO customers (first_name) VALUES ('x')",
    "REPLACE INTO suppliers VALUES (1, 'x', 'y')",
    "UPDATE products SET unit_price = 0",
    "DELETE FROM orders",
    "WITH doomed AS (SELECT 1) DELETE FROM payments",
    "DROP TABLE payments",
    "CREATE TABLE evil (x)",
    "CREATE TEMP TABLE evil (x)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE INDEX i ON orders(status)",
    "ALTER TABLE orders ADD COLUMN x",
    "ATTACH DATABASE '{dir}/attached.db' AS other",
    "VACUUM INTO '{dir}/copy.db'",
    "VACUUM",
    "REINDEX",
    "ANALYZE",
    "BEGIN IMMEDIATE",
    "PRAGMA writable_schema = ON",
    "PRAGMA writable_schema",
    "PRAGMA query_only = OFF",
    "PRAGMA journal_mode = WAL",
    "PRAGMA user_version = 7",
    "SELECT load_extension('/tmp/evil')",
]


def test_writes_are_refused_and_the_file_is_unchanged(db_dir, tmp_path):
    env = envgym.make(ENV_ID, db_dir=str(db_dir), max_turns=len(WRITES) + 5)
    _reset(env)
    path = Path(env.unwrapped.database_path())
    before, listing = _sha256(path), sorted(os.listdir(path.parent))
    for statement in WRITES:
        query = statement.format(dir=tmp_path)
        obs, reward, terminated, _, info = env.step({"name": "sql", "arguments": {"query": query}})
        assert "read-only" in info.get("action_error", ""), (query, info)
        assert obs["text"].startswith("Invalid action: SQL error") and not terminated and reward == 0.0
    assert env.unwrapped.get_state()["queries"] == []
    assert _sha256(path) == before
    assert sorted(os.listdir(path.parent)) == listing
    assert list(tmp_path.iterdir()) == [], "ATTACH / VACUUM INTO must not create files"
    obs, *_ = env.step('sql("SELECT COUNT(*) AS n FROM payments")')
    assert obs["text"].startswith("sql result:\nn\n")
    env.close()


def test_read_only_without_the_authorizer_too(db_dir):
    """Defence in depth: with the authorizer removed, mode=ro and query_only still stop writes."""
    path = ensure_database(0, db_dir)
    before = _sha256(path)
    engine = worker.Engine(str(path), timeout_s=2.0, max_rows=50, count_limit=100, max_sql_chars=1000,
                           heap_limit_bytes=64 << 20)
    engine.conn.set_authorizer(None)
    for query in ("DELETE FROM orders", "CREATE TABLE evil (x)", "UPDATE products SET unit_price = 0"):
        with pytest.raises(worker.QueryFailed, match="read-only"):
            engine.run(query)
    engine.conn.close()
    assert _sha256(path) == before


def test_infinite_recursive_cte_is_stopped_and_the_env_goes_on(env):
    _reset(env)
    query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    obs, reward, terminated, truncated, info = env.step({"name": "sql", "arguments": {"query": query}})
    assert "time limit" in info["action_error"] and not terminated and not truncated
    obs, _, _, _, info = env.step('sql("SELECT COUNT(*) FROM customers")')
    assert "action_error" not in info and "\n400\n" in obs["text"]
    # an endless query that streams rows is cut at the row-count limit, not an error
    obs, _, _, _, info = env.step(
        'sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")')
    assert "action_error" not in info and "more rows" in obs["text"]


BAD_ACTIONS = [
    'sql("SELEC COUNT(*) FROM customers")',
    'sql("SELECT * FROM no_such_table")',
    'sql("SELECT 1; SELECT 2")',
    'sql("")',
    'sql("SELECT 1\\x00")',
    {"name": "sql", "arguments": {"query": "SELECT '\ud800'"}},
    {"name": "sql", "arguments": {"query": "SELECT " + "1 + " * 33_333 + "1"}},  # 100k chars
    "sql(" + repr("SELECT " + "x" * 100_000) + ")",
    {"name": "sql", "arguments": {}},
    "sql()",
    {"name": "sql", "arguments": {"query": 5}},
    {"name": "sql", "arguments": {"query": None}},
    {"name": "sql", "arguments": {"query": ["SELECT 1"]}},
    {"name": "sql", "arguments": {"query": "SELECT 1", "limit": 3}},
    'sql("SELECT 1", "SELECT 2")',
    {"name": "sql", "arguments": "{not json"},
    {"name": "drop_database", "arguments": {}},
    "shell('rm -rf /')",
    "SELECT COUNT(*) FROM customers",
    "north",
    {"name": "answer", "arguments": {}},
    {"name": "answer", "arguments": {"text": ""}},
    {"name": "answer", "arguments": {"text": {"value": 400}}},
    {"name": "answer", "arguments": {"text": None}},
    {"name": "describe", "arguments": {"table": 3}},
    'sql("SELECT * FROM pragma_table_info(\'orders\')")',
    None, 42, b"\xff", [],
]


@pytest.mark.parametrize("action", BAD_ACTIONS, ids=lambda a: repr(a)[:40])
def test_bad_actions_are_action_errors(env, action):
    _reset(env)
    env.step('sql("SELECT 1")')
    state = env.unwrapped.get_state()
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["action_error"] and obs["last_action_error"] == info["action_error"]
    assert obs["text"].startswith("Invalid action:")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert {k: v for k, v in env.unwrapped.get_state().items() if k not in ("turn", "last_result")} == \
        {k: v for k, v in state.items() if k not in ("turn", "last_result")}
    _, reward, terminated, _, info = env.step('answer("400")')
    assert (reward, terminated, info["success"]) == (1.0, True, True)


def test_read_only_pragmas_are_allowed(env):
    _reset(env)
    obs, _, _, _, info = env.step('sql("PRAGMA table_info(orders)")')
    assert "action_error" not in info and "order_date" in obs["text"]
    obs, _, _, _, info = env.step("sql(\"SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name\")")
    assert "action_error" not in info and "order_items" in obs["text"]


# ---------------------------------------------------------------------------- state & anchors
def test_get_set_state_round_trip(env, db_dir):
    _reset(env, "sql-delivered-revenue")
    env.step('sql("SELECT COUNT(*) FROM orders")')
    env.step('describe("orders")')
    state = env.unwrapped.get_state()
    assert json.loads(json.dumps(state)) == state
    assert state["db_id"] == database_id(0) and state["answered"] is False
    assert state["queries"] == ["SELECT COUNT(*) FROM orders"] and state["described"] == ["orders"]
    other = envgym.make(ENV_ID, db_dir=str(db_dir))
    other.reset(options={"task": "sql-delivered-revenue"})
    other.unwrapped.set_state(state)
    assert other.unwrapped.get_state() == state
    assert other.unwrapped._observation() == env.unwrapped._observation()
    assert other.unwrapped.anchor() == env.unwrapped.anchor()
    env.step(env.unwrapped.oracle_action())
    answered = env.unwrapped.get_state()
    assert answered["answered"] is False  # the oracle ran the reference query first
    env.step(env.unwrapped.oracle_action())
    answered = env.unwrapped.get_state()
    assert answered["answered"] is True and answered["correct"] is True
    other.unwrapped.set_state(answered)
    with pytest.raises(envgym.ResetNeeded):
        other.step('sql("SELECT 1")')
    other.close()


def test_anchor_tracks_what_was_learned(env):
    _, info_a = _reset(env)
    *_, info_a1 = env.step('sql("SELECT COUNT(*) FROM customers")')
    _, info_b = _reset(env)
    env.step("nonsense")
    env.step('sql("SELECT * FROM nowhere")')
    *_, info_b1 = env.step({"name": "sql", "arguments": {"query": "SELECT  COUNT(*)\n FROM customers"}})
    assert "action_error" not in info_b1
    assert info_a["anchor"] == info_b["anchor"]
    assert info_a1["anchor"] == info_b1["anchor"] != info_a["anchor"]


# ---------------------------------------------------------------------------- the database file
def test_generation_is_deterministic_and_seeded():
    rows = generate_rows(0)
    assert rows == generate_rows(0)
    assert rows["customers"] != generate_rows(1)["customers"]
    assert {len(rows[t]) for t in ("customers", "orders")} == {400, 2000}
    assert 3000 < len(rows["order_items"]) < 8000


def test_concurrent_builds_leave_one_valid_file(tmp_path):
    path = tmp_path / "shop.sqlite"
    errors = []

    def build():
        try:
            build_database(path, 3)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert is_valid_database(path)
    assert os.listdir(tmp_path) == ["shop.sqlite"], "no temp files may remain"
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 2000
    conn.close()


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = ensure_database(2, tmp_path)
    good = _sha256(path)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a database" * 100)
    os.replace(garbage, path)
    assert not is_valid_database(path)
    assert ensure_database(2, tmp_path) == path
    assert is_valid_database(path) and _sha256(path) == good
