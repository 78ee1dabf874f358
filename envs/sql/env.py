"""``envgym/SQL-v0``: answer questions about a small online shop by querying its real SQLite database.

Tools (OpenAI function schemas in every ``obs["tools"]``; also accepted as function-call strings
such as ``sql("SELECT COUNT(*) FROM orders")`` or ``answer("42")``):

``sql(query)``       run one read-only SQLite statement; the result comes back as a compact text table
                     (header line, one ``a | b`` line per row, at most ``max_rows`` rows and
                     ``max_result_chars`` characters, then ``(N rows)`` or ``... (k more rows, N in
                     total)``).  Writes, ATTACH, PRAGMA writes and extensions are refused; a statement
                     running longer than ``query_timeout_s`` is stopped.
``describe(table)``  the columns of one table with three example rows.
``answer(text)``     submit the final answer; ends the episode.  A number, a name or a list of values
                     (a JSON list, one per line, or comma-separated).

Every failure — SQL errors, refused writes, time-outs, unknown tools, missing/extra/wrong-typed
arguments, plain text instead of a tool call — is an invalid action: the observation explains it,
``info["action_error"]`` holds the message and the state does not change.

Observation: ``text`` (the question; on the first turn also the schema and the tool list; after a
call, the call's result first; the turns left), ``instruction`` (the question), ``tools``.

Reward: on ``answer`` the episode terminates with reward 1.0 and ``success=True`` when the answer
matches the task's expected value under its ``reward.params["answer_type"]`` rule (``number`` with a
tolerance, case/space-insensitive ``text``, ``list`` as a set or, with ``ordered``, a sequence — see
:mod:`envgym.envs.sql.scoring`), else 0.0 and ``success=False``.  Tool calls earn 0.  Running out of turns
truncates with ``success=False``.

Task format: ``spec["db_seed"]`` picks the database (default: the ``db_seed`` kwarg);
``reward.params`` holds ``reference_sql``, ``answer_type``, ``expected`` (computed from
``reference_sql`` at reset when absent), and optional ``ordered``, ``abs_tol``, ``rel_tol``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from envgym import Call, Env, InvalidAction, Task, Transition, function_tool
from envgym.hashing import state_hash
from envgym.observation import Observation

from envgym.envs.sql.database import TABLES, database_id, ensure_database, schema_summary
from envgym.envs.sql.sandbox import QueryError, ReadOnlyDatabase, format_result
from envgym.envs.sql.scoring import ANSWER_TYPES, expected_from_rows, format_expected, score_answer

TOOLS: list[dict[str, Any]] = [
    function_tool(
        "sql",
        "Run one read-only SQLite query (SELECT, WITH, PRAGMA table_info(...)) against the shop database. "
        "Returns the result as a text table (long results are cut). Writes are refused.",
        {"query": {"type": "string", "description": "a single SQLite statement"}},
    ),
    function_tool(
        "describe",
        "Show the columns of one table and three example rows.",
        {"table": {"type": "string", "enum": list(TABLES), "description": "table name"}},
    ),
    function_tool(
        "answer",
        "Submit the final answer and end the episode. Give just the value: a number, a name, a date, "
        "or a comma-separated list.",
        {"text": {"type": "string", "description": "the answer"}},
    ),
]
TOOL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    tool["function"]["name"]: tuple(tool["function"]["parameters"]["properties"]) for tool in TOOLS
}
USAGE = 'call a tool: sql("SELECT ..."), describe("orders") or answer("42")'
_SCHEMA_CACHE: dict[str, str] = {}


class SQLEnv(Env):
    """Question answering over a real, read-only SQLite shop database.  See the module docstring."""

    default_task_file = "tasks.jsonl"
    default_max_turns = 20

    def __init__(
        self,
        *,
        db_dir: str | os.PathLike | None = None,
        db_seed: int = 0,
        query_timeout_s: float = 2.0,
        max_rows: int = 50,
        max_result_chars: int = 4000,
        max_cell_chars: int = 200,
        max_query_chars: int = 20_000,
        tasks: Any = None,
        max_turns: int | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ):
        super().__init__(tasks=tasks, max_turns=max_turns, invalid_action_penalty=invalid_action_penalty, render_mode=render_mode)
        if query_timeout_s <= 0:
            raise ValueError(f"query_timeout_s must be > 0, got {query_timeout_s}")
        self.db_dir = db_dir
        self.db_seed = int(db_seed)
        self.query_timeout_s = float(query_timeout_s)
        self.max_rows = int(max_rows)
        self.max_result_chars = int(max_result_chars)
        self.max_cell_chars = int(max_cell_chars)
        self.max_query_chars = int(max_query_chars)
        self._databases: dict[int, ReadOnlyDatabase] = {}
        self._seed_in_use = self.db_seed
        self._queries: list[str] = []
        self._described: list[str] = []
        self._answer: str | None = None
        self._correct: bool | None = None
        self._expected: Any = None
        self._answer_type = "text"
        self._score_params: dict[str, Any] = {}
        self._reference_sql: str | None = None

    # ------------------------------------------------------------------ databases
    def database_path(self, seed: int | None = None) -> Path:
        """The SQLite file for ``seed`` (default: the current episode's), built on first use."""
        return ensure_database(self._seed_in_use if seed is None else int(seed), self.db_dir)

    def _database(self, seed: int) -> ReadOnlyDatabase:
        db = self._databases.get(seed)
        if db is None:
            db = ReadOnlyDatabase(
                self.database_path(seed), timeout_s=self.query_timeout_s, max_rows=self.max_rows,
                max_sql_chars=self.max_query_chars,
            )
            self._databases[seed] = db
        return db

    @property
    def db(self) -> ReadOnlyDatabase:
        return self._database(self._seed_in_use)

    def _schema(self) -> str:
        path = str(self.database_path())
        if path not in _SCHEMA_CACHE:
            _SCHEMA_CACHE[path] = schema_summary(path)
        return _SCHEMA_CACHE[path]

    # ------------------------------------------------------------------ env hooks
    def tool_names(self) -> list[str]:
        return list(TOOL_ARGUMENTS)

    def _reset(self, task: Task) -> dict[str, Any]:
        self._seed_in_use = int(task.spec.get("db_seed", self.db_seed))
        params = dict(task.reward.params)
        answer_type = params.get("answer_type", "text")
        if answer_type not in ANSWER_TYPES:
            raise ValueError(f"task {task.task_id!r}: answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}")
        self._answer_type = answer_type
        self._score_params = params
        self._reference_sql = params.get("reference_sql")
        self._expected = self._expected_value(task, params)
        self._queries, self._described = [], []
        self._answer, self._correct = None, None
        if task.initial_state is not None:
            self.set_state(task.initial_state)
        return {}

    def _expected_value(self, task: Task, params: dict[str, Any]) -> Any:
        if "expected" in params:
            return params["expected"]
        if self._reference_sql:
            try:
                result = self.db.run(self._reference_sql)
            except QueryError as exc:
                raise ValueError(f"task {task.task_id!r}: reference_sql fails: {exc}") from None
            if result.more_rows or result.more_uncounted:
                raise ValueError(f"task {task.task_id!r}: reference_sql returns more than {self.max_rows} rows")
            return expected_from_rows(result.rows, self._answer_type)
        if task.golden.answer is not None:
            return task.golden.answer
        raise ValueError(f"task {task.task_id!r} has no expected answer (reward.params expected/reference_sql)")

    def _step(self, call: Call) -> Transition:
        if not call.is_call:
            hint = " (to run SQL, wrap it: sql(\"...\"))" if call.text.lower().startswith(("select", "with")) else ""
            raise InvalidAction(f"{USAGE}; got plain text {call.text[:60]!r}{hint}")
        if call.name not in TOOL_ARGUMENTS:
            raise InvalidAction(f"unknown tool {call.name!r}; {USAGE}")
        arguments = self._arguments(call)
        if call.name == "sql":
            return self._run_sql(_string_argument(call.name, "query", arguments["query"]))
        if call.name == "describe":
            return self._describe(_string_argument(call.name, "table", arguments["table"]))
        return self._submit(arguments["text"])

    def _arguments(self, call: Call) -> dict[str, Any]:
        names = TOOL_ARGUMENTS[call.name]
        signature = f"{call.name}({', '.join(names)})"
        if len(call.args) > len(names):
            raise InvalidAction(f"{signature} takes {len(names)} argument(s), got {len(call.args)}")
        arguments = dict(zip(names, call.args))
        for key, value in call.kwargs.items():
            if key not in names:
                raise InvalidAction(f"{signature} got an unexpected argument {key!r}")
            if key in arguments:
                raise InvalidAction(f"{signature} got {key!r} twice")
            arguments[key] = value
        missing = [name for name in names if name not in arguments]
        if missing:
            raise InvalidAction(f"{signature} is missing the argument {missing[0]!r}")
        return arguments

    def _run_sql(self, query: str) -> Transition:
        try:
            result = self.db.run(query)
        except QueryError as exc:
            raise InvalidAction(f"SQL error: {exc}") from None
        self._queries.append(query)
        table = format_result(result, max_chars=self.max_result_chars, max_cell_chars=self.max_cell_chars)
        return Transition(feedback=f"sql result:\n{table}", info={"rows": result.total_rows})

    def _describe(self, table: str) -> Transition:
        name = table.strip().lower()
        if name not in TABLES:
            raise InvalidAction(f"no table {table[:60]!r}; the tables are {', '.join(TABLES)}")
        try:
            columns = self.db.run(f"PRAGMA table_info({name})")
            sample = self.db.run(f"SELECT * FROM {name} LIMIT 3")
        except QueryError as exc:  # pragma: no cover - our own queries
            raise InvalidAction(f"cannot describe {name}: {exc}") from None
        lines = [f"table {name}: " + ", ".join(f"{row[1]} {row[2]}{' PK' if row[5] else ''}" for row in columns.rows)]
        lines.append("example rows:")
        lines.append(format_result(sample, max_chars=self.max_result_chars, max_cell_chars=self.max_cell_chars))
        self._described.append(name)
        return Transition(feedback="\n".join(lines))

    def _submit(self, value: Any) -> Transition:
        text = _answer_text(value)
        correct = score_answer(text, self._expected, self._answer_type, self._score_params)
        self._answer, self._correct = text, correct
        verdict = "correct" if correct else "not correct"
        return Transition(
            reward=1.0 if correct else 0.0,
            terminated=True,
            success=correct,
            feedback=f"Answer submitted: {text[:200]!r}. It is {verdict}.",
        )

    def _observe(self) -> Observation:
        instruction = self.task.instruction if self.task is not None else ""
        parts = [f"Question: {instruction}"]
        if self.turn == 0:
            parts.append(f"Database (SQLite, read-only):\n{self._schema()}")
            parts.append(
                "Tools: sql(query) runs one SELECT and shows the result; describe(table) shows a table's "
                "columns and example rows; answer(text) submits your final answer (just the value) and "
                "ends the episode."
            )
        if self._answer is not None:
            parts.append("The episode is over.")
        else:
            left = self.max_turns - self.turn
            parts.append(f"{left} turn{'s' if left != 1 else ''} left.")
        return {"text": "\n\n".join(parts), "instruction": instruction, "tools": copy.deepcopy(TOOLS)}

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        return {
            "db_seed": self._seed_in_use,
            "db_id": database_id(self._seed_in_use),
            "turn": self.turn,
            "queries": list(self._queries),
            "described": list(self._described),
            "answered": self._answer is not None,
            "answer": self._answer,
            "correct": self._correct,
            "last_result": self._feedback,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if self.task is None:
            raise ValueError("reset the env with a task before set_state: the task holds the expected answer")
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict, got {type(state).__name__}")
        seed = int(state.get("db_seed", self._seed_in_use))
        if "db_id" in state and state["db_id"] != database_id(seed):
            raise ValueError(f"state is for database {state['db_id']!r}; this env builds {database_id(seed)!r}")
        queries = state.get("queries", [])
        described = state.get("described", [])
        if not all(isinstance(q, str) for q in queries) or not all(isinstance(t, str) for t in described):
            raise ValueError("state['queries'] and state['described'] must be lists of strings")
        self._seed_in_use = seed
        self.db  # noqa: B018 - open (and build if needed) the database now, not on the next step
        self._queries, self._described = list(queries), list(described)
        answered = bool(state.get("answered", False))
        self._answer = state.get("answer") if answered else None
        if answered and self._answer is None:
            self._answer = ""
        self._correct = state.get("correct") if answered else None
        self._set_progress(turn=int(state.get("turn", self.turn)), episode_over=answered,
                           feedback=str(state.get("last_result", "")))

    def anchor(self) -> str | None:
        """Hash of what the agent has learned: the distinct queries that ran (whitespace-normalised),
        the tables described, and whether it answered.  Invalid actions and repeats leave it alone."""
        if self.task is None:
            return None
        return state_hash({
            "task": self.task.task_id,
            "db": database_id(self._seed_in_use),
            "queries": sorted({" ".join(q.split()) for q in self._queries}),
            "described": sorted(set(self._described)),
            "answer": self._answer,
        })

    # ------------------------------------------------------------------ oracle & cleanup
    def expected_answer_text(self) -> str:
        """The canonical text of the expected answer (what the oracle submits)."""
        golden = self.task.golden.answer if self.task is not None else None
        if isinstance(golden, str) and golden:
            return golden
        return format_expected(self._expected, self._answer_type)

    def oracle_action(self) -> Any:
        if self.task is None or self._answer is not None:
            return None
        if self._reference_sql and self._reference_sql not in self._queries:
            return {"name": "sql", "arguments": {"query": self._reference_sql}}
        return {"name": "answer", "arguments": {"text": self.expected_answer_text()}}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the open connections; they reopen on first use."""
        state = self.__dict__.copy()
        state["_databases"] = {}
        return state

    def close(self) -> None:
        for db in self._databases.values():
            db.close()
        self._databases.clear()
        super().close()


def _string_argument(tool: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidAction(f"{tool}(): {name!r} must be a string, got {type(value).__name__}")
    return value


def _answer_text(value: Any) -> str:
    """The answer as text: strings as given, numbers formatted, lists one item per line."""
    if isinstance(value, bool) or value is None:
        raise InvalidAction(f"answer(): 'text' must be a string, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        text = format_expected(value, "number")
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise InvalidAction("answer(): a list answer may hold only strings and numbers")
        text = "\n".join(format_expected(v, "number") if not isinstance(v, str) else v for v in value)
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidAction(f"answer(): 'text' must be a string, got {type(value).__name__}")
    if not text.strip():
        raise InvalidAction("answer(): the answer is empty")
    if len(text) > 10_000:
        raise InvalidAction(f"answer(): the answer is {len(text)} characters long; the limit is 10000")
    return text
