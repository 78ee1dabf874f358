"""Task-validity checks: JSON path diffs, the reward static scan, the sandbox, and ``verify`` on a
generic JSON-state env (no env-native goal check) and on Household."""

from __future__ import annotations

import copy

import pytest

from envgym import Env, InvalidAction, Transition
from envgym.synth.adapters import GenericAdapter, make_adapter
from envgym.synth.checks import REASONS, CheckConfig, verify
from envgym.synth.diff import MISSING, apply_value, json_diff, matches
from envgym.rewards import RewardLimits, constant_return, run_call, run_calls, scan_reward_code
from tests.support.synth_scripts import household_case, household_reward


# ---------------------------------------------------------------------- a generic JSON-state env
class SettingsEnv(Env):
    """Set preferences with ``set KEY VALUE``; state is JSON."""

    SCHEMA = {
        "type": "object", "required": ["prefs", "todos"],
        "properties": {"prefs": {"type": "object"}, "todos": {"type": "array", "items": {
            "type": "object", "required": ["id", "done"], "properties": {"id": {"type": "string"}, "done": {"type": "boolean"}}}}},
    }

    def _reset(self, task):
        self.state = copy.deepcopy(task.initial_state or {"prefs": {}, "todos": []})
        return {}

    def _step(self, call):
        parts = call.text.split()
        if len(parts) != 3 or parts[0] != "set":
            raise InvalidAction("say: set KEY VALUE")
        self.state["prefs"][parts[1]] = parts[2]
        return Transition()

    def _observe(self):
        return {"text": str(self.state)}

    def get_state(self):
        return copy.deepcopy(self.state)

    def set_state(self, state):
        if not isinstance(state.get("prefs"), dict):
            raise ValueError("prefs must be an object")
        self.state = copy.deepcopy(state)

    def state_schema(self):
        return self.SCHEMA


def settings_adapter() -> GenericAdapter:
    return make_adapter("test/Settings-v0", env_factory=lambda **kw: SettingsEnv(**kw))


INITIAL = {"prefs": {"theme": "light", "font": "12"}, "todos": [{"id": "a", "done": False}, {"id": "b", "done": False}]}
GOLDEN = {"prefs": {"theme": "dark", "font": "12"}, "todos": [{"id": "a", "done": False}, {"id": "b", "done": False}]}
SPEC = {"criteria": "dark theme", "targets": ["prefs.theme"], "forbid_side_effects": True}
GOOD = '''
def reward(initial, final, trajectory=None):
    dark = final["prefs"].get("theme") == "dark"
    rest = {k: v for k, v in final["prefs"].items() if k != "theme"} == {k: v for k, v in initial["prefs"].items() if k != "theme"}
    same_todos = final["todos"] == initial["todos"]
    return {"score": float(dark and rest and same_todos), "components": {"dark": dark, "untouched": rest and same_todos}}
'''


def check(initial=INITIAL, golden=GOLDEN, code=GOOD, spec=SPEC, **config):
    adapter = settings_adapter()
    return verify(adapter, adapter.validate_spec(spec), "Switch to the dark theme.", initial, golden, code,
                  config=CheckConfig(**config) if config else None)


# ---------------------------------------------------------------------- diff
def test_json_diff_keys_list_elements_by_identity_and_reverts():
    a = {"items": [{"name": "apple 1", "loc": "table"}, {"name": "mug 1", "loc": "shelf"}], "n": 1}
    b = {"items": [{"name": "mug 1", "loc": "shelf"}, {"name": "apple 1", "loc": "fridge"}], "n": 1, "new": True}
    changes = json_diff(a, b)
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("items[apple 1].loc", "table", "fridge"), ("new", MISSING, True)]
    reverted = apply_value(b, changes[0].segments, changes[0].before)
    assert json_diff(a, apply_value(reverted, changes[1].segments, MISSING)) == []
    assert matches("items[apple 1].loc", ["items[apple *].loc"]) and not matches("items[mug 1].loc", ["items[apple *].loc"])
    assert matches("world.lamp.on", ["world.lamp"]) and not matches("world.lampshade", ["world.lamp"])


