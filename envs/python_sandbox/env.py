"""``envgym/PythonSandbox-v0``: answer a task by running Python in a locked-down container.

**Tools.**  ``python(code)`` runs ``code`` with ``python3 -I`` in the sandbox (see
:mod:`envgym.envs.python_sandbox.runner`: no network, read-only root, tmpfs ``/workspace``, memory/pids/CPU
limits, no capabilities, unprivileged user) and shows stdout, stderr, the exit code, and whether it
timed out (``time_limit_s`` per call) or was killed by the memory limit.  Files written to
``/workspace`` persist across calls of one episode; ``reset`` starts the next episode in a fresh
container (a warm spare), so nothing of the last one is left.
``answer(text)`` submits the answer and ends the episode.  Both accept the function-call string form
(``python("print(1)")``, ``answer(text="42")``) and structured tool calls.

**Reward.**  ``1.0`` when the answer matches ``task.golden.answer``: numerically (within
``reward.params["tolerance"]``, default ``1e-6``) when both parse as numbers, else as text after
trimming and collapsing whitespace (case-insensitive when ``reward.params["case_sensitive"]`` is
false).  ``0.0`` otherwise.  Running code is free; episodes truncate after ``max_turns`` (10).

**State.**  ``get_state()``: the task id, the transcript of calls (code and results) and the answer,
if any.  The sandbox's files are not part of the state.

The env itself runs wherever it is made (``runtime="container"`` included, see
:data:`envgym.containers.runtime.SELF_CONTAINED_IMAGES`); only the submitted code runs in the sandbox.
"""

from __future__ import annotations

import math
import re
from typing import Any

from envgym import Env, InvalidAction, Task, Transition, function_tool
from envgym.actions import Call
from envgym.hashing import state_hash
from envgym.observation import Observation

from envgym.envs.python_sandbox.runner import RunResult, SandboxRunner

ENV_ID = "envgym/PythonSandbox-v0"
TOOLS = [
    function_tool(
        "python",
        "Run Python 3 code in an isolated sandbox (no network, no host files). Print what you need; "
        "stdout, stderr and the exit code come back.",
        {"code": {"type": "string", "description": "a complete Python program"}},
    ),
    function_tool("answer", "Submit the final answer; ends the episode.", {"text": {"type": "string"}}),
]
USAGE = 'Use python(code="...") to run code, then answer(text="...") to submit.'


def answers_match(given: str, expected: Any, *, tolerance: float = 1e-6, case_sensitive: bool = True) -> bool:
    """Whether ``given`` matches ``expected``: exact equality when both are integers,
    ``|g - e| <= tolerance * max(1, |e|)`` when both are other numbers, else equality after trimming
    and collapsing whitespace."""
    given_text = " ".join(str(given).split())
    expected_text = " ".join(str(expected).split())
    try:
        return int(given_text.replace(",", "")) == int(expected_text.replace(",", ""))
    except ValueError:
        pass
    try:
        g, e = float(given_text.replace(",", "")), float(expected_text.replace(",", ""))
    except ValueError:
        pass
    else:
        if math.isfinite(g) and math.isfinite(e):
            return abs(g - e) <= tolerance * max(1.0, abs(e))
    if not case_sensitive:
        return given_text.casefold() == expected_text.casefold()
    return given_text == expected_text


def format_result(result: RunResult, time_limit_s: float, mem_limit: str) -> str:
    """The agent's view of one run."""
    if result.sandbox_restarted:
        head = "The code brought the sandbox down"
        if result.oom_killed:
            head += f" (memory limit {mem_limit})"
        head += f". {result.note}"
    elif result.timed_out:
        head = f"Timed out after {time_limit_s:g} s; the program and everything it started were killed."
    elif result.oom_killed or (result.exit_code == -9):
        head = f"Killed (exit code {result.exit_code}): the program exceeded the memory limit ({mem_limit})."
    else:
        head = f"Exit code {result.exit_code} ({result.duration_s:.2f} s)."
    parts = [head]
    if result.stdout:
        parts.append(f"stdout:\n{result.stdout}")
    if result.stderr:
        parts.append(f"stderr:\n{result.stderr}")
    if not result.stdout and not result.stderr and not result.sandbox_restarted:
        parts.append("(no output)")
    if result.truncated:
        parts.append("(output truncated)")
    return "\n".join(parts)


