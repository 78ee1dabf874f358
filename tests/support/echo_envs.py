"""Small envs for the remote and transport tests, registered on import (``tests.support.echo_envs``).

* ``envgym-test/Echo-v0`` (:class:`EchoEnv`) — a counter env that echoes actions, with bytes images,
  unicode, nested info, ``get_state``/``set_state``; kwargs ``step_sleep_s`` (sleep in every step),
  ``raise_on`` (raise ``RuntimeError`` when the action is that text), ``infra_on`` (raise
  ``envgym.InfraError`` when the action is that text), ``infra_resets`` (the first that many resets
  raise ``envgym.InfraError``) and ``label`` (recorded in :data:`BUILT` with the building thread, and in
  :data:`CLOSED_LABELS` when the env closes).  The action ``"wait:NAME"`` blocks the step on the
  :func:`gate` ``NAME`` until the test releases it (ordering tests without timing).
* ``envgym-test/NoOp-v0`` (:class:`NoOpEnv`) — does nothing, as fast as possible (benchmarks).

A server in a subprocess sees them with ``running_server_process(ECHO_ID, imports=IMPORTS)``
(:mod:`envgym.remote.loopback`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from envgym.actions import Call, InvalidAction
from envgym.core import Env, Transition
from envgym.errors import InfraError
from envgym.registration import register
from envgym.tasks import Task

ECHO_ID = "envgym-test/Echo-v0"
NOOP_ID = "envgym-test/NoOp-v0"
#: ``--import`` modules for an env server subprocess that must know these envs
IMPORTS = (__name__,)

#: Labels of Echo envs that have been closed (in this process), in closing order.
CLOSED_LABELS: list[str] = []
#: ``(label, thread name)`` of every Echo env built (in this process), in building order.
BUILT: list[tuple[str, str]] = []


class Gate:
    """A meeting point between a test and an env step: ``entered`` is set when the step arrives,
    the step then waits for ``release``."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


_GATES: dict[str, Gate] = {}
_GATES_LOCK = threading.Lock()


def gate(name: str) -> Gate:
    """The gate called ``name`` (created on first use)."""
    with _GATES_LOCK:
        return _GATES.setdefault(name, Gate())


class EchoEnv(Env):
    """Echoes each action; ``stop`` (or the tool call ``stop()``) ends the episode with success."""

    default_max_turns = 10

    def __init__(
        self,
        *,
        step_sleep_s: float = 0.0,
        raise_on: str | None = None,
        infra_on: str | None = None,
        infra_resets: int = 0,
        label: str = "",
        image_size: int = 64,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.step_sleep_s = float(step_sleep_s)
        self.raise_on = raise_on
        self.infra_on = infra_on
        self.infra_resets = int(infra_resets)
        self.label = label
        self.image_size = int(image_size)
        self.count = 0
        self.log: list[str] = []
        self.secret = 0
        BUILT.append((label, threading.current_thread().name))

    def tool_names(self) -> list[str]:
        return ["echo", "stop"]

    def sample_task(self) -> Task:
        seed = int(self.np_random.integers(1_000_000))
        return Task(
            task_id=f"echo-{seed}", env_id=ECHO_ID, seed=seed,
            instruction="Say anything; say 'stop' to finish. Ünïcödé ✓",
        )

    def _reset(self, task: Task) -> dict[str, Any]:
        if self.infra_resets > 0:
            self.infra_resets -= 1
            raise InfraError("EchoEnv's backend is down (told to fail this reset)")
        self.count = 0
        self.log = []
        self.secret = (task.seed or 0) % 997
        return {"greeting": "héllo wörld 你好 😀", "secret_bytes": bytes([self.secret % 256, 0, 255, 10])}

    def _step(self, call: Call) -> Transition:
        if call.is_call and call.name == "echo":
            word = str(call.argument(0, "text"))
        elif call.is_call and call.name == "stop":
            word = "stop"
        elif call.is_call:
            raise InvalidAction(f"unknown tool {call.name!r}; use echo(text) or stop()")
        else:
            word = call.text
        if self.raise_on is not None and word == self.raise_on:
            raise RuntimeError(f"EchoEnv was told to fail on {word!r}")
        if self.infra_on is not None and word == self.infra_on:
            raise InfraError(f"EchoEnv's backend crashed on {word!r}")
        if word.startswith("wait:"):
            waiting = gate(word[5:])
            waiting.entered.set()
            if not waiting.release.wait(timeout=60):
                raise TimeoutError(f"gate {word[5:]!r} was never released")
        if self.step_sleep_s:
            time.sleep(self.step_sleep_s)
        self.count += 1
        self.log.append(word)
        done = word == "stop"
        return Transition(
            reward=round(len(word) * 0.5 + self.secret / 1000.0, 6),
            terminated=done,
            success=done,
            feedback=f"echo: {word}",
            info={"echo": word, "count": self.count, "payload": {"raw": word.encode("utf-8"), "nested": [1, 2.5, None, True, "ünï"]}},
        )

    def _observe(self) -> dict[str, Any]:
        image = b"\x89PNG\r\n\x1a\n" + bytes((self.secret + self.count + i) % 256 for i in range(self.image_size))
        return {
            "text": f"count={self.count} last={self.log[-1] if self.log else ''!s} 🙂",
            "image": image,
            "instruction": self.task.instruction if self.task else "",
            "messages": [{"role": "user", "content": f"étape {self.count}"}],
            "admissible_actions": ["echo", "stop"],
        }

    def get_state(self) -> dict[str, Any]:
        return {"count": self.count, "log": list(self.log), "secret": self.secret}

    def set_state(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.log = [str(w) for w in state["log"]]
        self.secret = int(state["secret"])

    def oracle_action(self) -> Any:
        return "stop"

    def close(self) -> None:
        if self.label:
            CLOSED_LABELS.append(self.label)
        super().close()


_NOOP_TASK = Task(task_id="noop", env_id=NOOP_ID, instruction="nothing to do")


class NoOpEnv(Env):
    """Every step does nothing: reward 0, never terminates (for measuring transport overhead)."""

    default_max_turns = 1_000_000_000

    def sample_task(self) -> Task:
        return _NOOP_TASK

    def _reset(self, task: Task) -> dict[str, Any]:
        return {}

    def _step(self, call: Call) -> Transition:
        return Transition()

    def _observe(self) -> dict[str, Any]:
        return {"text": "ok"}


register(ECHO_ID, f"{__name__}:EchoEnv", description="Test env: echoes actions.", tags=("test",))
register(NOOP_ID, f"{__name__}:NoOpEnv", description="Test env: does nothing.", tags=("test",))
