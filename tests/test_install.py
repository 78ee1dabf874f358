"""envgym installs as one import package, ``envgym``, and lives beside ``openai-agents`` (whose
top-level package is ``agents``) in one environment: a real wheel of this checkout and the real
openai-agents from the package index, installed into a fresh venv."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.support.venvs import REPO, build_wheel, make_venv, pip, run_python

PROBE = """
import json, agents, envgym
from envgym.agents.oracle import OracleAgent
from envgym.agents.loop import run_episode
env = envgym.make("envgym/Maze-v0", width=4, height=4)
episode = run_episode(env, OracleAgent(env), seed=0)
print(json.dumps({"agents": agents.__file__, "openai_agent": agents.Agent.__module__, "envgym": envgym.__file__,
                  "oracle": OracleAgent.__module__, "success": episode.success}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {name.split("/")[0] for name in names}
        top_level = archive.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert top == {"envgym", wheel.name.split("-py3")[0] + ".dist-info"}
    assert top_level == ["envgym"]
    for module in ("envgym/envs/maze/env.py", "envgym/agents/oracle.py", "envgym/trainers/trainer.py",
                   "envgym/envs/maze/tasks.jsonl", "envgym/envs/household/prompts/proposer.v1.md",
                   "envgym/scaffold/env.py.tmpl"):
        assert module in names, module


def test_envgym_and_openai_agents_share_an_environment(wheel, tmp_path):
    python = make_venv(tmp_path / "venv")
    site = tmp_path / "venv" / "lib"
    pip(python, "install", "-q", "--no-deps", str(wheel))
    pip(python, "install", "-q", "openai-agents")  # the real SDK and what it needs, from the index

    seen = json.loads(run_python(python, PROBE, cwd=tmp_path).splitlines()[-1])
    assert seen["agents"].startswith(str(site)) and seen["openai_agent"].startswith("agents.")  # openai-agents' `agents`
    assert seen["envgym"].startswith(str(site)) and seen["oracle"] == "envgym.agents.oracle"
    assert seen["success"] is True

    pip(python, "uninstall", "-y", "-q", "openai-agents")  # removes its files only
    gone = run_python(python, "import importlib.util, envgym.agents.oracle; print(importlib.util.find_spec('agents'))",
                      cwd=tmp_path)
    assert gone.strip() == "None"
    pip(python, "install", "-q", "--no-deps", "openai-agents")
    pip(python, "uninstall", "-y", "-q", "envgym")
    assert run_python(python, "import agents; print(agents.Agent.__name__)", cwd=tmp_path).strip() == "Agent"
    assert not list(site.rglob("envgym/__init__.py")) and list(site.rglob("agents/__init__.py"))
