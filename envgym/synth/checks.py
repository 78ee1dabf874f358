"""The validity checks of a synthesized task, run on one candidate (spec + states + reward code).

:func:`verify` runs them in order and stops at the first failure, which it returns as a
:class:`CheckFailure` naming the reason code, the side at fault (``generator`` or
``discriminator``) and expected vs actual, so the orchestrator can send a review to that side.

Checks and reason codes (:data:`REASONS`):

=================  ==========================================================================
check              codes
=================  ==========================================================================
schema             ``schema_invalid`` (state shape, env JSON Schema, Task model)
executable         ``initial_not_loadable``, ``golden_not_loadable`` (fresh env per state)
diff               ``diff_empty``, ``diff_outside_spec`` (JSON path diff initial→golden)
spec_semantics     ``initial_already_passes``, ``golden_fails_spec`` (env's own goal check,
                   where the env has one)
solvable           ``golden_unreachable`` (the env's planner cannot reach the goal; for web apps:
                   the UI actions planned from the diff, replayed in the browser, do not end
                   in the golden state)
static_scan        ``reward_syntax``, ``reward_no_function``, ``reward_forbidden_import``,
                   ``reward_forbidden_name``, ``reward_dunder``, ``reward_constant``
sandbox            ``reward_error``, ``reward_timeout``, ``reward_memory``, ``reward_bad_output`` (every
                   call in a fresh jailed process: no state carries over, the code cannot tell a
                   check from a run)
determinism        ``nondeterministic`` (the same calls again in interpreters of another hash seed)
constant           ``reward_constant`` (same positive score on every probe state)
golden             ``golden_fails_reward`` (reward(initial, golden) == 1)
initial            ``initial_already_passes`` (reward(initial, initial) == 0)
oracle             ``oracle_fails_reward`` (the planner's final state scores 1)
mutation_revert    ``mutation_revert_passes``, ``diff_not_minimal`` (reverting any one changed
                   target field scores < 1)
mutation_side      ``mutation_side_effect_passes`` (an unrelated change scores < 1 when the
                   spec forbids side effects)
mutation_unrelated ``reward_pays_any_change`` (the initial state with only an unrelated change
                   scores < 1, unless the spec sets ``any_change_is_goal``)
=================  ==========================================================================

Reward code only ever runs in the jail (:mod:`envgym.rewards.jail`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from envgym.synth.adapters import GenericAdapter, Mutation, Solution, StateError
from envgym.synth.diff import Change, apply_value, json_diff, matches
from envgym.rewards import ALLOWED_MODULES, CallResult, RewardLimits, run_calls, scan_reward_code

GENERATOR, DISCRIMINATOR, PROPOSER = "generator", "discriminator", "proposer"

#: reason code -> what it means
REASONS: dict[str, str] = {
    "proposal_invalid": "the proposer's reply is not a usable spec + instruction",
    "generator_bad_reply": "the generator's reply holds no initial_state/golden_state JSON",
    "discriminator_bad_reply": "the discriminator's reply holds no reward_code",
    "schema_invalid": "a state or the task does not validate (state shape, env schema, Task model)",
    "initial_not_loadable": "the env's set_state rejects the initial state",
    "golden_not_loadable": "the env's set_state rejects the golden state",
    "diff_empty": "the golden state changes nothing the spec names",
    "diff_outside_spec": "the golden state changes paths the spec does not name",
    "golden_fails_spec": "the golden state does not meet the spec by the env's own goal check",
    "golden_unreachable": "the env's planner cannot reach the goal from the initial state",
    "reward_syntax": "the reward code does not parse",
    "reward_no_function": "the reward code defines no reward(initial, final, trajectory=None)",
    "reward_forbidden_import": "the reward code imports a module outside the allowlist",
    "reward_forbidden_name": "the reward code uses a forbidden builtin (open, exec, eval, ...) or construct",
    "reward_dunder": "the reward code touches a dunder name or attribute",
    "reward_constant": "the reward does not depend on its inputs",
    "reward_error": "the reward code raised an exception",
    "reward_timeout": "the reward code ran past its time limit",
    "reward_memory": "the reward code ran past its memory limit",
    "reward_bad_output": "the reward returned something other than a score in [0, 1]",
    "nondeterministic": "repeated runs of the reward disagree",
    "golden_fails_reward": "reward(initial, golden) < 1",
    "initial_already_passes": "the task is solved at the start (reward(initial, initial) > 0 or the env's goal holds)",
    "oracle_fails_reward": "the final state of the env's planner scores < 1",
    "mutation_revert_passes": "reverting one changed field of the golden diff still scores 1",
    "diff_not_minimal": "the golden diff has a change the goal does not need",
    "mutation_side_effect_passes": "an unrelated change still scores 1 although the spec forbids side effects",
    "reward_pays_any_change": "the reward pays 1 for a change that leaves the goal undone",
    "max_rounds": "no valid candidate within the round limit (the last failure is reported)",
    "critic_rejected": "the critics' majority voted reject",
    "rollout_too_easy": "the reference agent's pass rate lies above the band",
    "rollout_too_hard": "the reference agent's pass rate lies below the band",
    "rollout_infra": "no rollout of the reference agent finished without an infrastructure failure",
    "duplicate_state": "the same initial and golden states as a kept task",
    "duplicate_instruction": "an instruction too similar to a kept task's",
}
SANDBOX_KINDS = {"error": "reward_error", "timeout": "reward_timeout", "memory": "reward_memory",
                 "bad_output": "reward_bad_output", "crashed": "reward_error"}
EPS = 1e-9


@dataclass
class CheckFailure:
    code: str
    side: str
    check: str
    message: str
    expected: Any = None
    actual: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "side": self.side, "check": self.check, "message": self.message,
                "expected": self.expected, "actual": self.actual, "details": self.details}


@dataclass
class CheckConfig:
    time_limit_s: float = 2.0
    memory_mb: int = 512
    side_effect_mutations: int = 3
    determinism_runs: int = 2
    allowed_modules: tuple[str, ...] = ALLOWED_MODULES


@dataclass
class Verification:
    """What :func:`verify` found.  ``failure is None`` means every check passed."""

    failure: CheckFailure | None
    passed: list[str] = field(default_factory=list)
    initial: dict[str, Any] | None = None
    golden: dict[str, Any] | None = None
    changes: list[Change] = field(default_factory=list)
    solution: Solution | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    sandbox_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Fail(Exception):
    def __init__(self, failure: CheckFailure):
        self.failure = failure


def verify(
    adapter: GenericAdapter,
    spec: dict[str, Any],
    instruction: str,
    initial_raw: Any,
    golden_raw: Any,
    reward_code: str,
    *,
    task_id: str = "synth-candidate",
    config: CheckConfig | None = None,
) -> Verification:
    """Run every check on a candidate; see the module docstring for the order and reason codes."""
    config = config or CheckConfig()
    result = Verification(failure=None)
    start = time.perf_counter()
    try:
        _run(adapter, spec, instruction, initial_raw, golden_raw, reward_code, task_id, config, result)
    except _Fail as fail:
        result.failure = fail.failure
    result.seconds = time.perf_counter() - start
    return result


def _run(adapter: GenericAdapter, spec: dict[str, Any], instruction: str, initial_raw: Any, golden_raw: Any,
         reward_code: str, task_id: str, config: CheckConfig, out: Verification) -> None:
    """The checks in order; the first that fails raises :class:`_Fail`."""
    states = _check_schema(adapter, spec, instruction, initial_raw, golden_raw, reward_code, task_id, out)
    initial, golden = _check_executable(adapter, states, out)
    targets, incidental, changes = _check_diff(adapter, spec, initial, golden, out)
    native = _check_spec_semantics(adapter, spec, initial, golden, out)
    solution = _check_solvable(adapter, spec, initial, golden, out)
    _check_static_scan(reward_code, config, out)
    probes = _Probes.build(adapter, spec, initial, golden, changes, targets + incidental, solution, config)
    results = _jailed_scores(reward_code, initial, probes.states, config, out)
    out.scores = probes.scores([r.score for r in results])
    _check_reward_semantics(adapter, spec, probes, results, native, out)


def _check_schema(adapter: GenericAdapter, spec: dict[str, Any], instruction: str, initial_raw: Any, golden_raw: Any,
                  reward_code: str, task_id: str, out: Verification) -> dict[str, dict[str, Any]]:
    """Both states normalised by the adapter and valid under the env's state schema; the task parses."""
    states = {}
    for name, raw in (("initial", initial_raw), ("golden", golden_raw)):
        try:
            states[name] = adapter.normalize_state(raw, spec, instruction, task_id)
        except StateError as exc:
            _fail("schema_invalid", GENERATOR, "schema", f"{name}_state: {exc}")
        problem = _schema_problem(adapter.state_schema(), states[name])
        if problem:
            _fail("schema_invalid", GENERATOR, "schema", f"{name}_state does not follow the env's state schema: {problem}")
    problem = _task_problem(adapter, task_id, instruction, spec, states["initial"], states["golden"], reward_code)
    if problem:
        _fail("schema_invalid", GENERATOR, "schema", f"the task does not validate: {problem}")
    out.passed.append("schema")
    return states


