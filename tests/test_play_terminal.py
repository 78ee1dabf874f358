"""``envgym play`` in the terminal: env and player text is printed verbatim (element ids such as
``[search-input]`` are not console markup), and ``:hint`` comes from the current state — a planner
where the env has one, and a plain "no hint" with the reason where it has not."""

from __future__ import annotations

from typer.testing import CliRunner

from envgym import read_episodes
from envgym.cli import app

runner = CliRunner()


def play(*args: str, keys: list[str]) -> str:
    result = runner.invoke(app, ["play", *args], input="\n".join(keys) + "\n", env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


def test_markup_in_env_text_and_actions_is_printed_verbatim(tmp_path):
    import tests.support.echo_envs  # noqa: F401  (registers the echo env)

    output = play("envgym-test/Echo-v0", "--seed", "0", keys=["[bold red]loud[/] [link=x]y[/link]", ":quit"])
    assert "[bold red]loud[/] [link=x]y[/link]" in output


def test_web_play_in_the_terminal_shows_element_ids_and_replans_hints(tmp_path):
    out = tmp_path / "board.jsonl"
    keys = [":hint", 'click("tab-settings")', ":hint", 'goto("/board")', ":hint", 'click("card-TRK-103")', ":hint",
            'select("card-assignee", "Ben Carter")', ":hint", 'click("save-card")', ":hint", 'answer("done")']
    output = play("envgym/WebTaskBoard-v0", "--task", "board-assign-0", "--out", str(out), keys=keys)
    assert "[tab-settings] link 'Settings'" in output and "[card-TRK-103] link" in output
    hints = [line.split("hint: ", 1)[1].split("   (")[0] for line in output.splitlines() if "> hint: " in line]
    assert hints == ["'click(\"card-TRK-103\")'", "'goto(\"/board\")'", "'click(\"card-TRK-103\")'",
                     "'select(\"card-assignee\", \"Ben Carter\")'", "'click(\"save-card\")'", "'answer(\"done\")'"]
    assert "SUCCESS" in output
    (episode,) = read_episodes(out)
    assert episode.success and episode.metadata["final_observation"]["url"].endswith("/board?msg=Saved+TRK-103.")


def test_web_app_without_planner_says_when_it_cannot_hint():
    keys = [":hint", 'click("nav-cart")', ":hint", ":quit"]
    output = play("envgym/WebShop-v0", "--task", "shop-price-0", keys=keys)
    assert "hint: 'fill(\"search-input\", \"The Quiet Orchard\")'   (step 1 of 4 of the task's recorded solution)" in output
    assert "no hint: envgym/WebShop-v0 has no planner that works from the current page" in output
    assert "left at step 1" in output


def test_state_oracle_hints_survive_a_wrong_move(tmp_path):
    out = tmp_path / "maze.jsonl"
    keys = ["south", "north", "west"] + [":hint"] * 1
    output = play("envgym/Maze-v0", "--seed", "3", "--kw", "width=4", "--kw", "height=4", "--out", str(out),
                  keys=keys + [":quit"])
    assert "hint: '" in output and "(the env's solver, planned from the current state)" in output
