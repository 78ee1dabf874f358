"""End to end: ``envgym.synth.cli_ops.synth`` against the real loopback OpenAI-compatible stub server
serving scripted (good and faulty) role replies for envgym/Household-v0."""

from __future__ import annotations

import copy
import json

import pytest

import httpx  # noqa: F401  (a hard requirement: installed by the dev/train extras)
import fastapi  # noqa: F401  (a hard requirement: installed by the dev/train extras)

import envgym  # noqa: E402
from envgym.agents.base import Agent  # noqa: E402
from envgym.agents.loop import run_episode  # noqa: E402
from envgym.agents.oracle import OracleAgent  # noqa: E402
from tests.support.openai_stub import ScriptedOpenAIServer  # noqa: E402
from envgym.synth.cli_ops import journal_path, report_path, synth  # noqa: E402
from envgym.synth.filters import majority, rollout_filter  # noqa: E402
from envgym.rewards import score_task  # noqa: E402
from tests.support.synth_scripts import ScriptedRoles, household_case, household_reward  # noqa: E402

ENV = "envgym/Household-v0"
CLEAN_APPLE = {"type": "pick_clean_then_place", "object": "apple", "receptacle": "fridge", "difficulty": "easy",
               "forbid_side_effects": True}


def proposal(tag: str, spec: dict | None = None, instruction: str = "put a clean apple in fridge.") -> dict:
    return {"instruction": instruction, "spec": {**(spec or CLEAN_APPLE), "tag": tag}}


MARKER = "GEN-SECRET-MARKER"  # in every generator reply; must never reach the discriminator


def gen(case: dict) -> dict:
    return {"initial_state": {"world": case["initial"], "note": MARKER}, "golden_state": {"world": case["golden"]}}


@pytest.fixture(scope="module")
def cases():
    apple = household_case(7, "pick_clean_then_place", "apple", "fridge")
    apple2 = household_case(13, "pick_clean_then_place", "apple", "fridge", difficulty="medium")
    mug = household_case(11, "pick_and_place", "mug", "cabinet")
    # an initial state where a clean apple already sits in the fridge (a second apple gets moved too)
    done_initial = copy.deepcopy(apple["golden"])
    done_initial["items"].append({"name": "apple 5", "kind": "apple", "location": "countertop 1", "clean": False,
                                  "hot": False, "cool": False})
    done_golden = copy.deepcopy(done_initial)
    for item in done_golden["items"]:
        if item["name"] == "apple 5":
            item.update(location="fridge 1", clean=True)
    return {"apple": apple, "apple2": apple2, "mug": mug, "already": {"initial": done_initial, "golden": done_golden}}


def unclean(case: dict) -> dict:
    """A generator reply whose golden has the apple in the fridge but never cleaned."""
    golden = copy.deepcopy(case["golden"])
    for item in golden["items"]:
        if item["kind"] == "apple":
            item["clean"] = False
    return {"initial_state": {"world": case["initial"], "note": MARKER}, "golden_state": {"world": golden}}