# ---------------------------------------------------------------------- static scan
@pytest.mark.parametrize("code, reason", [
    ("def reward(i, f, t=None):\n    return open('/etc/passwd').read() != '' and f['x']", "reward_forbidden_name"),
    ("import socket\ndef reward(i, f, t=None):\n    return float(f['x'])", "reward_forbidden_import"),
    ("from os import path\ndef reward(i, f, t=None):\n    return float(f['x'])", "reward_forbidden_import"),
    ("def reward(i, f, t=None):\n    return ().__class__.__base__ and f['x']", "reward_dunder"),
    ("def reward(i, f, t=None):\n    return getattr(f, '__class__') and 1.0", "reward_dunder"),
    ("def reward(i, f, t=None):\n    return eval('1') * f['x']", "reward_forbidden_name"),
    ("def reward(i, f, t=None):\n    return 1.0", "reward_constant"),
    ("def reward(i, f, t=None):\n    x = f['a']\n    return 0.5", "reward_constant"),
    ("def score(i, f):\n    return f['x']", "reward_no_function"),
    ("def reward(i, f, t=None):\n    return (", "reward_syntax"),
])
def test_static_scan_rejects(code, reason):
    codes = [f.code for f in scan_reward_code(code)]
    assert reason in codes and all(c in REASONS for c in codes)


def test_static_scan_accepts_input_dependent_code():
    assert scan_reward_code(GOOD) == []
    assert scan_reward_code("import math, re\ndef reward(i, f, t=None):\n    if re.match('d', f['p']):\n        return 1.0\n    return 0.0") == []
    import ast

    fn = ast.parse("def reward(i, f, t=None):\n    out = []\n    out.append(f['x'])\n    return out[0]").body[0]
    assert constant_return(fn) is None


# ---------------------------------------------------------------------- sandbox (even when the scan is bypassed)
STATES = [{"x": 0}, {"x": 1}]


@pytest.mark.parametrize("code, kind, needle", [
    ("def reward(i, f, t=None):\n    return len(open('/etc/hostname').read()) > 0", "error", "open"),
    ("import socket\ndef reward(i, f, t=None):\n    return 1.0", "error", "not allowed"),
    ("def reward(i, f, t=None):\n    return __import__('os').system('true')", "error", "not allowed"),
    ("def reward(i, f, t=None):\n    while True:\n        pass", "timeout", "longer"),
    ("def reward(i, f, t=None):\n    x = 'a' * (4 * 10**9)\n    return 1.0", "memory", "memory"),
    ("def reward(i, f, t=None):\n    return 3.0", "bad_output", "[0, 1]"),
    ("def reward(i, f, t=None):\n    return 'yes'", "bad_output", "number"),
])
def test_sandbox_contains_code_that_escaped_the_scan(code, kind, needle):
    result = run_call(code, STATES[0], STATES[1], limits=RewardLimits(time_s=0.5, memory_mb=256))
    assert not result.ok and result.kind == kind and needle in result.error


def test_sandbox_subclasses_walk_cannot_reach_file_io():
    code = ("def reward(i, f, t=None):\n"
            "    for c in ().__class__.__base__.__subclasses__():\n"
            "        if c.__name__ == 'FileIO':\n"
            "            return float(len(c('/etc/hostname').read()) > 0)\n"
            "    return 0.5\n")
    result = run_call(code, STATES[0], STATES[1])
    assert result.ok is False or result.score == 0.5  # no file was read either way


def test_sandbox_scores_and_components():
    results = run_calls(GOOD, [(INITIAL, INITIAL), (INITIAL, GOLDEN)])
    assert [r.score for r in results] == [0.0, 1.0]
    assert results[1].components == {"dark": True, "untouched": True}


# ---------------------------------------------------------------------- verify on a generic env
def test_generic_good_candidate_passes_every_check():
    result = check()
    assert result.ok, result.failure
    assert result.passed == ["schema", "executable", "diff", "static_scan", "sandbox", "determinism", "constant",
                             "golden", "initial", "mutation_revert", "mutation_side", "mutation_unrelated"]
    assert result.scores["golden"] == 1.0 and result.scores["initial"] == 0.0
    assert result.scores["side_effects"] and max(result.scores["side_effects"]) < 1
    assert result.scores["unrelated_changes"] and max(result.scores["unrelated_changes"]) < 1


