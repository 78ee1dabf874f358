import subprocess
import sys
import textwrap

import pytest

import envgym
from envgym import UnknownEnvError


def test_builtin_ids_are_listed():
    ids = {s.id for s in envgym.list_envs()}
    assert {"envgym/Maze-v0", "envgym/Household-v0", "envgym/SQL-v0"} <= ids


@pytest.mark.parametrize("wrong, suggestion", [("envgym/Maze-v1", "envgym/Maze-v0"), ("maze", "envgym/Maze-v0"),
                                               ("envgym/SQl-v0", "envgym/SQL-v0")])
def test_unknown_ids_suggest_close_ones(wrong, suggestion):
    with pytest.raises(UnknownEnvError) as info:
        envgym.make(wrong)
    assert suggestion in str(info.value) and "envgym list" in str(info.value)


def test_register_conflicts_and_override():
    envgym.register("test/Conflict-v0", "tests.toy_envs:CountEnv")
    envgym.register("test/Conflict-v0", "tests.toy_envs:CountEnv")  # same target: idempotent
    with pytest.raises(ValueError, match="already registered"):
        envgym.register("test/Conflict-v0", "tests.other:Env")
    envgym.register("test/Conflict-v0", "tests.other:Env", override=True)
    assert envgym.spec("test/Conflict-v0").entry_point == "tests.other:Env"


def test_malformed_id():
    with pytest.raises(ValueError, match="malformed"):
        envgym.register("bad id with spaces", "x:y")


def test_spec_kwargs_merge():
    envgym.register("test/CountKw-v0", "tests.toy_envs:CountEnv", kwargs={"max_turns": 2})
    assert envgym.make("test/CountKw-v0").max_turns == 2
    assert envgym.make("test/CountKw-v0", max_turns=5).max_turns == 5


def test_unknown_runtime():
    with pytest.raises(ValueError, match="runtime"):
        envgym.make("test/Count-v0", runtime="cloud")


def test_import_is_light():
    code = "import sys, envgym; print(sorted(m for m in ('torch','playwright','docker','vllm','transformers','envgym.envs.maze') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_entry_point_plugins_load_in_subprocesses(tmp_path):
    """A third-party package registered through the envgym.envs entry-point group, seen by a fresh
    interpreter with no import of the plugin in user code."""
    pkg = tmp_path / "site"
    (pkg / "thirdparty_envs").mkdir(parents=True)
    (pkg / "thirdparty_envs" / "__init__.py").write_text(textwrap.dedent(
        """
        import envgym
        def register_all():
            envgym.register("thirdparty/Count-v0", "tests.toy_envs:CountEnv", description="from a plugin")
        """
    ))
    dist = pkg / "thirdparty_envs-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-envs\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[envgym.envs]\nthirdparty = thirdparty_envs:register_all\n")
    code = textwrap.dedent(
        """
        import multiprocessing as mp
        import envgym

        def child(q):
            env = envgym.make("thirdparty/Count-v0")
            obs, info = env.reset(seed=0)
            q.put((envgym.spec("thirdparty/Count-v0").description, obs["text"][:5]))

        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,))
            p.start(); p.join(60)
            print(q.get(timeout=5))
        """
    )
    script = tmp_path / "main.py"
    script.write_text(code)
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pkg), os.getcwd()])}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "('from a plugin', 'count')" in result.stdout


def test_broken_plugin_does_not_break_others(tmp_path):
    pkg = tmp_path / "site"
    dist = pkg / "broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[envgym.envs]\nbroken = no_such_module:register\n")
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pkg), os.getcwd()])}
    code = "import envgym; print(len(envgym.list_envs()) >= 3)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "True"
    assert "broken" in result.stderr and "failed to load" in result.stderr
