"""End to end on a real web app: ``envgym.synth.cli_ops.synth`` for envgym/WebTaskBoard-v0 (Trackly in a
real Chromium) against the loopback OpenAI-compatible stub server serving scripted good and faulty
role replies.  Every state is loaded through the browser, every accepted candidate is solved by
replaying UI actions planned from its initial→golden diff, and the output task set is then solved
by the oracle agent in the browser env, scored by the task's own python reward."""

from __future__ import annotations

import copy
import json

import pytest

import playwright.async_api  # noqa: F401  (installed by scripts/install-browser.sh; never skipped)

from envgym.browser import chromium_path  # noqa: E402

chromium_path()  # a missing browser fails the suite

import envgym  # noqa: E402
from envgym.agents.loop import run_episode  # noqa: E402
from tests.support.openai_stub import ScriptedOpenAIServer  # noqa: E402
from envgym.agents.oracle import OracleAgent  # noqa: E402
from envgym.synth.adapters import make_adapter  # noqa: E402
from envgym.synth.cli_ops import journal_path, synth  # noqa: E402
from tests.support.synth_scripts import ScriptedRoles, taskboard_reward  # noqa: E402
from envgym.synth.web import WebAdapter  # noqa: E402
from envgym.envs.web.taskboard.app import BoardApp  # noqa: E402
from envgym.envs.web.taskboard.solver import Unsolvable, plan  # noqa: E402

ENV = "envgym/WebTaskBoard-v0"
MARKER = "GEN-SECRET-MARKER"  # in every generator reply; must never reach the discriminator

MOVE = [{"op": "update_card", "card": "TRK-105", "set": {"column": "review", "assignee": "u2"}}]
SETTINGS = [{"op": "rename_project", "name": "Website relaunch 2025"},
            {"op": "add_member", "name": "Gia Romano", "email": "gia.romano@trackly.dev", "role": "Viewer"},
            {"op": "set_wip_limit", "column": "review", "limit": 2}]
START = [{"op": "update_card", "card": "TRK-101", "set": {"column": "doing"}}]  # "In progress" is at its WIP limit
CREATE = [{"op": "create_card", "fields": {"title": "Write release notes", "column": "todo"}}]


def board() -> dict:
    return BoardApp().generate(0).model_dump(mode="json")


def card(state: dict, cid: str) -> dict:
    return next(c for c in state["cards"] if c["id"] == cid)


def reply(initial: dict, golden: dict) -> dict:
    return {"initial_state": {**initial, "note": MARKER}, "golden_state": golden}


def states() -> dict:
    base = board()
    moved = copy.deepcopy(base)
    card(moved, "TRK-105").update(column="review", assignee="u2")
    messy = copy.deepcopy(moved)
    card(messy, "TRK-102")["priority"] = "Low"
    configured = copy.deepcopy(base)
    configured["project_name"] = "Website relaunch 2025"
    configured["members"].append({"id": "u6", "name": "Gia Romano", "email": "gia.romano@trackly.dev", "role": "Viewer"})
    next(c for c in configured["columns"] if c["id"] == "review")["wip_limit"] = 2
    over_limit = copy.deepcopy(base)
    card(over_limit, "TRK-101")["column"] = "doing"
    roomy = copy.deepcopy(base)
    next(c for c in roomy["columns"] if c["id"] == "doing")["wip_limit"] = 4
    roomy_started = copy.deepcopy(roomy)
    card(roomy_started, "TRK-101")["column"] = "doing"
    # a card titled "Write release notes" already sits in To do: the create task is solved at the start
    already = copy.deepcopy(base)
    already["cards"].append({"id": "TRK-119", "title": "Write release notes", "column": "todo"})
    already["next_card"] = 120
    already_golden = copy.deepcopy(already)
    already_golden["cards"].append({"id": "TRK-120", "title": "Write release notes", "column": "todo"})
    already_golden["next_card"] = 121
    return {"good": reply(base, moved), "messy": reply(base, messy), "settings": reply(base, configured),
            "over_limit": reply(base, over_limit), "roomy": reply(roomy, roomy_started), "already": reply(already, already_golden)}


