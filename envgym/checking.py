"""``envgym check ENV_ID``: does an environment keep the envgym contract?

:func:`check` makes the env (in this process, behind an ``envgym serve`` subprocess, or in a
container) and runs each check of :data:`CHECKS` on it; a check that raises fails with the reason,
the others still run.  The :class:`Report` renders as text and says ``ok`` only if no check failed.

=================  ====================================================================================
check              what must hold
=================  ====================================================================================
gymnasium          ``gymnasium.utils.env_checker.check_env`` passes (render modes: in-process only)
reset-seed         ``reset(seed=s)`` twice gives the same observation and info
group-reset        resets with one task and seed start from identical states (observation, info, state)
absurd-actions     each of :data:`ABSURD_ACTIONS` is answered with ``info["action_error"]`` (also shown
                   as ``observation["last_action_error"]``), never an exception
fuzzed-actions     random text and tool calls (``action_space.sample()`` and the env's own tools with
                   junk arguments) never raise and always give a valid observation
oracle             the golden ``actions`` (or the env's ``oracle_action()``) solve every task with one
no-op / random     playing until the episode ends, a no-op agent (it sends empty replies) fails every
                   task, and a random agent fails the tasks that list ``"random"`` in
                   ``spec["must_fail"]``: no success, no positive return
anchors            ``info["anchor"]`` on every reset and step of envs that report one, and the same
                   actions from the same start give the same anchors
rollouts           (``--rollouts FILE``) replaying each stored episode's actions gives its recorded rewards
=================  ====================================================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envgym.oracle import roll_out

#: Actions no env can accept: each must come back as ``info["action_error"]``, never as an exception.
ABSURD_ACTIONS: list[Any] = [
    "", "   ", "x" * 200_000, "\x00", "日本語のアクション 😀", "up(", "up(1, 2", "os.system('rm -rf /')",
    "__import__('os')()", "f(**{'a': 1})", "f(lambda: 1)", None, 42, 3.5, [], ["up"], {}, {"name": ""},
    {"name": "up", "arguments": "{not json"}, {"name": "up", "arguments": [1, 2]}, {"arguments": {}},
    b"\xff\xfe", object(), float("nan"),
]
RUNTIMES = ("local", "remote", "container")
PASS, FAIL, SKIP = "pass", "FAIL", "skip"
_JUNK = ["", "0", "-1", "x" * 5000, "'; DROP TABLE t; --", "null", "日本語", "\x00", "../../etc/passwd"]


@dataclass
class Finding:
    """The outcome of one check: ``status`` is ``pass``, ``FAIL`` or ``skip``."""

    check: str
    status: str
    detail: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    env_id: str
    runtime: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.status != FAIL for f in self.findings)

    def render(self, max_problems: int = 8) -> str:
        """The report as text, one line per check, problems indented below a failed one."""
        lines = [f"envgym check {self.env_id} (runtime: {self.runtime})"]
        for finding in self.findings:
            lines.append(f"  {finding.status:<4}  {finding.check:<15} {finding.detail}".rstrip())
            shown = finding.problems[:max_problems]
            lines += [f"          - {problem}" for problem in shown]
            if len(finding.problems) > len(shown):
                lines.append(f"          … and {len(finding.problems) - len(shown)} more")
        counts = {status: sum(f.status == status for f in self.findings) for status in (PASS, FAIL, SKIP)}
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
                     f"in {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "runtime": self.runtime, "ok": self.ok, "seconds": round(self.seconds, 2),
                "findings": [vars(f) for f in self.findings]}


@dataclass
class CheckOptions:
    """How much to check.  ``max_tasks``: the oracle runs on at most this many tasks (``None``: all);
    ``sample_tasks``: tasks used by the per-task checks other than the oracle; ``baseline_steps``:
    at most this many actions per no-op or random episode (and per anchor trail)."""

    max_tasks: int | None = None
    sample_tasks: int = 3
    group_size: int = 3
    fuzz_actions: int = 24
    baseline_steps: int = 60
    seed: int = 0
    rollouts: str | None = None
    render_check: bool = True


# ---------------------------------------------------------------------------------------- entry point
def check(env_id: str, *, runtime: str = "local", options: CheckOptions | None = None,
          env_kwargs: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> Report:
    """Run every check on ``env_id`` made with ``runtime``; the report (never raises for env bugs)."""
    from envgym.registration import spec

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    env_spec = spec(env_id)
    options = options or CheckOptions()
    if runtime != "local" or "web" in env_spec.tags:
        options.render_check = False  # it makes a new env per render mode: not over a wire or a browser
    started = time.monotonic()
    report = Report(env_id, runtime)
    tasks = _task_list(env_spec, env_kwargs or {})
    with open_env(env_id, runtime, env_kwargs or {}) as env:
        checker = Checker(env, tasks, options, local=runtime == "local")
        for name, method in CHECKS:
            if log:
                log(f"{env_id}: {name}")
            report.findings.append(checker.guarded(name, method))
    report.seconds = time.monotonic() - started
    return report


@contextlib.contextmanager
def open_env(env_id: str, runtime: str, env_kwargs: dict[str, Any]) -> Iterator[Any]:
    """The env made for ``runtime``: in-process, through an ``envgym serve`` subprocess on loopback,
    or in a container; closed (and its server stopped) on exit."""
    import envgym

    with contextlib.ExitStack() as stack:
        if runtime == "remote":
            from envgym.remote.loopback import running_server_process

            url, _ = stack.enter_context(running_server_process(env_id))
            env = envgym.make(env_id, runtime="remote", url=url, **env_kwargs)
        else:
            env = envgym.make(env_id, runtime=runtime, **env_kwargs)
        stack.callback(env.close)
        yield env


def _task_list(env_spec: Any, env_kwargs: dict[str, Any]) -> list[Any]:
    """The env's task set, read from an in-process instance that is never reset (so a remote or
    container check needs the env importable here, not runnable)."""
    env = env_spec.make(**env_kwargs)
    try:
        return list(env.unwrapped.tasks)
    finally:
        env.close()


# ---------------------------------------------------------------------------------------- the checks
class Checker:
    """The checks, run on one env instance (see the module docstring)."""

    def __init__(self, env: Any, tasks: list[Any], options: CheckOptions, *, local: bool = True):
        self.env = env
        self.tasks = tasks
        self.options = options
        self.local = local
        self.rng = np.random.default_rng(options.seed)

    def guarded(self, name: str, method: Callable[[Checker], Finding]) -> Finding:
        try:
            return method(self)
        except Exception as exc:  # noqa: BLE001 - an env bug is a failed check, not a crash of the checker
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return Finding(name, FAIL, f"raised {type(exc).__name__}: {_short(exc)}",
                           [f"at {where.filename}:{where.lineno} in {where.name}"])

    # ------------------------------------------------------------------ helpers
    def cases(self, limit: int | None) -> list[tuple[Any, int]]:
        """``(task, seed)`` pairs: the env's tasks (their own seeds), else seeds alone (``task=None``)."""
        if self.tasks:
            chosen = self.tasks if limit is None else _spread(self.tasks, limit)
            return [(task, task.seed if task.seed is not None else self.options.seed) for task in chosen]
        return [(None, self.options.seed + k) for k in range(limit or self.options.sample_tasks)]

    def reset(self, task: Any, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
        options = {"task": task.model_dump(mode="json")} if task is not None else None
        return self.env.reset(seed=seed, options=options)

    def state(self) -> Any:
        try:
            return self.env.unwrapped.get_state()
        except NotImplementedError:
            return None

    # ------------------------------------------------------------------ gymnasium and resets
    def check_gymnasium(self) -> Finding:
        from gymnasium.utils.env_checker import check_env

        check_env(self.env, skip_render_check=not self.options.render_check, skip_close_check=True)
        return Finding("gymnasium", PASS, "check_env" + ("" if self.options.render_check else " (render modes skipped)"))

    def check_reset_seed(self) -> Finding:
        problems = []
        for seed in (self.options.seed, self.options.seed + 1):
            first = self.env.reset(seed=seed)
            second = self.env.reset(seed=seed)
            if (difference := first_difference(first, second)) is not None:
                problems.append(f"reset(seed={seed}) twice differs at {difference}")
        return _finding("reset-seed", problems, "reset(seed) is deterministic")

    def check_group_reset(self) -> Finding:
        problems = []
        cases = self.cases(self.options.sample_tasks)
        for task, seed in cases:
            starts = []
            for _ in range(self.options.group_size):
                obs, info = self.reset(task, seed)
                starts.append((obs, info, self.state()))
            for other in starts[1:]:
                if (difference := first_difference(starts[0], other)) is not None:
                    problems.append(f"{_name(task, seed)}: resets differ at {difference}")
                    break
        return _finding("group-reset", problems, f"{len(cases)} tasks x {self.options.group_size} resets start alike")

    # ------------------------------------------------------------------ actions
    def check_absurd_actions(self) -> Finding:
        problems = []
        actions = [a for a in ABSURD_ACTIONS if self.local or _wire_safe(a)]
        self.env.reset(seed=self.options.seed)
        for action in actions:
            obs, _, terminated, truncated, info = self.env.step(action)
            if not info.get("action_error"):
                problems.append(f"{_show(action)} was accepted (no info['action_error'])")
            elif obs.get("last_action_error") != info["action_error"]:
                problems.append(f"{_show(action)}: observation['last_action_error'] does not say why")
            if terminated or truncated:
                self.env.reset(seed=self.options.seed)
        return _finding("absurd-actions", problems, f"{len(actions)} absurd actions became action errors")

    def check_fuzzed_actions(self) -> Finding:
        problems = []
        space = self.env.action_space
        space.seed(self.options.seed)
        obs, _ = self.env.reset(seed=self.options.seed)
        for k in range(self.options.fuzz_actions):
            action = space.sample() if k % 2 == 0 else self.random_tool_call(obs)
            obs, _, terminated, truncated, _ = self.env.step(action)
            if not self.env.observation_space.contains(obs):
                problems.append(f"after {_show(action)} the observation is not in observation_space")
            if terminated or truncated:
                obs, _ = self.env.reset(seed=self.options.seed + k + 1)
        return _finding("fuzzed-actions", problems, f"{self.options.fuzz_actions} random actions handled")

    def random_tool_call(self, obs: dict[str, Any]) -> Any:
        """One of the env's own tools with junk arguments (random text when it offers none)."""
        tools = obs.get("tools") or []
        if not tools:
            return _JUNK[int(self.rng.integers(len(_JUNK)))]
        function = tools[int(self.rng.integers(len(tools)))]
        function = function.get("function", function)
        names = list((function.get("parameters") or {}).get("properties") or {})
        return {"name": function.get("name"),
                "arguments": {name: _JUNK[int(self.rng.integers(len(_JUNK)))] for name in names}}

    # ------------------------------------------------------------------ solutions and baselines
    def check_oracle(self) -> Finding:
        problems, solved, skipped = [], 0, 0
        for task, seed in self.cases(self.options.max_tasks):
            self.reset(task, seed)
            script = list(task.golden.actions or []) if task is not None else []
            if not script and self.env.unwrapped.oracle_action() is None:
                skipped += 1  # no golden solution for this task
                continue
            run = roll_out(self.env, script=script, max_steps=10_000)
            if run.success:
                solved += 1
            else:
                why = f"action {_show(run.actions[-1])} failed: {run.error}" if run.error else (
                    "the episode did not end" if not run.done else f"ended without success after {len(run.actions)} actions")
                problems.append(f"{_name(task, seed)}: {why}")
        if solved == 0 and not problems:
            return Finding("oracle", SKIP, "no task has a golden solution and the env has no oracle_action()")
        detail = f"solved {solved} tasks" + (f" ({skipped} without a golden solution)" if skipped else "")
        return _finding("oracle", problems, detail)

    def check_baselines(self) -> Finding:
        problems = []
        cases = self.cases(self.options.sample_tasks)
        for task, seed in cases:
            must_fail = {"noop", *((task.spec.get("must_fail") or []) if task is not None else [])}
            for agent in sorted(must_fail & {"noop", "random"}):
                reward, success = self.play_baseline(agent, task, seed)
                if success or reward > 0:
                    problems.append(f"{_name(task, seed)}: the {agent} agent scored {reward:g} (success={success})")
        return _finding("no-op / random", problems, f"{len(cases)} tasks: the baselines score 0")

    def play_baseline(self, agent: str, task: Any, seed: int) -> tuple[float, bool]:
        obs, _ = self.reset(task, seed)
        total, info = 0.0, {}
        for _ in range(self.options.baseline_steps):
            action = "" if agent == "noop" else random_action(obs, self.rng, self.env.action_space)
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return total, bool(info.get("success"))

    def check_anchors(self) -> Finding:
        problems = []
        _, info = self.env.reset(seed=self.options.seed)
        if "anchor" not in info:
            return Finding("anchors", SKIP, "the env reports no anchors (it exposes no state)")
        for task, seed in self.cases(self.options.sample_tasks):
            first = self.anchor_trail(task, seed, None)
            second = self.anchor_trail(task, seed, first[1])
            if any(anchor is None for anchor in first[0]):
                problems.append(f"{_name(task, seed)}: a step without info['anchor']")
            elif first[0] != second[0]:
                problems.append(f"{_name(task, seed)}: the same actions gave different anchors")
        return _finding("anchors", problems, "anchors on every step, stable across replays")

    def anchor_trail(self, task: Any, seed: int, actions: list[Any] | None) -> tuple[list[Any], list[Any]]:
        """Anchors of one episode: ``actions`` replayed, else the golden/oracle actions (or random
        ones) for up to ``baseline_steps`` steps; returns ``(anchors, actions taken)``."""
        obs, info = self.reset(task, seed)
        anchors, taken = [info.get("anchor")], []
        script = list(actions) if actions is not None else list((task.golden.actions or []) if task is not None else [])
        for step in range(len(actions) if actions is not None else self.options.baseline_steps):
            action = script[step] if step < len(script) else (
                self.env.unwrapped.oracle_action() or random_action(obs, self.rng, self.env.action_space))
            taken.append(action)
            obs, _, terminated, truncated, info = self.env.step(action)
            anchors.append(info.get("anchor"))
            if terminated or truncated:
                break
        return anchors, taken

    # ------------------------------------------------------------------ stored episodes
    def check_rollouts(self) -> Finding:
        if not self.options.rollouts:
            return Finding("rollouts", SKIP, "no --rollouts file given")
        from envgym.trajectory import read_episodes

        episodes = read_episodes(self.options.rollouts)
        by_id = {task.task_id: task for task in self.tasks}
        problems = [problem for episode in episodes if (problem := self.replay(episode, by_id)) is not None]
        return _finding("rollouts", problems, f"{len(episodes)} stored episodes re-scored by replay")

    def replay(self, episode: Any, tasks: dict[str, Any]) -> str | None:
        """Why replaying ``episode``'s actions does not give its recorded rewards (``None``: it does)."""
        name = f"episode {episode.episode_id[:12]} ({episode.task_id})"
        if episode.infra_error:
            return None  # an infra failure recorded no reward to re-score
        task = tasks.get(episode.task_id) if episode.task_id else None  # None: built from the seed
        _, info = self.reset(task, episode.seed if episode.seed is not None else self.options.seed)
        if episode.task_id and info.get("task_id") != episode.task_id:
            return f"{name}: task {episode.task_id!r} is neither in the task set nor built from seed {episode.seed}"
        for turn in episode.turns:
            _, reward, *_ = self.env.step(turn.action)
            if not math.isclose(float(reward), float(turn.reward), rel_tol=1e-6, abs_tol=1e-6):
                return f"{name}: turn {turn.index} recorded reward {turn.reward:g}, replay gives {float(reward):g}"
        return None


CHECKS: list[tuple[str, Callable[[Checker], Finding]]] = [
    ("gymnasium", Checker.check_gymnasium),
    ("reset-seed", Checker.check_reset_seed),
    ("group-reset", Checker.check_group_reset),
    ("absurd-actions", Checker.check_absurd_actions),
    ("fuzzed-actions", Checker.check_fuzzed_actions),
    ("oracle", Checker.check_oracle),
    ("no-op / random", Checker.check_baselines),
    ("anchors", Checker.check_anchors),
    ("rollouts", Checker.check_rollouts),
]


# ---------------------------------------------------------------------------------------- helpers
def random_action(observation: dict[str, Any], rng: np.random.Generator, action_space: Any = None) -> Any:
    """What a uniformly random agent does: one of ``admissible_actions`` when the env lists them, one
    of its tools with random-word arguments when it offers tools, else a sample of ``action_space``."""
    admissible = observation.get("admissible_actions") or []
    if admissible:
        return admissible[int(rng.integers(len(admissible)))]
    tools = observation.get("tools") or []
    if tools:
        function = tools[int(rng.integers(len(tools)))]
        function = function.get("function", function)
        names = list((function.get("parameters") or {}).get("properties") or {})
        return {"name": function["name"], "arguments": {name: _JUNK[int(rng.integers(len(_JUNK)))] for name in names}}
    return action_space.sample() if action_space is not None else ""


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The path of the first place where ``a`` and ``b`` differ (``None``: equal).  Bytes compare by
    content, floats by value (NaN equals NaN), tuples like lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}[{key!r}] (present in one only)"
            if (found := first_difference(a[key], b[key], f"{path}[{key!r}]")) is not None:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})"
        for index, (x, y) in enumerate(zip(a, b)):
            if (found := first_difference(x, y, f"{path}[{index}]")) is not None:
                return found
        return None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return None if np.array_equal(np.asarray(a), np.asarray(b)) else path or "(value)"
    return None if a == b else (path or "(value)") + f": {_show(a)} vs {_show(b)}"


def _finding(check: str, problems: list[str], detail: str) -> Finding:
    return Finding(check, FAIL if problems else PASS, f"{len(problems)} problems" if problems else detail, problems)


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(k * step)] for k in range(count)]


def _wire_safe(action: Any) -> bool:
    """Whether ``action`` can be sent to a remote env at all (arbitrary objects cannot)."""
    return type(action) is not object


def _name(task: Any, seed: int) -> str:
    return f"task {task.task_id}" if task is not None else f"seed {seed}"


def _show(value: Any, limit: int = 60) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) > limit:
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:12]}>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:limit]


__all__ = ["ABSURD_ACTIONS", "CHECKS", "CheckOptions", "Checker", "Finding", "Report", "check", "first_difference",
           "open_env", "random_action"]
