"""``envgym show --html`` on a vision-language run: per turn the screenshot as the policy saw it (from the
run's image store), the action drawn on it in screen coordinates, the reward, and for trained turns the
advantage and the learner-vs-rollout logprob gap; typed text drawn too; hostile refs shown as nothing."""

from __future__ import annotations

import base64
import re

import torch
from typer.testing import CliRunner

import envgym
from envgym import Episode, Turn
from envgym.agents.backends.vision_backend import VisionTransformersBackend
from envgym.agents.click_grid_agent import ClickGridAgent, cell_tokens
from envgym.agents.loop import record_turn
from envgym.agents.tiny_policy import envgym_corpus
from envgym.agents.tiny_vlm import build_tiny_vlm
from envgym.agents.vision import decode_image, load_vision_policy
from envgym.cli import app
from envgym.report import TURN_STATS_FILE, read_turn_stats, render_html
from envgym.trajectory import write_episodes
from envgym.trainers.config import TrainConfig
from envgym.trainers.data_manager import Group, TaskRef
from envgym.trainers.learner import Learner
from envgym.trainers.turn_stats import TurnStatsWriter


def trained_run(run_dir):
    """Two groups of four one-click episodes by a tiny Idefics3 click-grid policy, one learner step
    (which writes turn_stats.jsonl), the episodes written beside the images."""
    path = build_tiny_vlm("idefics3", run_dir.parent / "vlm", vocab_corpus=envgym_corpus(200), vocab_size=300,
                          image_size=112, extra_tokens=cell_tokens(8, 6))
    model, processor = load_vision_policy(path)
    backend = VisionTransformersBackend(model, processor)
    env = envgym.make("envgym/PixelClick-v0", max_turns=1)
    groups = []
    for g, task in enumerate(env.unwrapped.task_split("train", 2)):
        episodes = []
        for member in range(4):
            agent = ClickGridAgent(processor, run_dir / "images", seed=10 * g + member)
            obs, info = env.reset(options={"task": task})
            decision = agent.finish(backend.generate([agent.prepare(obs, info)])[0])
            _, reward, terminated, truncated, step_info = env.step(decision.action)
            episode = Episode(env_id="envgym/PixelClick-v0", task_id=task.task_id)
            episode.turns.append(record_turn(0, {"text": obs["text"]}, decision, reward, terminated, truncated, step_info))
            episodes.append(episode)
        groups.append(Group(f"g{g}", (g, 0), TaskRef("click", task.task_id), episodes, 0))
    env.close()
    config = TrainConfig()
    config.run.out_dir = str(run_dir)
    config.algo.estimator = "grpo"
    learner = Learner(load_vision_policy(path)[0], load_vision_policy(path)[1], config)
    learner.turn_log = TurnStatsWriter(run_dir / TURN_STATS_FILE)
    torch.manual_seed(0)
    learner.train_step(groups)
    episodes = [ep for group in groups for ep in group.episodes]
    write_episodes(run_dir / "trajectories.jsonl", episodes)
    return episodes


def test_the_report_shows_what_the_policy_saw_and_what_the_learner_made_of_it(tmp_path):
    run = tmp_path / "run"
    episodes = trained_run(run)
    stats = read_turn_stats(run / TURN_STATS_FILE)
    assert len(stats) == len(episodes)
    assert all(record["logp_diff"] < 1e-4 for record in stats.values())  # same weights: numerical noise only
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["show", str(run / "trajectories.jsonl"), "--html", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("what the model saw (112x112, from a 320x240 screen") == len(episodes)
    shown = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(shown) == len(episodes) and all(decode_image(base64.b64decode(s)).size == (112, 112) for s in shown)
    assert page.count('<svg viewBox="0 0 320 240"') == len(episodes)  # actions drawn in screen coordinates
    first = episodes[0].turns[0]
    x, y = re.match(r"click\((\d+), (\d+)\)", first.action).groups()
    assert f'<circle cx="{x}" cy="{y}"' in page
    assert page.count("trained: advantage ") == len(episodes) and "|logp learner − rollout|" in page
    advantages = {record["advantage"] for record in stats.values()}
    assert any(a > 0 for a in advantages) and any(a < 0 for a in advantages)


def test_typed_text_is_drawn_escaped_and_hostile_refs_show_nothing(tmp_path):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (250, 250, 250)).save(buffer, "PNG")
    turn = Turn(index=0, observation={"text": "form", "image": buffer.getvalue()}, action='type("hi <script>x</script>")',
                images=[{"id": "../../../etc/passwd", "size": [1, 1], "source_size": [64, 48]}])
    episode = Episode(env_id="form", turns=[turn], metadata={"screenshots": {"screen_size": [64, 48]}})
    (tmp_path / "images").mkdir()
    write_episodes(tmp_path / "ep.jsonl", [episode])
    page = render_html([episode], source=tmp_path / "ep.jsonl")
    assert "⌨ hi &lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "what the model saw" not in page  # the ref is not an image id: the env's own screenshot is shown
    assert page.count("data:image/png;base64,") == 1
