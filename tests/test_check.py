"""``envgym check``: every registered env passes it, and it catches what it claims to catch."""

from __future__ import annotations

import random
import uuid

import pytest
from typer.testing import CliRunner

import envgym
from envgym import InvalidAction, Transition, write_episodes
from envgym.checking import CheckOptions, check, first_difference
from envgym.cli import app
from tests.toy_envs import CountEnv

#: Web and container envs are checked on a few tasks (one browser for all of them: one process);
#: desktop envs (a container with an X session each) on one, with a longer time limit.
CHEAP = CheckOptions(max_tasks=3, sample_tasks=2, fuzz_actions=12, baseline_steps=20)
CHEAPEST = CheckOptions(max_tasks=1, sample_tasks=1, group_size=2, fuzz_actions=6, baseline_steps=5)
REGISTERED = sorted(s.id for s in envgym.list_envs() if not s.id.startswith(("envgym-test/", "test-flawed/")))


def options_for(tags: set[str]) -> CheckOptions | None:
    return CHEAPEST if "desktop" in tags else CHEAP if tags & {"web", "container"} else None


@pytest.mark.parametrize("env_id", [
    pytest.param(env_id, marks=pytest.mark.timeout(900)) if "desktop" in envgym.spec(env_id).tags else env_id
    for env_id in REGISTERED])
def test_every_registered_env_passes(env_id, request):
    tags = set(envgym.spec(env_id).tags)
    if tags & {"container", "desktop"}:
        request.getfixturevalue("engine")  # a real engine, started if needed
    report = check(env_id, options=options_for(tags))
    assert report.ok, report.render()
    assert {f.check for f in report.findings if f.status == "pass"} >= {"gymnasium", "reset-seed", "absurd-actions", "oracle"}


def test_remote_runtime_checks_through_an_env_server():
    report = check("envgym/Household-v0", runtime="remote", options=CheckOptions(max_tasks=4))
    assert report.ok, report.render()
    assert report.runtime == "remote" and "solved 4 tasks" in report.render()


def test_container_runtime_checks_inside_a_container(engine):
    report = check("envgym/Maze-v0", runtime="container", options=CheckOptions(max_tasks=3, sample_tasks=2))
    assert report.ok, report.render()


# ---------------------------------------------------------------------------------------- flawed envs
LAZY_REWARD = "def reward(initial, final, trajectory=None):\n    return 1.0 if final['k'] == initial['k'] else 0.0\n"


class FlawedCountEnv(CountEnv):
    """CountEnv with one contract bug chosen by ``flaw``."""

    def __init__(self, flaw: str = "", **kwargs):
        super().__init__(**kwargs)
        self.flaw = flaw

    def _reset(self, task):
        extra = super()._reset(task)
        if self.flaw == "unseeded_reset":
            self.n = random.randint(1, 10**9)
        return extra

    def _step(self, call):
        if self.flaw == "raises" and call.name != "up":
            raise KeyError(call.name)
        if self.flaw == "accepts_anything":
            call = envgym.parse_action("up")
        if self.flaw == "wrong_oracle" and call.name == "down":
            raise InvalidAction("there is no down")
        return super()._step(call)

    def oracle_action(self):
        return "down" if self.flaw == "wrong_oracle" else super().oracle_action()

    def anchor(self):
        return uuid.uuid4().hex if self.flaw == "unstable_anchor" else super().anchor()


@pytest.mark.parametrize("flaw, failing", [
    ("raises", "absurd-actions"),
    ("accepts_anything", "absurd-actions"),
    ("unseeded_reset", "reset-seed"),
    ("wrong_oracle", "oracle"),
    ("noop_wins", "no-op / random"),
    ("unstable_anchor", "anchors"),
])
def test_a_flawed_env_fails_the_check_that_covers_its_flaw(flaw, failing):
    env_id = f"test-flawed/{flaw.title().replace('_', '')}-v0"
    kwargs = {"flaw": flaw}
    if flaw == "noop_wins":  # a synthesised task whose reward pays for leaving the state alone
        kwargs["tasks"] = [{"task_id": "lazy", "env_id": env_id, "instruction": "Say 'up' 2 times.",
                            "spec": {"n": 2, "max_turns": 4}, "reward": {"kind": "python", "code": LAZY_REWARD}}]
    envgym.register(env_id, FlawedCountEnv, kwargs=kwargs, override=True)
    report = check(env_id)
    assert not report.ok
    failed = {f.check: f for f in report.findings if f.status == "FAIL"}
    assert failing in failed, report.render()
    assert "FAIL" in report.render() and "FAILED:" in report.render()


def test_rollouts_are_rescored_by_replay(tmp_path):
    from envgym.agents import OracleAgent, RandomAgent, run_episode

    env = envgym.make("test/Count-v0")
    episodes = [run_episode(env, OracleAgent(env), seed=s) for s in range(3)]
    episodes += [run_episode(env, RandomAgent(seed=s), seed=s) for s in range(2)]
    env.close()
    good = tmp_path / "good.jsonl"
    write_episodes(good, episodes)
    assert check("test/Count-v0", options=CheckOptions(rollouts=str(good))).ok

    episodes[1].turns[-1].reward = 0.25  # a recorded reward the env never gave
    tampered = tmp_path / "tampered.jsonl"
    write_episodes(tampered, episodes)
    report = check("test/Count-v0", options=CheckOptions(rollouts=str(tampered)))
    rollouts = next(f for f in report.findings if f.check == "rollouts")
    assert rollouts.status == "FAIL" and len(rollouts.problems) == 1
    assert episodes[1].episode_id[:12] in rollouts.problems[0] and "recorded reward 0.25" in rollouts.problems[0]


def test_the_command_line_reports_and_sets_the_exit_status(tmp_path):
    runner = CliRunner()
    passed = runner.invoke(app, ["check", "test/Count-v0"], terminal_width=200)
    assert passed.exit_code == 0, passed.output
    assert passed.output.splitlines()[0] == "envgym check test/Count-v0 (runtime: local)" and "OK: 8 passed" in passed.output

    envgym.register("test-flawed/Raises-v0", FlawedCountEnv, kwargs={"flaw": "raises"}, override=True)
    failed = runner.invoke(app, ["check", "test-flawed/Raises-v0", "--json"], terminal_width=200)
    assert failed.exit_code == 1
    assert '"ok": false' in failed.output and '"status": "FAIL"' in failed.output


def test_first_difference_names_the_path():
    assert first_difference({"a": [1, {"b": b"x"}]}, {"a": [1, {"b": b"x"}]}) is None
    assert first_difference({"a": [1, {"b": b"x"}]}, {"a": [1, {"b": b"y"}]}).startswith("['a'][1]['b']")
    assert first_difference((1, float("nan")), [1, float("nan")]) is None
    assert "present in one only" in first_difference({"a": 1}, {"a": 1, "t": Transition()})
