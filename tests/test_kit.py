"""The kit for env authors: ``envgym new-env`` scaffolds a plugin package that installs into a fresh
venv and passes ``envgym check`` and its own tests unmodified; docs/writing-an-env.md is that same
package, file by file, and works when written to disk."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import envgym
from envgym.checking import check
from envgym.cli import app
from envgym.scaffold import Names, files_of, render
from tests.support.venvs import REPO, make_venv, pip

DOC = REPO / "docs" / "writing-an-env.md"
#: the guide's code blocks, in order, are these files of `envgym new-env lights`
DOC_FILES = ["src/envgym_lights/env.py", "src/envgym_lights/make_tasks.py", "tests/test_env.py",
             "src/envgym_lights/__init__.py", "pyproject.toml"]


def run(python, *args, cwd, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_a_scaffolded_plugin_installs_and_passes_check_unmodified(tmp_path):
    package = tmp_path / "envgym-lights"
    scaffolded = run(sys.executable, "-m", "envgym", "new-env", "lights", "--dir", str(package), cwd=tmp_path)
    assert scaffolded.returncode == 0, scaffolded.stderr
    assert "lights/Lights-v0" in scaffolded.stdout
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts) == \
        sorted([*files_of(Names.of("lights")), "src/envgym_lights/tasks.jsonl"])

    linted = run(sys.executable, "-m", "ruff", "check", "--isolated", ".", cwd=package)  # ruff's default rules
    assert linted.returncode == 0, linted.stdout

    python = make_venv(tmp_path / "venv")
    pip(python, "install", "-q", "--no-deps", "--no-build-isolation", str(package))
    listed = run(python, "-m", "envgym", "list", cwd=tmp_path)
    assert "lights/Lights-v0" in listed.stdout, listed.stderr  # found through the entry point alone

    for runtime in ("local", "remote"):
        checked = run(python, "-m", "envgym", "check", "lights/Lights-v0", "--runtime", runtime, cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "OK: 8 passed, 0 failed" in checked.stdout and "solved 8 tasks" in checked.stdout

    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"), cwd=package)
    assert tested.returncode == 0 and "3 passed" in tested.stdout, tested.stdout + tested.stderr

    played = run(python, "-m", "envgym", "run", "lights/Lights-v0", "--agent", "oracle", "--episodes", "3",
                 "--out", str(tmp_path / "runs.jsonl"), cwd=tmp_path)
    assert played.returncode == 0 and "success 100.0%" in played.stdout, played.stdout + played.stderr


def test_new_env_refuses_bad_names_and_full_directories(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["new-env", "two words", "--dir", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "letters and digits" in bad.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    full = runner.invoke(app, ["new-env", "lights", "--dir", str(tmp_path / "full")])
    assert full.exit_code != 0 and "not empty" in full.output
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("name, package, cls, env_id", [
    ("lights", "envgym_lights", "LightsEnv", "lights/Lights-v0"),
    ("my-lights", "envgym_my_lights", "MyLightsEnv", "my-lights/MyLights-v0"),
    ("MyLights", "envgym_my_lights", "MyLightsEnv", "my-lights/MyLights-v0"),
])
def test_names_derive_from_the_env_name(name, package, cls, env_id):
    names = Names.of(name)
    assert (names.package, names.cls, names.env_id) == (package, cls, env_id)


def test_the_guide_is_the_scaffold_and_its_example_passes_check(tmp_path, monkeypatch):
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == len(DOC_FILES)
    named = re.findall(r"<!-- snippet: file envgym-lights/(\S+) -->", DOC.read_text(encoding="utf-8"))
    assert named == [f for f in DOC_FILES if f.endswith(".py")]  # the docs test writes them where this one does
    names = Names.of("lights")
    templates = files_of(names)
    for relative, block in zip(DOC_FILES, blocks):
        assert block == render(templates[relative], names), f"the guide's {relative} differs from `envgym new-env lights`"
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block, encoding="utf-8")

    written = run(sys.executable, "-m", "envgym_lights.make_tasks", cwd=tmp_path / "src")
    assert written.returncode == 0 and "wrote 8 tasks" in written.stdout, written.stderr
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    from envgym_lights import register

    register()
    report = check("lights/Lights-v0")
    assert report.ok, report.render()
    env = envgym.make("lights/Lights-v0")
    obs, info = env.reset(options={"task": "lights-0"})
    assert obs["text"].startswith("lights:") and info["task_id"] == "lights-0"
    env.close()


def test_docs_cite_only_what_the_repository_holds():
    """Relative links in the README and docs/ lead to files that exist, and nothing cites the design
    document that lives outside the repository."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    texts = [REPO / path for path in tracked if path.endswith((".py", ".md", ".toml", ".sh", ".yaml", ".txt"))]
    citing = [str(path.relative_to(REPO)) for path in texts if path.is_file()
              and re.search(r"DESIGN(\.md| §)", path.read_text(encoding="utf-8", errors="replace"))
              and path.name != "test_kit.py"]
    assert citing == []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
