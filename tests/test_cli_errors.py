"""User mistakes get one or two lines saying what to do, never a traceback; ``--debug`` (or
``ENVGYM_DEBUG=1``) shows the traceback.  Every case runs the real ``envgym`` entry point in a
subprocess, as a person at a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOY = "import tests.toy_envs"


def envgym(*args: str, env: dict[str, str] | None = None, prelude: str = "", cwd: Path = REPO,
           timeout: float = 180) -> subprocess.CompletedProcess:
    """``envgym ARGS`` in a subprocess (``prelude``: Python run first, e.g. to hide a module)."""
    code = f"{prelude}\nimport sys\nsys.argv[0] = 'envgym'\nfrom envgym.cli import main\nmain()"
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("ENVGYM_DEBUG", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_short_error(done: subprocess.CompletedProcess, *needles: str, code: int | None = None) -> str:
    """The run failed with at most two lines on stderr containing every needle, and no traceback."""
    err = done.stderr.strip()
    lines = [line for line in err.splitlines() if not line.startswith(("Loading weights", "train "))]
    assert done.returncode != 0, done.stdout + err
    if code is not None:
        assert done.returncode == code, err
    assert "Traceback" not in err and "╭" not in err and "│" not in err, err
    assert 1 <= len(lines) <= 2, err
    message = "\n".join(lines)
    for needle in needles:
        assert needle in message, message
    return message


def test_wrong_task_id():
    assert_short_error(envgym("play", "envgym/Maze-v0", "--task", "no-such-task"),
                       "no task 'no-such-task'", "envs/maze/tasks.jsonl", code=2)


def test_unknown_env_id_suggests_close_ids():
    assert_short_error(envgym("info", "envgym/Mze-v0"), "envgym/Maze-v0", "envgym list", code=2)


def test_missing_and_invalid_task_files(tmp_path):
    missing = tmp_path / "missing.jsonl"
    assert_short_error(envgym("run", "envgym/Maze-v0", "--task-file", str(missing)), str(missing), "no such task file")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"task_id": "a", "env_id": "envgym/Maze-v0", "instruction": "x"}\n{not json\n')
    assert_short_error(envgym("run", "envgym/Maze-v0", "--task-file", str(broken)), f"{broken}:2")


def test_missing_and_invalid_config_files(tmp_path):
    assert_short_error(envgym("train", str(tmp_path / "nope.yaml")), "nope.yaml", "no such file")
    assert_short_error(envgym("train", "configs/maze_tiny.yaml", "no_such_section.x=1"), "no_such_section")


def test_bad_env_kwargs_name_the_flag():
    assert_short_error(envgym("info", "envgym/Maze-v0", "--kw", "width=abc"), '--kw width="abc"', "envgym/Maze-v0", code=2)
    assert_short_error(envgym("info", "envgym/Maze-v0", "--kw", "wdith=3"), "--kw wdith=3", "unexpected keyword", code=2)


def test_unknown_agent():
    assert_short_error(envgym("run", "envgym/Maze-v0", "--agent", "genius"), "unknown agent 'genius'", "oracle", code=2)


def test_unknown_observation_formatter(tmp_path):
    done = envgym("train", "configs/maze_tiny.yaml", "agent.observation=nope", f"run.out_dir={tmp_path / 'run'}")
    assert_short_error(done, "unknown observation formatter 'nope'", "maze_compact")


def test_a_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "weights.txt").write_text("not a model")
    done = envgym("train", "configs/maze_tiny.yaml", f"policy.source={tmp_path}", f"run.out_dir={tmp_path / 'run'}")
    message = assert_short_error(done, str(tmp_path), "config.json")
    assert "model" in message


def test_dead_docker_host_says_how_to_start_an_engine(tmp_path):
    done = envgym("containers", "ls", env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    assert_short_error(done, f"DOCKER_HOST=unix://{tmp_path}/docker.sock", "bash containers/podman-service.sh")


def test_no_container_engine_says_how_to_start_one(tmp_path):
    assert not Path("/var/run/docker.sock").exists(), "this machine has a Docker socket: no engine-less setting"
    env = {"DOCKER_HOST": "", "ENVGYM_PODMAN_DIR": str(tmp_path)}
    assert_short_error(envgym("containers", "ls", env=env), "no container engine found", "bash containers/podman-service.sh")
    # An env that needs the engine records the failure as an infra error and says why.
    done = envgym("run", "envgym/PythonSandbox-v0", "--agent", "oracle", "--episodes", "1", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "infra errors 1" in done.stdout and "bash containers/podman-service.sh" in done.stdout


@pytest.mark.parametrize("chromium, needle", [
    ("/nonexistent/chromium", "Chromium not found at /nonexistent/chromium (from ENVGYM_CHROMIUM)"),
    ("/bin/true", "/bin/true (from ENVGYM_CHROMIUM) is not a working Chromium"),
])
def test_wrong_chromium_names_the_path_and_the_variable(chromium, needle):
    done = envgym("info", "envgym/WebShop-v0", env={"ENVGYM_CHROMIUM": chromium})
    assert_short_error(done, needle, "ENVGYM_CHROMIUM")


def test_a_library_user_with_a_missing_chromium_is_told_the_path(monkeypatch):
    from envgym.browser.launcher import BrowserUnavailable, chromium_path

    monkeypatch.setenv("ENVGYM_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(BrowserUnavailable, match="Chromium not found at /nonexistent/chromium .from ENVGYM_CHROMIUM"):
        chromium_path()


@pytest.mark.parametrize("module, args, extra", [
    ("playwright", ("info", "envgym/WebShop-v0"), "web"),
    ("docker", ("containers", "ls"), "containers"),
    ("fastapi", ("serve", "envgym/Maze-v0"), "remote"),
])
def test_missing_optional_extra_gives_the_pip_command(module, args, extra):
    done = envgym(*args, prelude=f"import sys; sys.modules[{module!r}] = None  # as if not installed")
    assert_short_error(done, f"pip install 'envgym[{extra}]'")


def test_debug_flag_and_variable_show_the_traceback():
    for done in (envgym("--debug", "info", "envgym/Mze-v0"), envgym("info", "envgym/Mze-v0", "--debug"),
                 envgym("info", "envgym/Mze-v0", env={"ENVGYM_DEBUG": "1"})):
        assert done.returncode != 0
        assert "UnknownEnvError" in done.stderr and ("Traceback" in done.stderr or "╭" in done.stderr)


def test_unexpected_errors_are_short_and_point_at_debug():
    prelude = f"{TOY}\nimport envgym.cli\nenvgym.cli.run_agent = lambda *a, **k: 1 / 0"
    message = assert_short_error(envgym("run", "test/Count-v0", prelude=prelude), "ZeroDivisionError")
    assert "--debug" in message


def test_version():
    import envgym as package

    done = envgym("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"envgym {package.__version__}"
