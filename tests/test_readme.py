"""The docs are executable: every ``bash``/``sh``/``shell`` and ``python``/``py`` block of README.md and
docs/*.md runs as pasted, in order, from a scratch directory that looks like the repository root.

A block may be preceded by directives, each in an HTML comment on the lines just above its fence
(several may share one comment, separated by ``;``; a ``skip`` comes last, its reason is the rest):

* ``<!-- snippet: skip: REASON -->`` — not run; the reason is required (a placeholder, a command that
  waits for a person, one that installs into your environment, …).  Keep these few.
* ``<!-- snippet: wait-for URL -->`` — poll URL (a server an earlier block started with ``&``) until it
  answers, then run.
* ``<!-- snippet: continue -->`` — a Python block that continues the previous Python block (both run
  in one interpreter, as when pasted into one session).
* ``<!-- snippet: timeout SECONDS -->`` — the block's time limit (default :data:`DEFAULT_TIMEOUT_S`).
* ``<!-- snippet: file PATH -->`` — a file of a package, not a script: written to PATH under the scratch
  directory (outside the repository's own folders) and, for Python, compiled; the commands around it
  use it.

Shell blocks run with ``bash -e -o pipefail``; processes they leave in the background (``cmd &``) are
stopped after the document.  Python blocks run in a fresh interpreter (top-level ``await`` allowed, as
in a notebook) and must exit by themselves: envs left open must not keep it alive.  After each
document no envgym container whose owner has exited may be left behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DEFAULT_TIMEOUT_S = 600
LANGUAGES = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python", "python3": "python"}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
# Runs a Python block: compiled with top-level await allowed; a coroutine result is run to completion.
PYTHON_RUNNER = """
import ast, asyncio, inspect, sys
path = sys.argv[1]
sys.argv = [path]
code = compile(open(path).read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__", "__file__": path})
if inspect.iscoroutine(result):
    asyncio.run(result)
"""


@dataclass
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str  # "shell" or "python"
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


_ITEM = re.compile(r"^(skip|wait-for|continue|timeout|file)(?![\w-])[\s:—-]*(.*)$")


def parse_directives(comments: list[str], where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for comment in comments:
        head, skip, reason = comment.partition("skip")  # a skip's reason is the rest of the comment
        items = [part.strip() for part in head.split(";")] + ([f"skip{reason}"] if skip else [])
        for item in filter(None, items):
            match = _ITEM.match(item)
            if match is None:
                raise ValueError(f"{where}: unknown snippet directive {item!r}")
            name, value = match.group(1), match.group(2).strip()
            if name == "skip" and not value:
                raise ValueError(f"{where}: 'skip' needs a reason: <!-- snippet: skip: why -->")
            found[name] = value
    return found


def extract(path: Path) -> list[Snippet]:
    """The runnable blocks of a Markdown file, with their directives."""
    lines = path.read_text().splitlines()
    snippets: list[Snippet] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, language = opening.group(1), opening.group(2).lower()
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith(fence)), len(lines))
        comments = []
        above = index - 1
        while above >= 0 and (match := _DIRECTIVE.match(lines[above])):
            comments.insert(0, match.group(1))
            above -= 1
        if language in LANGUAGES:
            where = f"{path.relative_to(REPO)}:{index + 1}"
            snippets.append(Snippet(path, index + 1, LANGUAGES[language], "\n".join(lines[index + 1:end]) + "\n",
                                    parse_directives(comments, where)))
        index = end + 1
    return snippets


def scratch_root(tmp_path: Path) -> Path:
    """A directory that looks like the repository root (a link per top-level entry) but has its own
    ``runs/`` and takes whatever the snippets write."""
    root = tmp_path / "clone"
    root.mkdir()
    for entry in REPO.iterdir():
        if not entry.name.startswith(".") and entry.name not in ("runs",) and not entry.name.endswith(".egg-info"):
            (root / entry.name).symlink_to(entry)
    return root


def wait_for(url: str, timeout_s: float = 120.0) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with opener.open(url, timeout=5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout_s:g} s: {exc}") from None
            time.sleep(0.2)


class DocumentRun:
    """Runs one document's snippets in order, tracking what they leave in the background."""

    def __init__(self, root: Path, logs: Path):
        self.root, self.logs = root, logs
        self.groups: list[int] = []
        self.python_so_far = ""
        self.env = {**os.environ, "COLUMNS": "120", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}

    def run(self, snippet: Snippet, number: int) -> None:
        if "file" in snippet.directives:
            self.write_file(snippet)
            return
        if "wait-for" in snippet.directives:
            wait_for(snippet.directives["wait-for"])
        code = snippet.code
        if snippet.language == "python":
            code = (self.python_so_far if "continue" in snippet.directives else "") + code
            self.python_so_far = code
            source = self.logs / f"snippet{number}.py"
            source.write_text(code)
            command = [sys.executable, "-c", PYTHON_RUNNER, str(source)]
        else:
            command = ["bash", "-e", "-o", "pipefail", "-c", code]
        output = self.logs / f"snippet{number}.log"
        timeout = float(snippet.directives.get("timeout") or DEFAULT_TIMEOUT_S)
        with open(output, "wb") as sink:  # a file, not a pipe: background children keep it open
            proc = subprocess.Popen(command, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self.groups.append(proc.pid)
            started = time.monotonic()
            try:
                code_ = proc.wait(timeout=timeout)
                print(f"{snippet.where}: {time.monotonic() - started:.1f} s")
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError(f"{snippet.where} did not finish within {timeout:g} s (a hang?)\n"
                                     f"{output.read_text(errors='replace')[-3000:]}") from None
        if code_ != 0:
            raise AssertionError(f"{snippet.where} failed (exit {code_}):\n{snippet.code}\n--- output ---\n"
                                 f"{output.read_text(errors='replace')[-4000:]}")

    def write_file(self, snippet: Snippet) -> None:
        path = (self.root / snippet.directives["file"]).resolve()
        assert not path.is_relative_to(REPO), f"{snippet.where}: a file block may not write into the repository ({path})"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(snippet.code, encoding="utf-8")
        if snippet.language == "python":
            compile(snippet.code, str(path), "exec")

    def stop_background(self) -> None:
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(1.0)
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def orphaned_containers() -> set[str]:
    from envgym.containers.runtime import list_containers

    return {row["name"] for row in list_containers() if not row["owner_alive"]}


def test_directives_are_understood_and_skips_are_few():
    snippets = [s for path in DOCUMENTS for s in extract(path)]
    assert len(snippets) >= 8
    scripts = [s for s in snippets if "file" not in s.directives]  # commands and programs, not package files
    skipped = [s for s in scripts if "skip" in s.directives]
    assert len(skipped) <= len(scripts) // 2, [s.where for s in skipped]
    with pytest.raises(ValueError, match="needs a reason"):
        parse_directives(["skip"], "x.md:1")
    with pytest.raises(ValueError, match="unknown snippet directive"):
        parse_directives(["sikp: typo"], "x.md:1")


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_document_runs_as_pasted(document, tmp_path, engine):
    snippets = [s for s in extract(document) if "skip" not in s.directives]
    root, logs = scratch_root(tmp_path), tmp_path / "logs"
    logs.mkdir()
    before = orphaned_containers()
    run = DocumentRun(root, logs)
    try:
        for number, snippet in enumerate(snippets):
            run.run(snippet, number)
    finally:
        run.stop_background()
    leaked = orphaned_containers() - before
    assert not leaked, f"{document.name} left containers behind: {sorted(leaked)}"


def test_python_from_the_folder_holding_a_clone_named_envgym(tmp_path):
    """``cd ..`` after cloning into ``envgym/``: ``import envgym`` is still the installed package, not
    the clone's folder taken for an empty namespace package."""
    (tmp_path / "envgym").symlink_to(REPO)
    done = subprocess.run([sys.executable, "-c", "import envgym; print(envgym.make('envgym/Maze-v0').reset(seed=0)[1])"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "task_id" in done.stdout