def _check_executable(adapter: GenericAdapter, states: dict[str, dict[str, Any]],
                      out: Verification) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each state loads into a fresh env; the env's own ``get_state()`` of it from now on."""
    loaded = {}
    for name in ("initial", "golden"):
        try:
            loaded[name] = adapter.load_state(states[name])
        except Exception as exc:  # noqa: BLE001 - whatever the env's set_state raises is the finding
            _fail(f"{name}_not_loadable", GENERATOR, "executable",
                  f"set_state on a fresh env rejected the {name} state: {type(exc).__name__}: {exc}"[:600])
    out.initial, out.golden = loaded["initial"], loaded["golden"]
    out.passed.append("executable")
    return loaded["initial"], loaded["golden"]


def _check_diff(adapter: GenericAdapter, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any],
                out: Verification) -> tuple[list[str], list[str], list[Change]]:
    """The initial→golden diff is non-empty and stays inside the spec's targets."""
    targets = adapter.target_patterns(spec, initial, golden)
    incidental = adapter.incidental_patterns(spec)
    changes = [c for c in json_diff(initial, golden) if not matches(c.path, incidental)]
    out.changes = changes
    if not changes:
        _fail("diff_empty", GENERATOR, "diff", "the golden state equals the initial state outside incidental paths",
              expected=f"changes to {targets}", actual="no change")
    outside = [c.path for c in changes if not matches(c.path, targets)]
    if outside:
        _fail("diff_outside_spec", GENERATOR, "diff", "the golden state changes paths the spec does not name",
              expected=f"changes only under {targets}", actual=outside[:20])
    out.passed.append("diff")
    return targets, incidental, changes


