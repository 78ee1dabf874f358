"""``envgym export openenv``: the package passes OpenEnv's own ``openenv validate``, and its Dockerfile
(envgym's recipe) builds on Podman into a container that OpenEnv's client plays and validates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from envgym.interop.peer_venvs import peer_python
from tests.test_openenv import drive


@pytest.fixture(scope="module")
def openenv_bin() -> Path:
    return Path(peer_python("openenv")).parent


@pytest.fixture(scope="module")
def package(tmp_path_factory, openenv_bin) -> Path:
    directory = tmp_path_factory.mktemp("export") / "maze"
    env = {**os.environ, "PATH": f"{openenv_bin}{os.pathsep}{os.environ['PATH']}"}  # uv for `uv lock`
    done = subprocess.run([sys.executable, "-m", "envgym", "export", "openenv", "envgym/Maze-v0", str(directory),
                           "--public", "--kw", "width=5", "--kw", "height=5"], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uv.lock written" in done.stdout
    return directory


def test_package_passes_openenv_validate(package, openenv_bin):
    done = subprocess.run([str(openenv_bin / "openenv"), "validate", str(package), "--json"], capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stdout)
    assert report["passed"], report["issues"]
    pyproject = tomllib.loads((package / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["server"] == "server.app:main"
    assert "openenv-core>=0.2.2" in pyproject["project"]["dependencies"]
    assert "app_port: 8000" in (package / "README.md").read_text()
    assert "envgym-maze-v0" in (package / "uv.lock").read_text()
    dockerfile = (package / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile and "COPY envgym_src/envgym /src/envgym" in dockerfile
    assert (package / "envgym_src" / "envs" / "maze").is_dir() and not (package / "envgym_src" / "trainers").exists()
    with pytest.raises(subprocess.CalledProcessError):  # a second export refuses to overwrite
        subprocess.run([sys.executable, "-m", "envgym", "export", "openenv", "envgym/Maze-v0", str(package), "--no-lock"],
                       check=True, capture_output=True)


def test_package_image_serves_openenv_clients(package, openenv_bin, engine):
    from envgym.containers.images import HOST_CA_BUNDLE, base_image, build_files
    from envgym.containers.runtime import get_runtime

    files = {str(p.relative_to(package)): (p.read_bytes(), p.stat().st_mode & 0o777)
             for p in package.rglob("*") if p.is_file()}
    if Path(HOST_CA_BUNDLE).is_file():  # as the recipes do: this host's CA for pip inside the build
        files["envgym_src/ca-certificates.crt"] = (Path(HOST_CA_BUNDLE).read_bytes(), 0o644)
    tag = build_files("openenv-export-test", files, base=base_image())
    runtime = get_runtime()
    handle = runtime.start_container(tag, role="env-server", env_id="envgym/Maze-v0", publish=8000)
    try:
        runtime.wait_healthy(handle, 120)
        got = drive(str(openenv_bin / "python"), "generic", handle.url,
                    {"reset": {"seed": 2}, "steps": [{"action": {"name": "move", "arguments": {"direction": "south"}}}]})
        validate = subprocess.run([str(openenv_bin / "openenv"), "validate", "--url", handle.url],
                                  capture_output=True, text=True, timeout=120)
    finally:
        runtime.remove(handle)
    import envgym

    local = envgym.make("envgym/Maze-v0", width=5, height=5)
    obs, _ = local.reset(seed=2)
    step_obs, reward, *_ = local.step({"name": "move", "arguments": {"direction": "south"}})
    local.close()
    assert got["reset"]["observation"]["text"] == obs["text"]
    assert got["steps"][0]["observation"]["text"] == step_obs["text"] and got["steps"][0]["reward"] == reward
    assert json.loads(validate.stdout)["passed"]