class PythonSandboxEnv(Env):
    """Tool-use env: ``python(code)`` in a container sandbox, then ``answer(text)``."""

    default_task_file = "tasks.jsonl"
    default_max_turns = 10

    def __init__(
        self,
        *,
        time_limit_s: float = 10.0,
        mem_limit: str = "256m",
        pids_limit: int = 64,
        cpus: float = 1.0,
        max_output_bytes: int = 4000,
        image: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        self.time_limit_s = float(time_limit_s)
        self.mem_limit = mem_limit
        self.max_output_bytes = int(max_output_bytes)
        self.runner = SandboxRunner(image, cpus=cpus, mem_limit=mem_limit, pids_limit=pids_limit, env_id=ENV_ID)
        self.history: list[dict[str, Any]] = []
        self.submitted: str | None = None

    def tool_names(self) -> list[str]:
        return ["python", "answer"]

    # ------------------------------------------------------------------ hooks
    def _reset(self, task: Task) -> dict[str, Any]:
        self.history = []
        self.submitted = None
        if self.runner.handle is None:
            self.runner.start()
        else:
            self.runner.reset()
        return {}

    def _step(self, call: Call) -> Transition:
        if call.name == "python" and call.is_call:
            code = call.argument(0, "code")
            if not isinstance(code, str) or not code.strip():
                raise InvalidAction('python() needs the code to run as a string, e.g. python(code="print(1 + 1)")')
            result = self.run_code(code)
            self.history.append({"code": code, "result": result.to_dict()})
            return Transition(
                feedback=format_result(result, self.time_limit_s, self.mem_limit),
                info={"exit_code": result.exit_code, "timed_out": result.timed_out},
            )
        if call.name == "answer" and call.is_call:
            text = call.argument(0, "text")
            if not isinstance(text, (str, int, float)):
                raise InvalidAction('answer() needs the answer as text, e.g. answer(text="42")')
            self.submitted = str(text)
            correct = self.is_correct(self.submitted)
            verdict = "Correct." if correct else "Incorrect."
            return Transition(reward=1.0 if correct else 0.0, terminated=True, success=correct,
                              feedback=f"Answer submitted: {self.submitted!r}. {verdict}")
        raise InvalidAction(f"unknown action {call.name[:60]!r}. {USAGE}")

    def _observe(self) -> Observation:
        assert self.task is not None
        return {
            "text": f"Task: {self.task.instruction}\n\n{USAGE}",
            "instruction": self.task.instruction,
            "tools": TOOLS,
        }

    # ------------------------------------------------------------------ helpers
    def run_code(self, code: str) -> RunResult:
        """Run ``code`` in the sandbox (also usable outside an episode, e.g. by tests)."""
        return self.runner.run(code, timeout_s=self.time_limit_s, max_output_bytes=self.max_output_bytes)

    def is_correct(self, text: str) -> bool:
        assert self.task is not None
        expected = self.task.golden.answer
        if expected is None:
            return False
        params = self.task.reward.params
        return answers_match(
            text, expected, tolerance=float(params.get("tolerance", 1e-6)),
            case_sensitive=bool(params.get("case_sensitive", True)),
        )

    def get_state(self) -> dict[str, Any]:
        return {
            "task_id": self.task.task_id if self.task else None,
            "turn": self.turn,
            "history": [dict(h) for h in self.history],
            "submitted": self.submitted,
        }

    def anchor(self) -> str:
        """The state's hash without run times: the same code on the same task is the same state."""
        state = self.get_state()
        state["history"] = [{**h, "result": {k: v for k, v in h["result"].items() if k != "duration_s"}}
                            for h in state["history"]]
        return state_hash(state)

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("task_id") is not None:
            self.task = self.resolve_task(state["task_id"])
        self.turn = int(state.get("turn", 0))
        self.history = [dict(h) for h in state.get("history", [])]
        self.submitted = state.get("submitted")
        self._episode_over = self.submitted is not None

    def oracle_action(self) -> Any:
        """The golden actions in order (run the code, then answer); ``answer(golden)`` once they run out."""
        if self.task is None or self._episode_over:
            return None
        actions = self.task.golden.actions or []
        if self.turn < len(actions):
            return actions[self.turn]
        if self.task.golden.answer is None:
            return None
        return {"name": "answer", "arguments": {"text": str(self.task.golden.answer)}}

    def close(self) -> None:
        self.runner.close()
        super().close()


def normalise_output(text: str) -> str:
    """Trimmed output with collapsed whitespace (how golden answers are derived from golden code)."""
    return re.sub(r"\s+", " ", text).strip()