def _check_spec_semantics(adapter: GenericAdapter, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any],
                          out: Verification) -> tuple[bool | None, bool | None]:
    """The env's own goal logic (where it has one): not met initially, met in the golden state.
    Returns ``(native_initial, native_golden)``."""
    native_initial = adapter.native_success(initial, spec)
    native_golden = adapter.native_success(golden, spec)
    if native_initial is not None:
        if native_initial:
            _fail("initial_already_passes", GENERATOR, "spec_semantics", "the env's own goal check holds in the initial state",
                  expected="goal not met at the start", actual="goal met")
        if not native_golden:
            _fail("golden_fails_spec", GENERATOR, "spec_semantics", "the env's own goal check fails in the golden state",
                  expected="goal met", actual="goal not met")
        out.passed.append("spec_semantics")
    return native_initial, native_golden


def _check_solvable(adapter: GenericAdapter, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any],
                    out: Verification) -> Solution | None:
    """The adapter's solver (where it has one) reaches the goal in the real env."""
    solution = adapter.solve(initial, spec, golden=golden)
    if solution is not None:
        out.solution = solution
        if not solution.success:
            _fail("golden_unreachable", GENERATOR, "solvable", solution.message or "the planner does not reach the goal",
                  expected="a plan reaching the goal", actual=f"{len(solution.actions)} actions, goal not met")
        out.passed.append("solvable")
    return solution


def _check_static_scan(reward_code: str, config: CheckConfig, out: Verification) -> None:
    findings = scan_reward_code(reward_code, config.allowed_modules)
    if findings:
        first = findings[0]
        _fail(first.code, DISCRIMINATOR, "static_scan", first.message, expected="code inside the allowlist",
              actual=[f.to_json() for f in findings][:10])
    out.passed.append("static_scan")