def build_script(cases: dict):
    apple, mug = cases["apple"], cases["mug"]
    good = household_reward("apple", "fridge", "clean")
    mug_reward = household_reward("mug", "cabinet")
    rows = [
        # tag, proposal spec, generator replies (per round), discriminator replies, critic votes
        ("good", None, [gen(apple)], [{"reward_code": good}], ["keep", "keep", "rewrite"]),
        ("fixed_by_review", None, [unclean(cases["apple2"]), gen(cases["apple2"])], [{"reward_code": good}], ["keep"]),
        ("golden_fails_spec", None, [unclean(apple)], [{"reward_code": good}], ["keep"]),
        ("golden_fails_reward", None, [gen(apple)], [{"reward_code": household_reward("apple", "fridge", "clean", receptacle_override="cabinet")}], ["keep"]),
        ("initial_passes", None, [{"initial_state": {"world": cases["already"]["initial"]}, "golden_state": {"world": cases["already"]["golden"]}}],
         [{"reward_code": good}], ["keep"]),
        ("constant", None, [gen(apple)], [{"reward_code": "def reward(initial, final, trajectory=None):\n    return 1.0\n"}], ["keep"]),
        ("constant_dynamic", None, [gen(apple)], [{"reward_code": "def reward(initial, final, trajectory=None):\n    return 1.0 if final else 0.0\n"}], ["keep"]),
        ("reads_file", None, [gen(apple)], [{"reward_code": "def reward(initial, final, trajectory=None):\n    return float(len(open('/etc/passwd').read()) > 0 and bool(final))\n"}], ["keep"]),
        ("network", None, [gen(apple)], [{"reward_code": "import urllib.request\ndef reward(initial, final, trajectory=None):\n    return float(urllib.request.urlopen('http://127.0.0.1/').status == 200 and bool(final))\n"}], ["keep"]),
        ("ignores_spec", None, [gen(apple)], [{"reward_code": household_reward("apple", "fridge", "clean", check_state=False)}], ["keep"]),
        ("ignores_side_effects", None, [gen(apple)], [{"reward_code": household_reward("apple", "fridge", "clean", side_effects=False)}], ["keep"]),
        ("duplicate", None, [gen(apple)], [{"reward_code": good}], ["keep"]),
        ("critics_reject", {**CLEAN_APPLE, "type": "pick_and_place", "object": "mug", "receptacle": "cabinet"},
         [gen(mug)], [{"reward_code": mug_reward}], ["reject", "reject", "keep"]),
        ("bad_proposal", {**CLEAN_APPLE, "type": "juggle"}, [gen(apple)], [{"reward_code": good}], ["keep"]),
        ("garbled_reward_reply", None, [gen(apple)], ["I think the reward should check the fridge."], ["keep"]),
    ]
    instructions = {"critics_reject": "put some mug in cabinet.", "duplicate": "put a clean apple in fridge."}
    proposals = [proposal(tag, spec, instructions.get(tag, f"put a clean apple in fridge ({tag}).") if tag != "good" else "put a clean apple in fridge.")
                 for tag, spec, *_ in rows]
    script = {tag: {"generator": g, "discriminator": d, "critic": c} for tag, _, g, d, c in rows}
    rewrite = {"vote": "rewrite", "instruction": "Clean an apple and put it in the fridge."}
    script["good"]["critic"] = [rewrite, "keep", rewrite]  # majority: rewrite
    return [tag for tag, *_ in rows], ScriptedRoles(proposals, script)


EXPECTED = {
    "golden_fails_spec": "golden_fails_spec",
    "golden_fails_reward": "golden_fails_reward",
    "initial_passes": "initial_already_passes",
    "constant": "reward_constant",
    "constant_dynamic": "reward_constant",
    "reads_file": "reward_forbidden_name",
    "network": "reward_forbidden_import",
    "ignores_spec": "mutation_revert_passes",
    "ignores_side_effects": "mutation_side_effect_passes",
    "bad_proposal": "proposal_invalid",
    "garbled_reward_reply": "discriminator_bad_reply",
}


@pytest.fixture(scope="module")
def run(cases, tmp_path_factory):
    tags, roles = build_script(cases)
    out = tmp_path_factory.mktemp("synth") / "household.jsonl"
    with ScriptedOpenAIServer(roles) as server:
        report = synth(ENV, len(tags), server.base_url, "stub-model", str(out), max_rounds=2, critics=3,
                       rollout_agent="oracle", rollout_k=2, rollout_band=(0.0, 1.0), concurrency=4,
                       progress=False, print_report=False, backoff=0.01)
    return {"tags": tags, "roles": roles, "report": report, "out": out}


def test_every_faulty_candidate_is_rejected_for_its_reason(run):
    records = [json.loads(line) for line in journal_path(run["out"]).read_text().splitlines()]
    by_tag: dict = {}
    for record in records:
        if record.get("stage") == "candidate":
            tag = (record.get("spec") or {}).get("tag") or run["tags"][record["candidate"]]
            by_tag[tag] = record
    for tag, reason in EXPECTED.items():
        assert by_tag[tag]["status"] == "rejected", tag
        assert by_tag[tag]["reason"] == reason, (tag, by_tag[tag]["rounds"])
    for tag in ("good", "fixed_by_review", "duplicate", "critics_reject"):
        assert by_tag[tag]["status"] == "accepted", (tag, by_tag[tag]["rounds"])
    assert [r["code"] for r in by_tag["fixed_by_review"]["rounds"]] == ["golden_fails_spec", None]
    assert by_tag["golden_fails_reward"]["side"] == "discriminator"
    assert by_tag["golden_fails_spec"]["side"] == "generator"


