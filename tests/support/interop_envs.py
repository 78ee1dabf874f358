"""A test env for the protocol adapters: ``envgym-test/InfraFail-v0`` fails on demand.

Actions: ``infra`` → the env raises :class:`envgym.InfraError`; ``infra-info`` → the step reports
``info["infra_error"]`` (how container and browser envs report a dead backend); ``bug`` → it raises
``ValueError``; anything else ends the episode with reward 1.  Observations carry a fake PNG image.
"""

from __future__ import annotations

from envgym.core import Env, Transition
from envgym.errors import InfraError
from envgym.registration import register
from envgym.tasks import Task

INFRA_FAIL_ID = "envgym-test/InfraFail-v0"


class InfraFailEnv(Env):
    def sample_task(self) -> Task:
        return Task(task_id="t", env_id=INFRA_FAIL_ID, instruction="fail")

    def _reset(self, task: Task) -> dict:
        return {}

    def _step(self, call) -> Transition:
        if call.text == "infra":
            raise InfraError("the browser died")
        if call.text == "infra-info":
            return Transition(info={"infra_error": "the container stopped"})
        if call.text == "bug":
            raise ValueError("env bug")
        return Transition(reward=1.0, terminated=True, success=True)

    def _observe(self) -> dict:
        return {"text": "ok", "image": b"\x89PNG\r\n\x1a\nfake"}


register(INFRA_FAIL_ID, InfraFailEnv, description="raises infra errors", tags=("test",), override=True)
