"""Self-contained HTML reports of recorded episodes (``envgym show FILE --html OUT``) and a side-by-side
comparison of two runs on the same tasks (``envgym show A --compare B --html OUT``).

One file, no external assets and no script: screenshots are data URIs, every string from an episode
is HTML-escaped.  Per episode: outcome (success, return, turns, infra error) in the always-visible
summary line; per turn: the screenshot (with the action drawn on it for pixel actions), the
observation text, the action as the agent wrote it, reward and errors; then the final observation.

Drawing on screenshots goes through :data:`SCREEN_MARKERS`: functions ``(action, screen_size) ->
list of SVG elements`` in screen coordinates (the env's viewport, which may be larger than the stored
image).  Append one to draw other action kinds.

Turns of vision-language agents name the images their prompt held (``Turn.images``); given the
trajectory file (``source``), the report shows the turn's own image from the content-addressed store
beside it (``DIR/images``) — the screenshot exactly as the model saw it, at the model's resolution —
with the action drawn on it.  Turns the trainer learnt from also get their advantage and the gap
between the learner's and the rollout's logprobs, read from ``DIR/turn_stats.jsonl``.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from envgym.actions import InvalidAction, parse_action
from envgym.fileio import atomic_write
from envgym.image_store import ImageStore, store_for
from envgym.trajectory import Episode, Turn

#: The learner's per-turn figures beside a run's trajectory store (written by the trainer).
TURN_STATS_FILE = "turn_stats.jsonl"

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px}h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1200px}
details.ep{background:#fff;border:1px solid #d9dce3;border-radius:8px;margin:12px 0;padding:8px 14px}
summary{cursor:pointer;font-weight:600}.ok{color:#137333}.bad{color:#b3261e}.infra{color:#8e24aa}
.turn{border-top:1px solid #eceef2;padding:10px 0;display:grid;grid-template-columns:80px 1fr;gap:8px}
pre{white-space:pre-wrap;margin:0;background:#f8f9fb;border-radius:6px;padding:8px;font-size:12.5px;max-height:360px;overflow:auto}
.act{font-family:ui-monospace,monospace;background:#e8f0fe;border-radius:4px;padding:2px 6px;white-space:pre-wrap}
.err{color:#b3261e}.meta{color:#5f6675;font-size:12px}
figure{position:relative;display:inline-block;margin:0 0 6px;max-width:100%}
figure img{display:block;max-width:100%;border:1px solid #d9dce3;border-radius:6px}
figure svg{position:absolute;inset:0;width:100%;height:100%;pointer-events:none}
table{border-collapse:collapse;background:#fff}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #eceef2;vertical-align:top}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}.pair>div{min-width:0}
.diff{background:#fff8e1}
.seen{color:#5f6675;font-size:12px;margin:0 0 4px}
"""

ScreenMarker = Callable[[Any, tuple[int, int]], list[str]]


