"""envgym — a gym for training LLM and VLM agents with multi-turn reinforcement learning.

>>> import envgym
>>> env = envgym.make("envgym/Maze-v0")
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step("north")

``import envgym`` is light: torch, playwright, docker and vllm load only when a feature needs them.
"""

from envgym.actions import Call, InvalidAction, parse_action
from envgym.core import INFO_KEYS, Env, Transition
from envgym.errors import InfraError, ResetNeeded, TaskFileError, UnknownEnvError
from envgym.observation import Observation, function_tool
from envgym.registration import EnvSpec, list_envs, make, register, spec
from envgym.spaces import ActionSpace, ObservationSpace, UnicodeText
from envgym.tasks import Golden, RewardSpec, Task, TaskSet, load_tasks, save_tasks
from envgym.trajectory import Episode, EpisodeWriter, Turn, read_episodes, write_episodes

from envgym import builtin_envs as _builtin_envs  # noqa: E402,F401  (registers envgym/* ids; imports no env code)

__version__ = "0.1.0"

__all__ = [
    "ActionSpace", "Call", "Env", "EnvSpec", "Episode", "EpisodeWriter", "Golden", "INFO_KEYS",
    "InfraError", "InvalidAction", "Observation", "ObservationSpace", "ResetNeeded", "RewardSpec",
    "Task", "TaskFileError", "TaskSet", "Transition", "Turn", "UnicodeText", "UnknownEnvError",
    "function_tool", "list_envs", "load_tasks", "make", "parse_action", "read_episodes", "register",
    "save_tasks", "spec", "write_episodes",
]