@dataclass
class _Probes:
    """The states the reward runs on, in one batch: initial, golden, the solver's final state (when it
    has one), then golden with each change reverted, golden with an unrelated change (side effects,
    when the spec forbids them) and initial with an unrelated change (unless any change is the goal)."""

    states: list[dict[str, Any]]
    oracle: int | None
    reverts: list[tuple[Change, dict[str, Any]]]
    side: list[Mutation]
    unrelated: list[Mutation]

    @classmethod
    def build(cls, adapter: GenericAdapter, spec: dict[str, Any], initial: dict[str, Any], golden: dict[str, Any],
              changes: list[Change], protected: list[str], solution: Solution | None, config: CheckConfig) -> _Probes:
        reverts = [(c, apply_value(golden, c.segments, c.before)) for c in changes]
        side = adapter.side_effect_mutations(golden, spec, protected, config.side_effect_mutations) \
            if adapter.forbids_side_effects(spec) else []
        unrelated = [] if spec.get("any_change_is_goal") else [
            m for m in adapter.side_effect_mutations(initial, spec, protected, config.side_effect_mutations)
            if adapter.native_success(m.state, spec) is not True]
        head = [initial, golden] + ([solution.final_state] if solution is not None and solution.final_state is not None else [])
        states = head + [s for _, s in reverts] + [m.state for m in side] + [m.state for m in unrelated]
        return cls(states, 2 if len(head) == 3 else None, reverts, side, unrelated)

    def ranges(self) -> tuple[slice, slice, slice]:
        """Where the reverts, the side effects and the unrelated changes sit in ``states``."""
        start = 3 if self.oracle is not None else 2
        side = start + len(self.reverts)
        unrelated = side + len(self.side)
        return slice(start, side), slice(side, unrelated), slice(unrelated, None)

    def scores(self, scores: list[Any]) -> dict[str, Any]:
        reverts, side, unrelated = self.ranges()
        return {"initial": scores[0], "golden": scores[1], "oracle_final": scores[self.oracle] if self.oracle else None,
                "reverts": scores[reverts], "side_effects": scores[side], "unrelated_changes": scores[unrelated]}


def _check_reward_semantics(adapter: GenericAdapter, spec: dict[str, Any], probes: _Probes, results: list[CallResult],
                            native: tuple[bool | None, bool | None], out: Verification) -> None:
    """What the reward's scores must be on each probe state (the checks in order)."""
    scores = [r.score for r in results]
    if len(set(scores)) == 1 and scores[0] > EPS:
        _fail("reward_constant", DISCRIMINATOR, "constant", "the reward gives the same score to every probe state",
              expected="different scores for the initial, golden and mutated states", actual=f"{scores[0]} on {len(scores)} states")
    out.passed.append("constant")
    _check_golden_and_initial(results, native, out)
    if probes.oracle is not None:
        oracle_result = results[probes.oracle]
        if oracle_result.score is None or oracle_result.score < 1 - EPS:
            _fail("oracle_fails_reward", DISCRIMINATOR, "oracle",
                  "the env's planner reaches the goal but its final state scores < 1: the reward is too strict about "
                  "what may change in passing (walking, opening receptacles)", expected=1.0, actual=_score_text(oracle_result))
        out.passed.append("oracle")
    reverts, side, unrelated = probes.ranges()
    _check_reverts(adapter, spec, probes.reverts, results[reverts], out)
    _check_mutations(probes.side, results[side], "mutation_side_effect_passes", "mutation_side",
                     "an unrelated change ({path}) still scores 1 although the spec forbids side effects", out)
    _check_mutations(probes.unrelated, results[unrelated], "reward_pays_any_change", "mutation_unrelated",
                     "a change that leaves the goal undone ({path}) scores 1: the reward pays for any change", out)


def _check_golden_and_initial(results: list[CallResult], native: tuple[bool | None, bool | None], out: Verification) -> None:
    """reward(initial, golden) = 1 and reward(initial, initial) = 0; whose fault it is follows the env's own check."""
    native_initial, native_golden = native
    golden_result = results[1]
    if golden_result.score is None or golden_result.score < 1 - EPS:
        fault = DISCRIMINATOR if native_golden else GENERATOR
        message = "reward(initial, golden) must be 1"
        if fault == DISCRIMINATOR:
            message += "; the golden state meets the spec by the env's own check, so the reward is too strict"
        _fail("golden_fails_reward", fault, "golden", message, expected=1.0, actual=_score_text(golden_result))
    out.passed.append("golden")
    initial_result = results[0]
    if initial_result.score is None or initial_result.score > EPS:
        fault = GENERATOR if native_initial else (DISCRIMINATOR if native_initial is False else GENERATOR)
        _fail("initial_already_passes", fault, "initial", "reward(initial, initial) must be 0",
              expected=0.0, actual=_score_text(initial_result))
    out.passed.append("initial")


