"""Task synthesis for a desktop env, end to end: ``envgym.synth.cli_ops.synth`` for envgym/DesktopMousepad-v0
against the loopback OpenAI-compatible stub serving scripted role replies.  Every state is loaded
into a real desktop in the desktop container (home folder written, Mousepad started on it), every
candidate is solved by Mousepad's planner played through pixel and keyboard actions, and the output
tasks are then solved by the oracle agent, scored by their own python reward inside the container."""

from __future__ import annotations

import gc
import json

import pytest

import envgym
from envgym.agents.loop import run_episode
from envgym.agents.oracle import OracleAgent
from envgym.containers.images import build_image
from envgym.synth.adapters import make_adapter
from envgym.synth.cli_ops import journal_path, synth
from envgym.envs.desktop.synthesis import DesktopAdapter
from tests.support.containers import containers_of
from tests.support.openai_stub import ScriptedOpenAIServer
from tests.support.synth_scripts import ScriptedRoles

pytestmark = pytest.mark.timeout(1200)
ENV = "envgym/DesktopMousepad-v0"
LIST = "Documents/shopping.txt"
TEXT = "Shopping\n- milk\n- bread\n"
START = {"files": {LIST: {"text": TEXT}, "Documents/other.txt": {"text": "keep me\n"}}, "open": [LIST]}


def state(text: str = TEXT, **settings) -> dict:
    return {**START, "files": {**START["files"], LIST: {"text": text}}, "settings": settings}


def reward_code(path: str | None, text: str | None, settings: dict, check_side_effects: bool = True) -> str:
    """Reward code a discriminator would write: the file's text (trailing newlines aside) and the
    settings asked for; everything else unchanged."""
    return f'''
def reward(initial, final, trajectory=None):
    path, want, settings = {path!r}, {text!r}, {settings!r}
    files = final.get("files", {{}})
    text_ok = path is None or files.get(path, {{}}).get("text", "").rstrip("\\n") == want.rstrip("\\n")
    settings_ok = all(final.get("settings", {{}}).get(k) == v for k, v in settings.items())
    others = [p for p in set(files) | set(initial.get("files", {{}})) if p != path]
    same_files = all(files.get(p) == initial.get("files", {{}}).get(p) for p in others)
    same_settings = all(final.get("settings", {{}}).get(k) == v for k, v in initial.get("settings", {{}}).items()
                        if k not in settings)
    side_ok = {not check_side_effects!r} or (same_files and same_settings and final.get("folders") == initial.get("folders"))
    ok = text_ok and settings_ok and side_ok
    return {{"score": 1.0 if ok else 0.0, "components": {{"text": text_ok, "settings": settings_ok, "side": side_ok}}}}
'''


def spec(tag: str, targets: list[str]) -> dict:
    return {"criteria": tag, "targets": targets, "incidental": [], "forbid_side_effects": True, "difficulty": "easy",
            "tag": tag}


def build_script():
    eggs = TEXT + "- eggs\n"
    rows = [
        # tag, instruction, targets, generator replies, discriminator replies
        ("append", "Add '- eggs' at the end of shopping.txt and save it.", [f"files.{LIST}.text"],
         [{"initial_state": state(), "golden_state": state(eggs)}], [{"reward_code": reward_code(LIST, eggs, {})}]),
        ("numbers", "Turn on line numbers in Mousepad.", ["settings.show-line-numbers"],
         [{"initial_state": state(), "golden_state": state(**{"show-line-numbers": True})}],
         [{"reward_code": reward_code(None, None, {"show-line-numbers": True})}]),
        ("tabs", "Set Mousepad's tab size to 4 and make it insert spaces.", ["settings.tab-width", "settings.insert-spaces"],
         [{"initial_state": state(), "golden_state": state(**{"tab-width": 4, "insert-spaces": True})}],
         [{"reward_code": reward_code(None, None, {"tab-width": 4, "insert-spaces": True})}]),
        ("delete_file", "Delete other.txt.", ["files.Documents/other.txt*"],
         [{"initial_state": state(), "golden_state": {**state(), "files": {LIST: {"text": TEXT}}}}],
         [{"reward_code": reward_code(None, None, {})}]),
        ("outside", "Add '- eggs' to shopping.txt (and the generator also edits another file).", [f"files.{LIST}.text"],
         [{"initial_state": state(), "golden_state": {**state(eggs), "files": {LIST: {"text": eggs},
                                                                                "Documents/other.txt": {"text": "x\n"}}}}],
         [{"reward_code": reward_code(LIST, eggs, {})}]),
        ("lazy", "Add '- butter' at the end of shopping.txt and save it.", [f"files.{LIST}.text"],
         [{"initial_state": state(), "golden_state": state(TEXT + "- butter\n")}],
         [{"reward_code": reward_code(LIST, TEXT + "- butter\n", {}, check_side_effects=False)}]),
    ]
    proposals = [{"instruction": instruction, "spec": spec(tag, targets)} for tag, instruction, targets, _, _ in rows]
    script = {tag: {"generator": g, "discriminator": d} for tag, _, _, g, d in rows}
    return [row[0] for row in rows], ScriptedRoles(proposals, script)