def build_script():
    s = states()
    good = {"reward_code": taskboard_reward(MOVE)}
    move = "Move TRK-105 (“Update privacy policy page”) to Review and assign it to Ben Carter."
    rows = [
        # tag, changes, instruction, generator replies (per round), discriminator replies
        ("good", MOVE, move, [s["good"]], [good]),
        ("settings", SETTINGS, "Rename the project to “Website relaunch 2025”, invite Gia Romano (gia.romano@trackly.dev) "
         "as a Viewer and set the Review column's WIP limit to 2.", [s["settings"]], [{"reward_code": taskboard_reward(SETTINGS)}]),
        ("fixed_by_review", START, "Start work on TRK-101: move it to In progress.", [s["over_limit"], s["roomy"]],
         [{"reward_code": taskboard_reward(START)}]),
        ("unreachable", START, "Move TRK-101 (“Add CSV export to reports”) into In progress.", [s["over_limit"]],
         [{"reward_code": taskboard_reward(START)}]),
        ("outside_spec", MOVE, move + " (outside)", [s["messy"]], [good]),
        ("golden_fails_reward", MOVE, move + " (wrong column)", [s["good"]],
         [{"reward_code": taskboard_reward(MOVE, override={"column": "done"})}]),
        ("initial_passes", CREATE, "Add a To do card “Write release notes”.", [s["already"]], [{"reward_code": taskboard_reward(CREATE)}]),
        ("constant", MOVE, move + " (constant)", [s["good"]],
         [{"reward_code": "def reward(initial, final, trajectory=None):\n    return 1.0\n"}]),
        ("reads_file", MOVE, move + " (file)", [s["good"]],
         [{"reward_code": "def reward(initial, final, trajectory=None):\n    return float(len(open('/etc/passwd').read()) > 0 and bool(final))\n"}]),
        ("ignores_spec", MOVE, move + " (assignee ignored)", [s["good"]], [{"reward_code": taskboard_reward(MOVE, skip_fields=("assignee",))}]),
        ("ignores_side_effects", MOVE, move + " (side effects)", [s["good"]], [{"reward_code": taskboard_reward(MOVE, side_effects=False)}]),
        ("duplicate", MOVE, move, [s["good"]], [good]),
        ("bad_proposal", [{"op": "archive_card", "card": "TRK-105"}], "Archive TRK-105.", [s["good"]], [good]),
    ]
    proposals = [{"instruction": instruction, "spec": {"changes": changes, "criteria": instruction, "difficulty": "easy",
                                                       "forbid_side_effects": True, "tag": tag}}
                 for tag, changes, instruction, _, _ in rows]
    script = {tag: {"generator": g, "discriminator": d} for tag, _, _, g, d in rows}
    return [row[0] for row in rows], ScriptedRoles(proposals, script)