@pytest.mark.parametrize("kwargs, code, side", [
    (dict(golden={"prefs": {"theme": "blue", "font": "12"}, "todos": INITIAL["todos"]}), "golden_fails_reward", "generator"),
    (dict(initial=GOLDEN, golden={"prefs": {"theme": "dark ", "font": "12"}, "todos": INITIAL["todos"]}), "golden_fails_reward", "generator"),
    (dict(golden={"prefs": {"theme": "dark", "font": "14"}, "todos": INITIAL["todos"]}), "diff_outside_spec", "generator"),
    (dict(golden=INITIAL), "diff_empty", "generator"),
    (dict(golden={"prefs": "dark", "todos": []}), "schema_invalid", "generator"),
    (dict(golden={"prefs": None, "todos": []}, spec={**SPEC, "targets": ["*"]}), "schema_invalid", "generator"),
    (dict(code="def reward(i, f, t=None):\n    return 1.0 if f is not None else 0.0"), "reward_constant", "discriminator"),
    (dict(code='def reward(i, f, t=None):\n    return float(f["prefs"]["theme"] == "dark")'), "mutation_side_effect_passes", "discriminator"),
    (dict(code='def reward(i, f, t=None):\n    return float(f["prefs"]["theme"] != "blue" and f["todos"] == i["todos"])'),
     "initial_already_passes", "generator"),
    (dict(code='def reward(i, f, t=None):\n    return float(f["prefs"]["nope"] == 1)'), "reward_error", "discriminator"),
    (dict(code='def reward(i, f, t=None):\n    return float(f["prefs"]["theme"] == "dark" and list({"a", "b", "c", "d", "e", "f"})[0] == "d")'),
     "nondeterministic", "discriminator"),
    (dict(code="def reward(i, f, t=None):\n    return float(f != i)", spec={**SPEC, "forbid_side_effects": False}),
     "reward_pays_any_change", "discriminator"),
])
def test_generic_faults_are_rejected_for_the_right_reason(kwargs, code, side):
    result = check(**kwargs)
    assert result.failure is not None
    assert (result.failure.code, result.failure.side) == (code, side), result.failure


def test_set_state_rejection_is_not_loadable():
    adapter = settings_adapter()
    spec = adapter.validate_spec({**SPEC, "targets": ["*"]})
    adapter._schema = None  # no JSON Schema: set_state is the only judge
    result = verify(adapter, spec, "x", INITIAL, {"prefs": [], "todos": []}, GOOD)
    assert result.failure.code == "golden_not_loadable"


# ---------------------------------------------------------------------- verify on Household
@pytest.fixture(scope="module")
def apple_case():
    return household_case(7, "pick_clean_then_place", "apple", "fridge")


def household_check(initial, golden, code):
    adapter = make_adapter("envgym/Household-v0")
    spec = adapter.validate_spec({"type": "pick_clean_then_place", "object": "apple", "receptacle": "fridge"})
    return verify(adapter, spec, "put a clean apple in fridge.", {"world": initial}, {"world": golden}, code)


def test_household_good_candidate_gets_planner_actions(apple_case):
    result = household_check(apple_case["initial"], apple_case["golden"], household_reward("apple", "fridge", "clean"))
    assert result.ok, result.failure
    assert "solvable" in result.passed and "oracle" in result.passed and "spec_semantics" in result.passed
    assert result.solution.actions == apple_case["actions"]
    assert sorted(c.path for c in result.changes) == ["world.items[apple 1].clean", "world.items[apple 1].location"]


def test_household_redundant_golden_change_is_not_minimal(apple_case):
    golden = copy.deepcopy(apple_case["golden"])
    initial = copy.deepcopy(apple_case["initial"])
    initial["items"].append({"name": "apple 9", "kind": "apple", "location": "countertop 1", "clean": False, "hot": False, "cool": False})
    golden["items"].append({"name": "apple 9", "kind": "apple", "location": "fridge 1", "clean": False, "hot": False, "cool": False})
    result = household_check(initial, golden, household_reward("apple", "fridge", "clean"))
    assert (result.failure.code, result.failure.side) == ("diff_not_minimal", "generator")
    assert "apple 9" in result.failure.actual


def test_household_reward_too_strict_about_walking_fails_on_oracle_state(apple_case):
    strict = household_reward("apple", "fridge", "clean").replace(
        "1.0 if placed and untouched", "1.0 if placed and untouched and final['world']['agent_location'] is None")
    golden = copy.deepcopy(apple_case["golden"])
    golden["agent_location"] = None  # the generator's golden never walked; the real planner must
    result = household_check(apple_case["initial"], golden, strict)
    assert (result.failure.code, result.failure.side) == ("oracle_fails_reward", "discriminator"), result.failure