@pytest.fixture(scope="module")
def run(engine, tmp_path_factory):
    build_image("desktop")
    tags, roles = build_script()
    out = tmp_path_factory.mktemp("synth-desktop") / "mousepad.jsonl"
    with ScriptedOpenAIServer(roles) as server:
        report = synth(ENV, len(tags), server.base_url, "stub-model", str(out), max_rounds=1, critics=1,
                       rollout_agent="oracle", rollout_k=1, rollout_band=(0.0, 1.0), concurrency=1,
                       progress=False, print_report=False, backoff=0.01)
    gc.collect()
    records = [json.loads(line) for line in journal_path(out).read_text().splitlines()]
    by_tag = {r["spec"]["tag"] if r.get("spec") else tags[r["candidate"]]: r for r in records if r.get("stage") == "candidate"}
    return {"report": report, "out": out, "by_tag": by_tag}


def test_the_adapter_is_the_envs_own_and_shows_its_schema():
    adapter = make_adapter(ENV)
    assert isinstance(adapter, DesktopAdapter) and adapter.family == "desktop"
    schema = adapter.state_schema()
    assert {"files", "folders", "settings", "open"} <= set(schema["properties"])
    assert schema["properties"]["settings"]["properties"]["show-line-numbers"]["type"] == "boolean"
    adapter.close()


def test_good_candidates_are_verified_and_faulty_ones_rejected_for_their_reason(run):
    by_tag = run["by_tag"]
    for tag in ("append", "numbers", "tabs"):
        assert by_tag[tag]["status"] == "accepted", (tag, by_tag[tag].get("rounds"))
    assert by_tag["delete_file"]["reason"] == "golden_unreachable" and "cannot delete" in by_tag["delete_file"]["error"]
    assert by_tag["outside"]["reason"] == "diff_outside_spec"
    assert by_tag["lazy"]["reason"] == "mutation_side_effect_passes"
    assert run["report"]["funnel"]["deduplicated"] == 3
    assert containers_of() == [], "the adapter's warm desktops are closed with it"


def test_the_verified_tasks_are_solved_through_the_desktop(run):
    tasks = envgym.load_tasks(run["out"])
    assert [t.spec["tag"] for t in tasks] == ["append", "numbers", "tabs"]
    env = envgym.make(ENV)
    try:
        for task in tasks:
            assert task.reward.kind == "python" and task.golden.actions[-1] == 'answer("done")'
            assert task.verification["rollout_pass_rate"] == 1.0
            episode = run_episode(env, OracleAgent(env.unwrapped), task=task)
            assert episode.success and episode.turns[-1].reward == 1.0, episode.turns[-1].info
            assert not any(turn.info.get("action_error") for turn in episode.turns)
        env.reset(options={"task": tasks[0]})
        _, reward, terminated, _, info = env.step('answer("done")')
        assert terminated and reward == 0.0 and info["success"] is False, "doing nothing scores 0"
    finally:
        env.close()
