"""A self-contained HTML report of recorded episodes (``envgym show FILE --html OUT``).

One file, no external assets: screenshots are embedded as data URIs, text is escaped.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

from envgym.fileio import atomic_write
from envgym.trajectory import Episode

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px}h1{font-size:18px;margin:0}
main{padding:16px 24px;max-width:1100px}
details.ep{background:#fff;border:1px solid #d9dce3;border-radius:8px;margin:12px 0;padding:8px 14px}
summary{cursor:pointer;font-weight:600}.ok{color:#137333}.bad{color:#b3261e}.infra{color:#8e24aa}
.turn{border-top:1px solid #eceef2;padding:10px 0;display:grid;grid-template-columns:70px 1fr;gap:8px}
.turn pre{white-space:pre-wrap;margin:0;background:#f8f9fb;border-radius:6px;padding:8px;font-size:12.5px;max-height:360px;overflow:auto}
.act{font-family:ui-monospace,monospace;background:#e8f0fe;border-radius:4px;padding:2px 6px}
.err{color:#b3261e}.meta{color:#5f6675;font-size:12px}img{max-width:100%;border:1px solid #d9dce3;border-radius:6px}
table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #eceef2}
"""


def _image_tag(data: bytes) -> str:
    kind = "jpeg" if data[:3] == b"\xff\xd8\xff" else "png"
    return f'<img alt="screenshot" src="data:image/{kind};base64,{base64.b64encode(data).decode()}">'


def _turn_html(turn) -> str:
    obs = turn.observation
    parts = [f'<div class="meta">turn {turn.index}<br>r={turn.reward:+.2f}</div><div>']
    if obs.get("image"):
        parts.append(_image_tag(obs["image"]))
    parts.append(f"<pre>{html.escape(obs.get('text', ''))}</pre>")
    parts.append(f'<p>action: <span class="act">{html.escape(json.dumps(turn.action, ensure_ascii=False))}</span>')
    if turn.info.get("action_error"):
        parts.append(f' <span class="err">error: {html.escape(str(turn.info["action_error"]))}</span>')
    if turn.info.get("subgoal"):
        parts.append(f' <span class="meta">subgoal: {html.escape(str(turn.info["subgoal"]))}</span>')
    parts.append("</p></div>")
    return '<div class="turn">' + "".join(parts) + "</div>"


def render_html(episodes: Sequence[Episode], title: str = "envgym episodes") -> str:
    wins = sum(e.success for e in episodes)
    rows = []
    for i, ep in enumerate(episodes):
        if ep.infra_error:
            status = f'<span class="infra">infra error: {html.escape(ep.infra_error)}</span>'
        else:
            status = '<span class="ok">success</span>' if ep.success else '<span class="bad">failed</span>'
        head = (f"#{i} {html.escape(ep.env_id)} · task {html.escape(str(ep.task_id))} · seed {ep.seed} · "
                f"agent {html.escape(str(ep.agent))} · {status} · return {ep.total_return:.2f} · {ep.num_turns} turns")
        body = "".join(_turn_html(t) for t in ep.turns)
        rows.append(f'<details class="ep"{" open" if i == 0 else ""}><summary>{head}</summary>{body}</details>')
    summary = (f"<table><tr><th>episodes</th><td>{len(episodes)}</td></tr>"
               f"<tr><th>successes</th><td>{wins}</td></tr>"
               f"<tr><th>mean return</th><td>{(sum(e.total_return for e in episodes) / len(episodes)) if episodes else 0:.3f}</td></tr></table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{html.escape(title)}</h1></header>"
            f"<main>{summary}{''.join(rows)}</main></body></html>")


def write_html_report(episodes: Sequence[Episode], path: str | Path, title: str | None = None) -> None:
    atomic_write(path, render_html(episodes, title or f"envgym — {Path(path).stem}"))