def _check_reverts(adapter: GenericAdapter, spec: dict[str, Any], reverts: list[tuple[Change, dict[str, Any]]],
                   results: list[CallResult], out: Verification) -> None:
    """Reverting any one change must score < 1 (unless the goal still holds: then the diff is not minimal)."""
    for (change, state), result in zip(reverts, results):
        if result.score is not None and result.score >= 1 - EPS:
            if adapter.native_success(state, spec):
                _fail("diff_not_minimal", GENERATOR, "mutation_revert",
                      f"the goal still holds with {change.path} reverted: the golden state changes it needlessly",
                      expected="every change needed", actual=change.path)
            _fail("mutation_revert_passes", DISCRIMINATOR, "mutation_revert",
                  f"reverting {change.path} to its initial value still scores 1: the reward ignores part of the spec",
                  expected="< 1", actual=_score_text(result), details={"path": change.path})
    out.passed.append("mutation_revert")


def _check_mutations(mutations: list[Mutation], results: list[CallResult], code: str, check: str, message: str,
                     out: Verification) -> None:
    """Every mutated probe must score < 1; ``check`` passes when there were any."""
    for mutation, result in zip(mutations, results):
        if result.score is not None and result.score >= 1 - EPS:
            _fail(code, DISCRIMINATOR, check, message.format(path=mutation.path),
                  expected="< 1", actual=_score_text(result), details={"path": mutation.path})
    if mutations:
        out.passed.append(check)


def _jailed_scores(code: str, initial: dict[str, Any], probes: list[dict[str, Any]], config: CheckConfig,
                   out: Verification) -> list[CallResult]:
    """``reward(initial, probe)`` for every probe, ``determinism_runs`` times (interpreters with
    different hash seeds), each call in a fresh jailed process; fails on the first error or on runs
    that disagree.  Returns the first run."""
    limits = RewardLimits(time_s=config.time_limit_s, memory_mb=config.memory_mb)
    runs = []
    for seed in range(1, max(1, config.determinism_runs) + 1):
        start = time.perf_counter()
        results = run_calls(code, [(initial, probe) for probe in probes], limits=limits, hash_seed=seed,
                            allowed_modules=config.allowed_modules)
        out.sandbox_seconds += time.perf_counter() - start
        bad = next((r for r in results if not r.ok), None)
        if bad is not None:
            _fail(SANDBOX_KINDS.get(bad.kind or "error", "reward_error"), DISCRIMINATOR, "sandbox",
                  f"the reward failed in the jail: {bad.error}", expected="a score in [0, 1]", actual=bad.error)
        runs.append(results)
    out.passed.append("sandbox")
    for other in runs[1:]:
        if [r.to_json() for r in other] != [r.to_json() for r in runs[0]]:
            _fail("nondeterministic", DISCRIMINATOR, "determinism", "two runs of the reward on the same states disagree",
                  expected=[r.score for r in runs[0]], actual=[r.score for r in other])
    out.passed.append("determinism")
    return runs[0]


def _fail(code: str, side: str, check: str, message: str, expected: Any = None, actual: Any = None,
          details: dict[str, Any] | None = None) -> None:
    raise _Fail(CheckFailure(code, side, check, message, expected, actual, details or {}))


def _score_text(result: CallResult) -> Any:
    if not result.ok:
        return f"error: {result.error}"
    return {"score": result.score, "components": result.components} if result.components else result.score


def _schema_problem(schema: dict[str, Any] | None, state: dict[str, Any]) -> str | None:
    if not schema:
        return None
    try:
        import jsonschema
    except ImportError:  # no validator installed: set_state is the judge
        return None
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(state), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"[:400]


def _task_problem(adapter: GenericAdapter, task_id: str, instruction: str, spec: dict[str, Any],
                  initial: dict[str, Any], golden: dict[str, Any], code: str) -> str | None:
    from envgym.tasks import parse_task

    try:
        parse_task({"task_id": task_id, "env_id": adapter.env_id, "instruction": instruction, "spec": spec,
                    "initial_state": initial, "golden": {"state": golden},
                    "reward": {"kind": "python", "code": code}}, where=task_id)
    except Exception as exc:  # noqa: BLE001 - TaskFileError carries the field-level message
        return str(exc)
    if not isinstance(instruction, str) or not instruction.strip():
        return "the instruction is empty"
    return None
