"""The environment contract.

:class:`Env` *is* a :class:`gymnasium.Env` — ``reset(seed=None, options=None) -> (obs, info)`` and
``step(action) -> (obs, reward, terminated, truncated, info)`` — so every Gymnasium tool works with
it, and ``gymnasium.utils.env_checker.check_env`` passes.  What it adds for language agents:

* **Tasks** enter through ``reset(options={"task": task})`` where ``task`` is a :class:`~envgym.Task`,
  its dict form, or the id of a task in ``env.tasks``.  With no task, the env samples one from its
  task set (or, for procedural envs, builds one from the seed).
* **Actions** are text, function-call strings or tool calls (:mod:`envgym.actions`).  An action the
  env cannot carry out never raises: the next observation explains the problem, ``reward`` is
  ``-invalid_action_penalty`` and ``info["action_error"]`` holds the message.
* **Reserved info keys** (:data:`INFO_KEYS`) mean the same thing in every env.
* **State**: ``get_state()`` / ``set_state(state)`` expose a JSON-able state so verifiers and task
  synthesis can inspect and inject it.

Writing an env means implementing four hooks::

    class MyEnv(envgym.Env):
        def _reset(self, task) -> dict:          # build the state for ``task`` (from task.initial_state
                                                 # when given, else from its seed/spec); return extra info
        def _step(self, call) -> Transition:     # apply a parsed action; raise InvalidAction if it can't
        def _observe(self) -> Observation:       # render the current state for the agent
        def get_state(self) / set_state(state)   # optional, JSON-able

and optionally ``oracle_action()`` (the next action of a reference solver), ``sample_task()``,
``_info()`` (extra info on every step), ``max_turns_for(task)`` and ``state_schema()``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium

from envgym.actions import Call, InvalidAction, parse_action
from envgym.errors import Forbidden, ResetNeeded
from envgym.hashing import state_hash
from envgym.observation import Observation
from envgym.spaces import ActionSpace, ObservationSpace
from envgym.tasks import Task, TaskSet, check_split, load_tasks, parse_task, split_of

#: Reserved ``info`` keys and their meaning, identical across all envs.
INFO_KEYS: dict[str, str] = {
    "task_id": "id of the task this episode runs",
    "turn": "number of steps taken so far in the episode",
    "success": "bool, set on the step that ends the episode (terminated or truncated)",
    "action_error": "why the last action could not be carried out (absent if it could)",
    "infra_error": "the env itself failed; the episode must not be trained on as reward 0",
    "anchor": "hashable rendering of the raw state, for step-level grouping (GiGPO)",
    "subgoal": "the subgoal the env considers current, for envs that decompose tasks",
    "step_grade": "the env's grade of the step just taken in [0, 1] (1 = it helped), for step filters",
}


@dataclass
class Transition:
    """What ``_step`` returns.  ``feedback`` is shown to the agent in the next observation."""

    reward: float = 0.0
    terminated: bool = False
    success: bool | None = None
    feedback: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class Env(gymnasium.Env[dict, Any]):
    """Base class of envgym environments.  See the module docstring for the contract."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}
    #: JSONL file of the env's built-in tasks, relative to the env's module (or absolute).
    default_task_file: ClassVar[str | None] = None
    #: Default episode length limit; ``max_turns=`` overrides it.
    default_max_turns: ClassVar[int] = 50
    #: Whether tasks passed in (not from ``self.tasks``) may carry reward code; an env server sets it
    #: per env from its policy (:class:`envgym.remote.policy.SessionPolicy`).
    accept_python_rewards: bool = True

    def __init__(
        self,
        *,
        tasks: TaskSet | str | list | None = None,
        max_turns: int | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = ObservationSpace()
        self.action_space = ActionSpace(tool_names=tuple(self.tool_names()))
        if max_turns is not None and int(max_turns) < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self._max_turns_arg = None if max_turns is None else int(max_turns)
        self.max_turns = self._max_turns_arg or int(self.default_max_turns)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self._tasks_arg = tasks
        self._tasks: TaskSet | None = None
        self.task: Task | None = None
        self.turn = 0
        self._episode_over = True
        self._feedback = ""
        self._last_error = ""
        self._initial_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------ hooks for subclasses
    def _reset(self, task: Task) -> dict[str, Any]:
        raise NotImplementedError

    def _step(self, call: Call) -> Transition:
        raise NotImplementedError

    def _observe(self) -> Observation:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """The env's full state as JSON-able data."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its state")

    def set_state(self, state: dict[str, Any]) -> None:
        """Load a state produced by :meth:`get_state` (or written by a task generator)."""
        raise NotImplementedError(f"{type(self).__name__} does not accept a state")

    def _info(self) -> dict[str, Any]:
        """Extra ``info`` entries for every reset and step, invalid steps included (e.g. ``subgoal``)."""
        return {}

    def max_turns_for(self, task: Task) -> int:
        """Episode length limit for ``task`` when neither ``max_turns=`` nor ``task.spec["max_turns"]``
        sets one; called after ``_reset`` so it may look at the loaded state."""
        return int(self.default_max_turns)

    def state_schema(self) -> dict[str, Any] | None:
        """JSON Schema of :meth:`get_state`'s value (task synthesis shows it to generators), or ``None``."""
        return None

    def oracle_action(self) -> Any:
        """The next action of a reference solver from the current state, or ``None`` if unknown."""
        return None

    def tool_names(self) -> list[str]:
        """Names of the tools this env accepts as structured calls (used by ``action_space.sample``)."""
        return []

    def sample_task(self) -> Task:
        """The task used when ``reset`` gets none: a task drawn from ``self.tasks`` with ``np_random``."""
        return self.tasks.sample(self.np_random)

    def task_split(self, name: str, limit: int | None = None) -> TaskSet:
        """The tasks of split ``name`` (``train`` / ``test``); two splits never share a task.

        Default: the env's task set, each task in the split its ``spec["split"]`` names, else the one
        :func:`envgym.tasks.split_of` gives its :meth:`split_key`.  Procedural envs override this to
        build fresh tasks from disjoint seeds (their ids resolve through :meth:`task_from_id`)."""
        check_split(name)
        keep = [t for t in self.tasks if (t.spec.get("split") or split_of(self.split_key(t))) == name]
        return TaskSet(keep[:limit], source=f"{self.tasks.source or type(self).__name__} [{name}]")

    def split_key(self, task: Task) -> str:
        """What decides a task's split (tasks with one key are held out together); default: its id."""
        return task.task_id

    def task_from_id(self, task_id: str) -> Task:
        """The task an id names; default: the task of that id in ``self.tasks``."""
        return self.tasks.get(task_id)

    def anchor(self) -> str | None:
        """Hashable rendering of the state for step-level grouping; default: hash of ``get_state()``."""
        try:
            return state_hash(self.get_state())
        except NotImplementedError:
            return None

    # ------------------------------------------------------------------ public API
    @property
    def tasks(self) -> TaskSet:
        """The env's task set (loaded on first use)."""
        if self._tasks is None:
            self._tasks = self._load_tasks(self._tasks_arg)
        return self._tasks

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task")
        self.task = self.sample_task() if task is None else self.resolve_task(task)
        self.turn = 0
        self._feedback = ""
        self._last_error = ""
        extra = self._reset(self.task) or {}
        self.max_turns = int(
            self._max_turns_arg or self.task.spec.get("max_turns") or self.max_turns_for(self.task)
        )
        self._episode_over = False
        # Synthesised tasks carry their own (untrusted) reward code: remember where the episode
        # started, score the final state in the sandbox when it ends.
        self._initial_state = self.get_state() if self.task.reward.kind == "python" else None
        info = {"task_id": self.task.task_id, "turn": 0, **extra, **self._info()}
        anchor = self.anchor()
        if anchor is not None:
            info["anchor"] = anchor
        return self._observation(), info

    def step(self, action: Any):
        if self.task is None or self._episode_over:
            raise ResetNeeded(
                "call reset() before step()" if self.task is None else "the episode is over; call reset()"
            )
        self.turn += 1
        info: dict[str, Any] = {}
        try:
            transition = self._step(parse_action(action))
            self._last_error = ""
        except InvalidAction as exc:
            message = str(exc) or "invalid action"
            penalty = self.invalid_action_penalty
            transition = Transition(reward=-penalty if penalty else 0.0, feedback=f"Invalid action: {message}")
            self._last_error = message
            info["action_error"] = message
        self._feedback = transition.feedback
        info.update(transition.info)
        info.update(self._info())
        terminated = bool(transition.terminated)
        truncated = not terminated and self.turn >= self.max_turns
        reward = float(transition.reward)
        if terminated or truncated:
            self._episode_over = True
            info["success"] = bool(transition.success)
        if self._initial_state is not None:
            reward = self._score_python_reward(terminated or truncated, info)
        info["task_id"] = self.task.task_id
        info["turn"] = self.turn
        anchor = self.anchor()
        if anchor is not None:
            info["anchor"] = anchor
        return self._observation(), reward, terminated, truncated, info

    def observe(self) -> Observation:
        """The observation of the current state, as ``reset``/``step`` would return it."""
        if self.task is None:
            raise ResetNeeded("call reset() before observe()")
        return self._observation()

    def load_state(self, state: dict[str, Any], task: Any = None) -> Observation:
        """Put the env in ``state`` (from :meth:`get_state` or a task generator) and make it steppable:
        the episode counts from turn 0 unless ``set_state`` says otherwise (via ``_set_progress``)."""
        if task is not None:
            self.task = self.resolve_task(task)
        self._set_progress(turn=0, episode_over=False)
        self.set_state(state)
        if self.task is None:
            raise ValueError(f"{type(self).__name__}.set_state made no task; pass task= to load_state")
        return self._observation()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._observation()["text"] if self.task is not None else ""
        return None

    def resolve_task(self, task: Any) -> Task:
        """A :class:`Task` from a Task, its dict form, or a task id in ``self.tasks``."""
        if isinstance(task, str):
            return self.task_from_id(task)
        if isinstance(task, dict):
            task = parse_task(task, where="options['task']")
        if not isinstance(task, Task):
            raise TypeError(f"options['task'] must be a Task, dict or task id, got {type(task).__name__}")
        if not self._may_score(task):
            raise Forbidden(f"task {task.task_id!r} carries reward code, which this env does not accept from outside "
                            "its task set (envgym serve --allow-python-rewards)")
        return task

    # ------------------------------------------------------------------ helpers
    def _score_python_reward(self, episode_ended: bool, info: dict[str, Any]) -> float:
        """Reward of a ``reward.kind == "python"`` task: 0 until the episode ends, then the jailed
        score of (initial state, final state) (:func:`envgym.rewards.score_task`).  Reward code that
        cannot run, or no isolation boundary to run it in, is an infra error."""
        if not episode_ended:
            return 0.0
        from envgym.errors import InfraError
        from envgym.rewards import score_task

        try:
            if not self._may_score(self.task):
                raise Forbidden("this env does not run reward code of tasks from outside its task set")
            result = score_task(self.task, self._initial_state or {}, self.get_state())
            error = result.error
        except (InfraError, Forbidden) as exc:
            error = str(exc)
        if error is not None:
            info["infra_error"] = f"the task's reward could not run: {error}"
            info["success"] = False
            return 0.0
        info["success"] = result.success
        info["reward_components"] = result.components
        return float(result.score or 0.0)

    def _may_score(self, task: Task) -> bool:
        """Whether ``task``'s reward may run here: not code, or code accepted, or one of our own tasks."""
        if task.reward.kind != "python" or self.accept_python_rewards:
            return True
        return task.task_id in self.tasks and self.tasks.get(task.task_id) == task

    def _set_progress(self, *, turn: int, episode_over: bool, feedback: str = "", last_error: str = "") -> None:
        """For ``set_state`` implementations: tell the base class where the loaded episode stands
        (turn count for truncation, whether ``step`` is still allowed, what the agent was last told)."""
        self.turn = int(turn)
        self._episode_over = bool(episode_over)
        self._feedback = feedback
        self._last_error = last_error

    def _observation(self) -> Observation:
        obs = copy.deepcopy(self._observe())
        text = obs.get("text", "")
        if self._feedback:
            text = f"{self._feedback}\n\n{text}" if text else self._feedback
        obs["text"] = text
        obs["last_action_error"] = self._last_error
        return obs

    def _load_tasks(self, tasks: Any) -> TaskSet:
        if isinstance(tasks, TaskSet):
            return tasks
        if isinstance(tasks, list):
            return TaskSet(parse_task(t, where=f"tasks[{i}]") for i, t in enumerate(tasks))
        path = tasks if tasks is not None else self.default_task_file
        if path is None:
            return TaskSet()
        return load_tasks(self._resolve_path(str(path)))

    def _resolve_path(self, path: str) -> str:
        import os
        import sys

        if os.path.isabs(path) or os.path.exists(path):
            return path
        module = sys.modules[type(self).__module__]
        return os.path.join(os.path.dirname(module.__file__ or "."), path)
