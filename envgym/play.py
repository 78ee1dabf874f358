"""``envgym play ID``: a person plays an env in the terminal (``--web``: in a browser page, see
:mod:`envgym.play_web`).  The episode goes through the same agent loop as any agent's and is
recorded the same way (final observation and bounded screenshots included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envgym.recording import ObservationTap, finish_episode
from envgym.trajectory import Episode, EpisodeWriter


def play_in_terminal(env: Any, env_id: str, *, task: str | None, seed: int | None, out: Path | None,
                     screenshots: Path | None, console: Any) -> Episode | None:
    """Play one episode at the terminal; returns it (``None`` when the player quit)."""
    from rich.text import Text

    from envgym.agents.human import HumanAgent, QuitEpisode
    from envgym.agents.loop import run_episode

    tap = ObservationTap(env)
    agent = HumanAgent(tap, console=console, env_id=env_id)
    turns: list[Any] = []

    def say(text: str, style: str = "") -> None:
        console.print(Text(text, style=style), highlight=False)

    def save_screen(index: int) -> None:
        if screenshots is None:
            return
        grab = getattr(env.unwrapped, "screenshot_bytes", None)
        if grab is None:
            say(f"{env_id} has no screen to save", "yellow")
            return
        screenshots.mkdir(parents=True, exist_ok=True)
        path = screenshots / f"turn{index:03d}.png"
        path.write_bytes(grab("png"))
        say(f"screenshot: {path}", "dim")

    def report(turn: Any) -> None:
        turns.append(turn)
        save_screen(turn.index + 1)
        over = " (episode over)" if turn.terminated or turn.truncated else ""
        say(f"reward {turn.reward:+.2f}{over}", "green")

    try:
        episode = run_episode(tap, agent, task=task, seed=seed, env_id=env_id, on_turn=report,
                              on_reset=lambda observation, info: save_screen(0))
    except QuitEpisode:
        say(f"quit after {len(turns)} turns", "yellow")
        return None
    finish_episode(episode, tap.last)
    outcome = "SUCCESS" if episode.success else (f"infra error: {episode.infra_error}" if episode.infra_error else "failed")
    say(f"{outcome} — return {episode.total_return:.2f} in {episode.num_turns} turns", "bold")
    if out:
        with EpisodeWriter(out) as writer:
            writer.write(episode)
        say(f"saved to {out}")
    return episode