def test_funnel_report(run):
    report = run["report"]
    assert report["funnel"] == {"proposed": 15, "passed_checks": 4, "voted": 3, "rollout_filtered": 3, "deduplicated": 2}
    assert report["rejections"]["vote"] == {"critic_rejected": 1}
    assert report["rejections"]["dedup"] == {"duplicate_state": 1}
    assert report["rejections"]["checks"]["reward_constant"] == 2
    assert sum(report["rejections"]["checks"].values()) == 11
    assert report["usage"]["requests"] > 0 and report["usage"]["prompt_tokens"] > 0
    assert json.loads(report_path(run["out"]).read_text())["funnel"] == report["funnel"]


def test_reviews_reach_the_side_at_fault_and_discriminator_never_sees_generator_output(run):
    roles = run["roles"]
    retry = roles.requests("generator", "fixed_by_review")
    assert len(retry) == 2
    assert "golden_fails_spec" in retry[1]["messages"][-1]["content"]
    assert retry[1]["messages"][-2]["role"] == "assistant"
    assert len(roles.requests("discriminator", "fixed_by_review")) == 1  # not at fault: not asked again
    ignored = roles.requests("discriminator", "ignores_spec")
    assert len(ignored) == 2 and "mutation_revert_passes" in ignored[1]["messages"][-1]["content"]
    generator_texts = [m["content"] for body in roles.requests("generator") for m in body["messages"] if m["role"] == "assistant"]
    assert any(MARKER in text for text in generator_texts)  # the generator's output was in play...
    world = run["roles"].script["good"]["generator"][0]["initial_state"]["world"]
    places = {r["name"] for r in world["receptacles"]}  # values only a generated state holds ("sinkbasin 1")
    assert len(roles.requests("discriminator")) >= 15
    for body in roles.requests("discriminator"):  # ...but no discriminator request ever carried it
        blob = "\n".join(m["content"] for m in body["messages"])
        assert MARKER not in blob and "initial_state" not in blob and "golden_state" not in blob
        assert not any(place in blob for place in places), [p for p in places if p in blob]


def test_output_loads_as_task_set_and_the_oracle_solves_it(run):
    tasks = envgym.load_tasks(run["out"])
    assert len(tasks) == 2
    good = tasks[0]
    assert good.instruction == "Clean an apple and put it in the fridge."  # the critics' rewrite
    assert good.reward.kind == "python" and good.golden.actions
    assert "mutation_revert" in good.verification["checks"] and good.verification["rollout_pass_rate"] == 1.0
    for task in tasks:
        env = envgym.make(ENV)  # the core scores python rewards itself
        episode = run_episode(env, OracleAgent(env.unwrapped), task=task)
        assert episode.success and episode.turns[-1].reward == 1.0
        assert episode.turns[-1].info["reward_components"]["placed"] is True
        env.close()


class _Flaky(Agent):
    """Solves on even episodes, idles on odd ones (so the pass rate is 1/2)."""

    episodes = 0

    def __init__(self, env):
        self.oracle = OracleAgent(env)
        self.solve = _Flaky.episodes % 2 == 0
        _Flaky.episodes += 1

    def reset(self, observation, info):
        self.oracle.reset(observation, info)

    def act(self, observation, info):
        return self.oracle.act(observation, info) if self.solve else "look"


class _Crashes(Agent):
    def __init__(self, env):
        pass

    def act(self, observation, info):
        raise ConnectionError("model server went away")