def pixel_action_marks(action: Any, size: tuple[int, int]) -> list[str]:
    """SVG marks for pixel actions: a ring at a click, an arrow for a drag, a dot for a move."""
    try:
        call = parse_action(action)
    except InvalidAction:
        return []
    numbers = [a for a in call.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    radius = max(size) / 90
    if call.name in ("click", "double_click", "move") and len(numbers) >= 2:
        x, y = numbers[:2]
        ring = "none" if call.name == "move" else "#e8453c"
        return [f'<circle cx="{x:g}" cy="{y:g}" r="{radius:g}" fill="{ring}" fill-opacity="0.25" stroke="#e8453c" '
                f'stroke-width="{radius / 3:g}"/>']
    if call.name == "drag" and len(numbers) >= 4:
        x1, y1, x2, y2 = numbers[:4]
        return [f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#e8453c" stroke-width="{radius / 3:g}"/>',
                f'<circle cx="{x2:g}" cy="{y2:g}" r="{radius / 2:g}" fill="#e8453c"/>']
    return []


def typed_text_marks(action: Any, size: tuple[int, int]) -> list[str]:
    """SVG marks for keyboard actions: the typed text (or key combination) in a box at the bottom."""
    try:
        call = parse_action(action)
    except InvalidAction:
        return []
    if call.name not in ("type", "key") or not call.args or not isinstance(call.args[0], str):
        return []
    text = call.args[0] if len(call.args[0]) <= 60 else call.args[0][:60] + "…"
    label = f"⌨ {text}" if call.name == "type" else f"key {text}"
    font = max(size) / 45
    y = size[1] - font * 0.8
    return [f'<rect x="0" y="{size[1] - font * 1.9:g}" width="{size[0]:g}" height="{font * 1.9:g}" fill="#1d2330" fill-opacity="0.75"/>',
            f'<text x="{font / 2:g}" y="{y:g}" font-size="{font:g}" fill="#fff" font-family="monospace">{_esc(label)}</text>']


#: Drawers of an action on the screenshot it was taken on (see the module docstring).
SCREEN_MARKERS: list[ScreenMarker] = [pixel_action_marks, typed_text_marks]


def format_action(action: Any) -> str:
    """An action as a person would write it: text as is, a tool call as ``name(key="value", …)``."""
    if isinstance(action, str):
        return action
    if isinstance(action, dict) and isinstance(action.get("name"), str):
        arguments = action.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return f"{action['name']}({arguments})"
        if isinstance(arguments, dict):
            inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
            return f"{action['name']}({inner})"
    return json.dumps(action, ensure_ascii=False, default=str)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _screen(image: bytes, action: Any, screen_size: Sequence[int] | None, stretch: bool = False) -> str:
    """The image with the action's marks; ``stretch`` shows it at the screen's size and aspect (a model's
    small or squashed input, pixel for pixel, under marks in screen coordinates)."""
    kind = "jpeg" if image[:3] == b"\xff\xd8\xff" else "png"
    data = base64.b64encode(image).decode("ascii")
    marks: list[str] = []
    if action is not None and screen_size:
        size = (int(screen_size[0]), int(screen_size[1]))
        for marker in SCREEN_MARKERS:
            marks.extend(marker(action, size))
    overlay = (f'<svg viewBox="0 0 {screen_size[0]} {screen_size[1]}" preserveAspectRatio="none">{"".join(marks)}</svg>'
               if marks and screen_size else "")
    size = (f' style="width:{int(screen_size[0])}px;aspect-ratio:{int(screen_size[0])}/{int(screen_size[1])};'
            f'image-rendering:pixelated"' if stretch and screen_size else "")
    return f'<figure><img alt="screenshot"{size} src="data:image/{kind};base64,{data}">{overlay}</figure>'


def _observation_html(observation: dict[str, Any], action: Any, screen_size: Sequence[int] | None) -> str:
    parts = []
    if isinstance(observation.get("image"), (bytes, bytearray)):
        parts.append(_screen(bytes(observation["image"]), action, screen_size))
    if observation.get("text"):
        parts.append(f"<pre>{_esc(observation['text'])}</pre>")
    return "".join(parts)


def _policy_image_html(turn: Turn, images: ImageStore | None) -> str:
    """The turn's own image as the model saw it (the last image of its prompt), with the action
    drawn in screen coordinates; "" when the turn names none or the store lacks it."""
    ref = turn.images[-1] if turn.images else None
    if images is None or not isinstance(ref, dict):
        return ""
    try:
        data = images.get(str(ref.get("id")))
        size = [int(v) for v in ref.get("size") or []]
        screen = [int(v) for v in ref.get("source_size") or size]
    except (OSError, ValueError, TypeError):
        return ""
    seen = f"{size[0]}x{size[1]}" if len(size) == 2 else "?"
    return (f'<p class="seen">what the model saw ({seen}, from a {screen[0]}x{screen[1]} screen; image {len(turn.images)} '
            f"of its prompt)</p>{_screen(data, turn.action, screen, stretch=True)}") if len(screen) == 2 else ""


def _stats_html(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    parts = [f"advantage {float(stats['advantage']):+.3f}"] if isinstance(stats.get("advantage"), (int, float)) else []
    if isinstance(stats.get("logp_diff"), (int, float)):
        parts.append(f"|logp learner − rollout| {float(stats['logp_diff']):.2g}")
    if isinstance(stats.get("version"), int):
        parts.append(f"learner version {stats['version']}")
    return f'<p class="meta">trained: {_esc(" · ".join(parts))}</p>' if parts else ""


def turn_html(turn: Turn, screen_size: Sequence[int] | None = None, images: ImageStore | None = None,
              stats: dict[str, Any] | None = None) -> str:
    """One turn: what the agent saw (screenshot with the action drawn on it, text), what it did, and
    what came back; for a trained turn, its advantage and logprob gap."""
    info = turn.info
    outcome = [f'<p>action: <span class="act">{_esc(format_action(turn.action))}</span>']
    if info.get("action_error"):
        outcome.append(f' <span class="err">error: {_esc(info["action_error"])}</span>')
    if info.get("infra_error"):
        outcome.append(f' <span class="infra">infra error: {_esc(info["infra_error"])}</span>')
    if info.get("subgoal"):
        outcome.append(f' <span class="meta">subgoal: {_esc(info["subgoal"])}</span>')
    outcome.append("</p>")
    end = " · episode over" if turn.terminated or turn.truncated else ""
    seen = _policy_image_html(turn, images)
    observation = turn.observation if not seen else {k: v for k, v in turn.observation.items() if k != "image"}
    return (f'<div class="turn"><div class="meta">turn {turn.index}<br>r={turn.reward:+.2f}{end}</div><div>'
            f'{seen}{_observation_html(observation, turn.action, screen_size)}{"".join(outcome)}{_stats_html(stats)}</div></div>')


def status_html(episode: Episode) -> str:
    if episode.infra_error:
        return f'<span class="infra">infra error: {_esc(episode.infra_error)}</span>'
    return '<span class="ok">success</span>' if episode.success else '<span class="bad">failed</span>'


def episode_html(episode: Episode, index: int, open_: bool = False, images: ImageStore | None = None,
                 stats: dict[tuple[str, int], dict[str, Any]] | None = None) -> str:
    screen_size = (episode.metadata.get("screenshots") or {}).get("screen_size")
    head = (f"#{index} {_esc(episode.env_id)} · task {_esc(episode.task_id)} · {status_html(episode)} · "
            f"return {episode.total_return:.2f} · {episode.num_turns} turns · seed {_esc(episode.seed)} · "
            f"agent {_esc(episode.agent)}")
    body = "".join(turn_html(turn, screen_size, images, (stats or {}).get((episode.episode_id, turn.index)))
                   for turn in episode.turns)
    final = episode.metadata.get("final_observation")
    if isinstance(final, dict):
        body += (f'<div class="turn"><div class="meta">final<br>observation</div><div>'
                 f"{_observation_html(final, None, screen_size)}</div></div>")
    dropped = (episode.metadata.get("screenshots") or {}).get("dropped")
    if dropped:
        body += f'<p class="meta">{int(dropped)} screenshots were left out to bound the file size.</p>'
    return (f'<details class="ep" id="ep{index}"{" open" if open_ else ""}><summary>{head}</summary>'
            f"{body}</details>")


def _summary_table(episodes: Sequence[Episode]) -> str:
    n = len(episodes)
    wins = sum(e.success for e in episodes)
    infra = sum(e.infra_error is not None for e in episodes)
    mean = sum(e.total_return for e in episodes) / n if n else 0.0
    return (f"<table><tr><th>episodes</th><td>{n}</td></tr><tr><th>successes</th><td>{wins}"
            f" ({wins / n if n else 0:.0%})</td></tr><tr><th>mean return</th><td>{mean:.3f}</td></tr>"
            f"<tr><th>infra errors</th><td>{infra}</td></tr></table>")


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{_esc(title)}</h1></header>"
            f"<main>{body}</main></body></html>")


def render_html(episodes: Sequence[Episode], title: str = "envgym episodes", source: str | Path | None = None) -> str:
    """The report; ``source`` (the trajectory file) finds the image store and turn stats beside it."""
    images, stats = _beside(source)
    rows = "".join(episode_html(ep, i, open_=(i == 0), images=images, stats=stats) for i, ep in enumerate(episodes))
    return _page(title, _summary_table(episodes) + rows)


def _beside(source: str | Path | None) -> tuple[ImageStore | None, dict[tuple[str, int], dict[str, Any]]]:
    if source is None:
        return None, {}
    root = store_for(source)
    return (ImageStore(root) if root.is_dir() else None), read_turn_stats(Path(source).parent / TURN_STATS_FILE)


def read_turn_stats(path: str | Path) -> dict[tuple[str, int], dict[str, Any]]:
    """``(episode_id, turn) -> the latest record`` of a turn-stats file ({} when there is none)."""
    stats: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return stats
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
                stats[(str(record["episode_id"]), int(record["turn"]))] = record
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a torn or foreign line: the report shows what it can
    return stats


def _task_key(episode: Episode) -> str:
    return str(episode.task_id if episode.task_id is not None else f"seed {episode.seed}")


def render_comparison(left: tuple[str, Sequence[Episode]], right: tuple[str, Sequence[Episode]],
                      title: str = "envgym comparison") -> str:
    """Two runs side by side, one row per task (the first episode of each run on it); rows where the
    outcomes differ are highlighted."""
    (left_name, left_eps), (right_name, right_eps) = left, right
    by_task: dict[str, list[Episode | None]] = {}
    for side, episodes in enumerate((left_eps, right_eps)):
        for episode in episodes:
            by_task.setdefault(_task_key(episode), [None, None])
            if by_task[_task_key(episode)][side] is None:
                by_task[_task_key(episode)][side] = episode
    head = (f"<table><tr><th></th><th>{_esc(left_name)}</th><th>{_esc(right_name)}</th></tr>"
            f"<tr><th>summary</th><td>{_summary_table(left_eps)}</td><td>{_summary_table(right_eps)}</td></tr></table>")
    rows = []
    for index, (task, pair) in enumerate(sorted(by_task.items())):
        cells = [_cell(ep) for ep in pair]
        differ = [(e.success, e.infra_error is None) if e else None for e in pair]
        cls = ' class="diff"' if differ[0] != differ[1] else ""
        columns = "".join(f"<div>{episode_html(ep, index) if ep else '<p class=meta>not run</p>'}</div>" for ep in pair)
        rows.append(f"<details class=\"ep\"><summary><span{cls}>task {_esc(task)}: {_esc(left_name)} {cells[0]} · "
                    f"{_esc(right_name)} {cells[1]}</span></summary><div class=\"pair\">{columns}</div></details>")
    return _page(title, head + "".join(rows))


def _cell(episode: Episode | None) -> str:
    if episode is None:
        return '<span class="meta">not run</span>'
    return f"{status_html(episode)} (return {episode.total_return:.2f}, {episode.num_turns} turns)"


def _write(path: str | Path, text: str) -> None:
    """Write atomically, readable by everyone (a report is meant to be shared): mode 0644."""
    atomic_write(path, text)
    os.chmod(path, 0o644)


def write_html_report(episodes: Sequence[Episode], path: str | Path, title: str | None = None,
                      source: str | Path | None = None) -> None:
    _write(path, render_html(episodes, title or f"envgym — {Path(path).stem}", source))


def write_comparison_report(left: tuple[str, Sequence[Episode]], right: tuple[str, Sequence[Episode]],
                            path: str | Path, title: str | None = None) -> None:
    _write(path, render_comparison(left, right, title or f"envgym — {left[0]} vs {right[0]}"))


def print_episodes(console: Any, episodes: Sequence[Episode], max_chars: int = 600) -> None:
    """The terminal view of ``envgym show``: every string printed verbatim (no console markup)."""
    from rich.panel import Panel
    from rich.text import Text

    def clip(text: str) -> str:
        return text if len(text) <= max_chars else text[:max_chars] + f"… ({len(text) - max_chars} more chars)"

    for ep in episodes:
        status = ("success", "green") if ep.success else ((f"infra error: {ep.infra_error}", "magenta") if ep.infra_error
                                                          else ("failed", "red"))
        console.rule(Text.assemble(f"{ep.env_id} task={ep.task_id} seed={ep.seed} agent={ep.agent} — ", status,
                                   f" return={ep.total_return:.2f} turns={ep.num_turns}"))
        for turn in ep.turns:
            console.print(Panel(Text(clip(str(turn.observation.get("text", "")))), title=f"turn {turn.index}", border_style="dim"))
            error = turn.info.get("action_error")
            console.print(Text.assemble("  action: ", (format_action(turn.action), "bold"), f"   reward: {turn.reward:+.2f}",
                                        (f"   error: {error}" if error else "", "red")), highlight=False)
        final = ep.metadata.get("final_observation")
        if isinstance(final, dict):
            console.print(Panel(Text(clip(str(final.get("text", "")))), title="final observation", border_style="dim"))
    wins = sum(e.success for e in episodes)
    total = len(episodes)
    console.print(f"{total} episodes, {wins} successes ({wins / total:.0%})" if total else "no episodes", highlight=False)
