"""The envgym command line, driven as a user would: through the typer app and a real terminal."""

import json
import sys

import pexpect
from typer.testing import CliRunner

from envgym import read_episodes
from envgym.cli import app

runner = CliRunner()


def test_list_shows_builtin_and_test_envs():
    result = runner.invoke(app, ["list"], terminal_width=200)
    assert result.exit_code == 0
    assert "envgym/Maze-v0" in result.output and "test/Count-v0" in result.output


def test_unknown_env_exits_with_suggestion():
    result = runner.invoke(app, ["info", "envgym/Mze-v0"], terminal_width=200)
    assert result.exit_code == 2 and "envgym/Maze-v0" in result.output


def test_run_records_and_summarises(tmp_path):
    out = tmp_path / "runs" / "count.jsonl"
    result = runner.invoke(app, ["run", "test/Count-v0", "--agent", "oracle", "--episodes", "5", "--out", str(out)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "success 100.0%" in result.output
    episodes = read_episodes(out)
    assert len(episodes) == 5 and all(e.success for e in episodes)
    assert [e.seed for e in episodes] == [0, 1, 2, 3, 4]

    result = runner.invoke(app, ["run", "test/Count-v0", "--agent", "random", "--episodes", "3", "--out", str(out)])
    assert result.exit_code == 0
    assert len(read_episodes(out)) == 8, "run appends to an existing file"

    shown = runner.invoke(app, ["show", str(out), "--episode", "0"], terminal_width=200)
    assert shown.exit_code == 0 and "test/Count-v0" in shown.output and "action: up " in shown.output


def test_run_with_a_task_file(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"task_id": f"n{n}", "env_id": "test/Count-v0", "instruction": "count",
                                           "spec": {"n": n}}) for n in (1, 3)) + "\n")
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["run", "test/Count-v0", "--agent", "oracle", "--episodes", "4", "--task-file",
                                 str(tasks), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [(e.task_id, e.num_turns) for e in read_episodes(out)] == [("n1", 1), ("n3", 3), ("n1", 1), ("n3", 3)]


def test_play_with_piped_input(tmp_path):
    out = tmp_path / "played.jsonl"
    result = runner.invoke(app, ["play", "test/Count-v0", "--seed", "1", "--out", str(out)],
                           input="jump\n:hint\nup\nup\nup\nup\n", terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "Invalid action" in result.output and "hint: 'up'" in result.output and "SUCCESS" in result.output
    (episode,) = read_episodes(out)
    assert episode.success and episode.turns[0].info["action_error"]


def test_play_in_a_real_terminal():
    """A person at a pseudo-terminal (as under tmux): sees the observation, types, sees the reward."""
    code = "import tests.toy_envs; from envgym.cli import main; main()"
    child = pexpect.spawn(sys.executable, ["-c", code, "play", "test/Count-v0", "--seed", "1"],
                          encoding="utf-8", timeout=30, dimensions=(40, 120))
    child.expect("action> ")
    assert "count 0/" in child.before
    child.sendline("up")
    child.expect("reward")
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_show_html_report(tmp_path):
    from envgym import Episode, Turn, write_episodes

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    episode = Episode(env_id="test/Count-v0", task_id="<script>", success=True, turns=[
        Turn(index=0, observation={"text": "a < b", "image": png}, action="up", reward=1.0, info={"action_error": "x & y"})])
    write_episodes(tmp_path / "e.jsonl", [episode])
    result = runner.invoke(app, ["show", str(tmp_path / "e.jsonl"), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "a &lt; b" in page and "x &amp; y" in page
    assert "<script>" not in page, "task ids are escaped"


def test_synth_command_writes_tasks_the_env_runs(tmp_path):
    """`envgym synth` against a real loopback OpenAI-compatible server with scripted role replies."""
    import envgym
    from envgym.agents import OracleAgent, run_episode
    from tests.support.openai_stub import ScriptedOpenAIServer
    from tests.support.synth_scripts import ScriptedRoles, household_case, household_reward

    case = household_case(7, "pick_clean_then_place", "apple", "fridge")
    spec = {"type": "pick_clean_then_place", "object": "apple", "receptacle": "fridge", "difficulty": "easy", "tag": "good"}
    roles = ScriptedRoles(
        [{"instruction": "put a clean apple in fridge.", "spec": spec}],
        {"good": {"generator": [{"initial_state": {"world": case["initial"]}, "golden_state": {"world": case["golden"]}}],
                  "discriminator": [{"reward_code": household_reward("apple", "fridge", "clean")}]}},
    )
    out = tmp_path / "synth.jsonl"
    with ScriptedOpenAIServer(roles) as server:
        result = runner.invoke(app, ["synth", "--env", "envgym/Household-v0", "--n", "1", "--llm-url", server.base_url,
                                     "--model", "stub", "--out", str(out), "critics=0", "backoff=0.01"],
                               terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "deduplicated" in result.output
    (task,) = envgym.load_tasks(out)
    env = envgym.make("envgym/Household-v0")
    episode = run_episode(env, OracleAgent(env), task=task)
    assert episode.success and episode.turns[-1].reward == 1.0


def test_play_a_web_env_and_save_screenshots(tmp_path):
    """The web envs in the terminal: the accessibility tree is shown, typed actions drive Chromium,
    and --screenshots keeps a PNG per turn."""
    shots = tmp_path / "shots"
    result = runner.invoke(app, ["play", "envgym/WebTaskBoard-v0", "--seed", "0", "--screenshots", str(shots)],
                           input='click("no-such-bid")\n:quit\n', terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "[" in result.output and "no-such-bid" in result.output  # axtree shown, error explained
    pngs = sorted(p.name for p in shots.iterdir())
    assert pngs == ["turn000.png", "turn001.png"]
    assert (shots / "turn000.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