def test_rollout_band_and_infra_failures_counted_apart(run):
    task = envgym.load_tasks(run["out"])[0]
    make_env = lambda: envgym.make(ENV, max_turns=12)  # noqa: E731
    _Flaky.episodes = 0
    flaky = rollout_filter(task, make_env, _Flaky, 4)
    assert (flaky.successes, flaky.failures, flaky.infra) == (2, 2, 0)
    assert flaky.decision((0.125, 0.875)) is None
    easy = rollout_filter(task, make_env, OracleAgent, 2)
    assert easy.pass_rate == 1.0 and easy.decision((0.125, 0.875)) == "rollout_too_easy"
    broken = rollout_filter(task, make_env, _Crashes, 2)
    assert (broken.infra, broken.pass_rate, broken.decision((0.125, 0.875))) == (2, None, "rollout_infra")
    assert majority(["keep", "reject"]) == "reject" and majority(["keep", "keep", "rewrite"]) == "keep"


def test_dedup_by_state_and_by_instruction_within_scope():
    from envgym.synth.filters import Deduplicator, instruction_similarity

    a = {"task_id": "a", "env_id": ENV, "instruction": "Put a clean apple in the fridge.", "initial_state": {"w": 1},
         "golden": {"state": {"w": 2}}}
    same_states = {**a, "task_id": "b", "instruction": "Something else entirely"}
    reworded = {**a, "task_id": "c", "instruction": "put a clean apple in the fridge", "golden": {"state": {"w": 3}}}
    other_house = {**reworded, "task_id": "d", "initial_state": {"w": 9}}
    assert instruction_similarity(a["instruction"], reworded["instruction"]) == 1.0
    for scope, expected in (("global", "duplicate_instruction"), ("initial_state", None)):
        dedup = Deduplicator(0.92, scope)
        dedup.add(a)
        assert dedup.check(same_states) == ("duplicate_state", "a")
        assert dedup.check(reworded) == ("duplicate_instruction", "a")
        assert (dedup.check(other_house) or (None,))[0] == expected


def test_score_task_side_effects(run):
    task = envgym.load_tasks(run["out"])[0]
    assert score_task(task, task.initial_state, task.golden.state).success
    messy = copy.deepcopy(task.golden.state)
    other = next(i for i in messy["world"]["items"] if i["kind"] != "apple")
    other["location"] = next(r["name"] for r in messy["world"]["receptacles"] if r["name"] != other["location"])
    result = score_task(task, task.initial_state, messy)
    assert result.score == 0.0 and result.components == {"placed": True, "no_side_effects": False}


def test_resume_continues_where_it_stopped_and_survives_a_torn_journal(cases, tmp_path):
    tags, roles = build_script(cases)
    out = tmp_path / "resume.jsonl"
    common = dict(max_rounds=1, critics=0, progress=False, print_report=False, backoff=0.01, concurrency=2)
    with ScriptedOpenAIServer(roles) as server:
        first = synth(ENV, 3, server.base_url, "stub-model", str(out), **common)
        assert first["funnel"]["proposed"] == 3
        with open(journal_path(out), "a") as handle:
            handle.write('{"stage": "candidate", "candidate": 3, "status": "acc')  # killed mid-write
        proposer_before = len(roles.requests("proposer"))
        second = synth(ENV, 5, server.base_url, "stub-model", str(out), **common)
        asked = [int(body["messages"][-1]["content"].split("#")[1].split(".")[0])
                 for body in roles.requests("proposer")[proposer_before:]]
    assert sorted(asked) == [3, 4]
    assert second["resumed_candidates"] == 3 and second["funnel"]["proposed"] == 5
    assert second["usage_all_runs"]["requests"] > second["usage"]["requests"]
    lines = journal_path(out).read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line was cut off
    assert len(envgym.load_tasks(out)) == second["funnel"]["deduplicated"]


def test_llm_outage_is_infra_not_rejection(cases, tmp_path):
    tags, roles = build_script(cases)
    out = tmp_path / "outage.jsonl"
    with ScriptedOpenAIServer(roles) as server:
        server.add_fault("http_500", times=3)
        report = synth(ENV, 1, server.base_url, "stub-model", str(out), max_retries=2, backoff=0.01, critics=0,
                       progress=False, print_report=False)
    assert report["infra"]["candidates_llm_error"] == 1
    assert report["funnel"]["proposed"] == 0 and report["rejections"]["checks"] == {}