EXPECTED = {
    "unreachable": "golden_unreachable",
    "outside_spec": "diff_outside_spec",
    "golden_fails_reward": "golden_fails_reward",
    "initial_passes": "initial_already_passes",
    "constant": "reward_constant",
    "reads_file": "reward_forbidden_name",
    "ignores_spec": "mutation_revert_passes",
    "ignores_side_effects": "mutation_side_effect_passes",
    "bad_proposal": "proposal_invalid",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tags, roles = build_script()
    out = tmp_path_factory.mktemp("synth-web") / "taskboard.jsonl"
    with ScriptedOpenAIServer(roles) as server:
        report = synth(ENV, len(tags), server.base_url, "stub-model", str(out), max_rounds=2, critics=1,
                       rollout_agent="oracle", rollout_k=1, rollout_band=(0.0, 1.0), concurrency=4,
                       progress=False, print_report=False, backoff=0.01)
    records = [json.loads(line) for line in journal_path(out).read_text().splitlines()]
    by_tag = {r["spec"]["tag"] if r.get("spec") else tags[r["candidate"]]: r for r in records if r.get("stage") == "candidate"}
    return {"tags": tags, "roles": roles, "report": report, "out": out, "by_tag": by_tag}


def test_web_adapter_shows_the_app_schema_and_keys_paths_by_id():
    adapter = make_adapter(ENV)
    assert isinstance(adapter, WebAdapter) and adapter.family == "web"
    schema = adapter.state_schema()
    assert {"cards", "columns", "members", "project_name"} <= set(schema["properties"])
    assert schema["$defs"]["Card"]["properties"]["priority"]["enum"] == ["Low", "Medium", "High", "Critical"]
    spec = adapter.validate_spec({"changes": MOVE + SETTINGS})
    targets = adapter.target_patterns(spec, board(), board())
    assert targets == ["cards[TRK-105].column", "cards[TRK-105].assignee", "project_name", "members[u6]", "columns[review].wip_limit"]
    context = adapter.prompt_context()
    assert "update_card" in context["catalog"] and "TRK-105" in context["sample"]


def test_solver_plans_ui_actions_from_the_diff_and_refuses_what_the_app_cannot_do():
    s = states()
    assert plan(s["good"]["initial_state"], s["good"]["golden_state"]) == [
        'click("card-TRK-105")', 'select("card-column", "Review")', 'select("card-assignee", "Ben Carter")',
        'click("save-card")', 'answer("done")']
    with pytest.raises(Unsolvable, match="WIP limit"):
        plan(s["over_limit"]["initial_state"], s["over_limit"]["golden_state"])
    wrong_id = copy.deepcopy(s["settings"]["golden_state"])
    wrong_id["members"][-1]["id"] = "u9"
    with pytest.raises(Unsolvable, match="u6"):
        plan(s["settings"]["initial_state"], wrong_id)
    # raising the limit in the same target makes the move possible: settings first, then the card
    raised = copy.deepcopy(s["over_limit"]["golden_state"])
    next(c for c in raised["columns"] if c["id"] == "doing")["wip_limit"] = 4
    actions = plan(s["over_limit"]["initial_state"], raised)
    assert actions.index('click("save-wip")') < actions.index('click("card-TRK-101")')


def test_every_faulty_web_candidate_is_rejected_for_its_reason(run):
    by_tag = run["by_tag"]
    for tag, reason in EXPECTED.items():
        assert by_tag[tag]["status"] == "rejected", tag
        assert by_tag[tag]["reason"] == reason, (tag, by_tag[tag]["rounds"])
    for tag in ("good", "settings", "fixed_by_review", "duplicate"):
        assert by_tag[tag]["status"] == "accepted", (tag, by_tag[tag]["rounds"])
    assert [r["code"] for r in by_tag["fixed_by_review"]["rounds"]] == ["golden_unreachable", None]
    assert by_tag["unreachable"]["side"] == "generator" and "WIP limit" in by_tag["unreachable"]["error"]
    assert by_tag["golden_fails_reward"]["side"] == "discriminator"
    assert by_tag["initial_passes"]["side"] == "generator"
    assert "cards[TRK-105].assignee" in by_tag["ignores_spec"]["error"]


def test_funnel_of_the_web_run(run):
    report = run["report"]
    assert report["funnel"] == {"proposed": 13, "passed_checks": 4, "voted": 4, "rollout_filtered": 4, "deduplicated": 3}
    assert report["rejections"]["dedup"] == {"duplicate_state": 1}
    assert sum(report["rejections"]["checks"].values()) == 9


def test_reviews_reach_the_side_at_fault_and_the_discriminator_never_sees_states(run):
    roles = run["roles"]
    retry = roles.requests("generator", "fixed_by_review")
    assert len(retry) == 2 and "golden_unreachable" in retry[1]["messages"][-1]["content"]
    assert "WIP limit" in retry[1]["messages"][-1]["content"]
    assert len(roles.requests("discriminator", "fixed_by_review")) == 1
    unnamed = [c["title"] for c in board()["cards"] if c["id"] not in ("TRK-101", "TRK-105")]  # only in generated states
    for body in roles.requests("discriminator"):
        blob = "\n".join(m["content"] for m in body["messages"])
        assert MARKER not in blob and "initial_state" not in blob and "golden_state" not in blob
        assert not [title for title in unnamed if title in blob]


def test_output_loads_and_the_oracle_solves_it_in_the_browser(run):
    tasks = envgym.load_tasks(run["out"])
    assert [t.spec["tag"] for t in tasks] == ["good", "settings", "fixed_by_review"]
    env = envgym.make(ENV)
    try:
        for task in tasks:
            assert task.reward.kind == "python" and task.golden.actions[-1] == 'answer("done")'
            assert {"solvable", "oracle", "mutation_revert", "mutation_side"} <= set(task.verification["checks"])
            assert task.verification["rollout_pass_rate"] == 1.0
            episode = run_episode(env, OracleAgent(env.unwrapped), task=task)
            assert episode.success and episode.turns[-1].reward == 1.0, [t.info for t in episode.turns[-1:]]
            assert all(episode.turns[-1].info["reward_components"].values())
            assert not any(turn.info.get("action_error") for turn in episode.turns)
        # doing nothing scores 0 under the same python reward
        env.reset(options={"task": tasks[0]})
        _, reward, terminated, _, info = env.step('answer("done")')
        assert terminated and reward == 0.0 and info["success"] is False
    finally:
        env.close()
