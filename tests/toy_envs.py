"""A tiny env used by the core tests: count up to ``n`` by saying ``up``."""

from __future__ import annotations

import envgym
from envgym import Env, InvalidAction, Task, Transition


class CountEnv(Env):
    default_max_turns = 8

    def sample_task(self) -> Task:
        n = int(self.np_random.integers(1, 5))
        return Task(task_id=f"count-{n}", env_id="test/Count-v0", instruction=f"Say 'up' {n} times.", spec={"n": n})

    def _reset(self, task):
        self.n = int(task.spec["n"])
        self.k = 0
        return {}

    def _step(self, call):
        if call.name != "up":
            raise InvalidAction(f"unknown command {call.name[:40]!r}; say 'up'")
        self.k += 1
        done = self.k >= self.n
        return Transition(reward=1.0 if done else 0.0, terminated=done, success=done, feedback=f"k is now {self.k}")

    def _observe(self):
        return {"text": f"count {self.k}/{self.n}", "admissible_actions": ["up"], "instruction": self.task.instruction}

    def get_state(self):
        return {"n": self.n, "k": self.k}

    def set_state(self, state):
        self.n, self.k = int(state["n"]), int(state["k"])

    def oracle_action(self):
        return "up"


envgym.register("test/Count-v0", "tests.toy_envs:CountEnv", description="count up", tags=("text", "test"))
