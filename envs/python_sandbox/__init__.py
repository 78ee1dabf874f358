"""``envgym/PythonSandbox-v0``: tasks answered by running Python in a locked-down container
(see :mod:`envgym.envs.python_sandbox.env` and :mod:`envgym.envs.python_sandbox.runner`)."""

from envgym.envs.python_sandbox.env import PythonSandboxEnv, answers_match, format_result
from envgym.envs.python_sandbox.runner import RunResult, SandboxRunner

__all__ = ["PythonSandboxEnv", "RunResult", "SandboxRunner", "answers_match", "format_result"]
