"""Plugin envs in containers: real plugin distributions, installed in a real venv (as a wheel, editable,
and with a recipe of their own), run with ``runtime="container"`` on the real engine.  Without an
``image=`` envgym builds an overlay that installs the plugin; ``envgym build <plugin-id>`` builds that
image or refuses with the reason; a prebuilt image that lacks the env says which image and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1800)

ENV_CODE = '''
import os

from envgym import Env, InvalidAction, Task, Transition


class DemoEnv(Env):
    """Say "done"; the observation tells whether the plugin's own recipe ran."""

    default_max_turns = 4

    def sample_task(self):
        return Task(task_id="demo", env_id=self.spec.id if self.spec else "demo", instruction="Say done.")

    def _reset(self, task):
        return {}

    def _step(self, call):
        if call.name != "done":
            raise InvalidAction("say done")
        return Transition(reward=1.0, terminated=True, success=True)

    def _observe(self):
        return {"text": "plugin {name} here; recipe ran: " + str(os.path.exists("/etc/plugin-recipe"))}

    def get_state(self):
        return {}

    def oracle_action(self):
        return "done"
'''
RECIPE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER root
COPY envgym-plugin /tmp/envgym-plugin
RUN sh /tmp/envgym-plugin/install.sh && touch /etc/plugin-recipe
USER envgym
"""


def write_plugin(root: Path, name: str, image_expr: str, with_recipe: bool = False) -> Path:
    """A plugin distribution ``envgym-demo-<name>`` registering ``demo/<Name>-v0``."""
    package = f"envgym_demo_{name}"
    source = root / f"plugin-{name}"
    (source / package).mkdir(parents=True)
    (source / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "envgym-demo-{name}"
        version = "0.1.0"
        dependencies = ["envgym", "pyyaml>=6"]

        [project.entry-points."envgym.envs"]
        demo_{name} = "{package}:register_envs"

        [tool.setuptools]
        packages = ["{package}"]

        [tool.setuptools.package-data]
        {package} = ["container/*"]
    """))
    (source / package / "env.py").write_text(ENV_CODE.replace("{name}", name))
    (source / package / "__init__.py").write_text(textwrap.dedent(f"""
        import os
        from pathlib import Path

        import envgym


        def register_envs():
            envgym.register("demo/{name.title()}-v0", "{package}.env:DemoEnv", image={image_expr})
    """))
    if with_recipe:
        (source / package / "container").mkdir()
        (source / package / "container" / "Dockerfile").write_text(RECIPE)
    return source


@pytest.fixture(scope="module")
def venv(tmp_path_factory, engine):
    """A venv over this interpreter's packages with four plugins: a wheel install, an editable
    install, one with its own recipe, and one pointing at a prebuilt image that lacks it."""
    from envgym.containers.images import build_image

    root = tmp_path_factory.mktemp("plugins")
    # No pip or setuptools of its own: the system ones (newer, with wheel) install into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root / "venv")], check=True)
    python = str(root / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    wheel = write_plugin(root, "wheel", '"base"')
    subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                    str(wheel)], check=True)
    subprocess.run([*pip, *(str(p) for p in (root / "dist").glob("*.whl"))], check=True)
    subprocess.run([*pip, "-e", str(write_plugin(root, "editable", '"base"'))], check=True)
    subprocess.run([*pip, str(write_plugin(root, "recipe", 'str(Path(__file__).parent / "container")', with_recipe=True))],
                   check=True)
    subprocess.run([*pip, str(write_plugin(root, "prebuilt", 'os.environ["DEMO_PREBUILT_IMAGE"]'))], check=True)
    prebuilt = "envgym-test/prebuilt-without-plugin:1"  # envgym's base image under a tag of its own
    engine.images.get(build_image("base")).tag(*prebuilt.split(":"))
    yield root / "venv" / "bin", {**os.environ, "DEMO_PREBUILT_IMAGE": prebuilt, "COLUMNS": "200"}
    engine.images.remove(prebuilt)


def run_in_venv(venv, code: str) -> subprocess.CompletedProcess:
    bin_dir, env = venv
    return subprocess.run([str(bin_dir / "python"), "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd="/", timeout=1200)


@pytest.mark.parametrize("name, recipe_ran", [("wheel", False), ("editable", False), ("recipe", True)])
def test_plugin_env_runs_in_its_container(venv, name, recipe_ran):
    done = run_in_venv(venv, f"""
        import envgym
        from gymnasium.utils.env_checker import check_env
        env = envgym.make("demo/{name.title()}-v0", runtime="container")
        obs, info = env.reset(seed=0)
        print("OBS", obs["text"])
        print("STEP", env.step("done")[1:3])
        print("IMAGE", env.handle.image)
        check_env(env)
        env.close()
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"OBS plugin {name} here; recipe ran: {recipe_ran}" in done.stdout
    assert "STEP (1.0, True)" in done.stdout
    suffix = "-container" if name == "recipe" else ""
    assert f"IMAGE envgym/plugin-envgym-demo-{name}{suffix}:" in done.stdout


def test_envgym_build_builds_the_plugin_image(venv):
    bin_dir, env = venv
    done = subprocess.run([str(bin_dir / "python"), "-m", "envgym", "build", "demo/Wheel-v0"], capture_output=True,
                          text=True, env=env, cwd="/", timeout=1200)
    assert done.returncode == 0, done.stderr
    assert "image: envgym/plugin-envgym-demo-wheel:" in done.stdout


def test_a_prebuilt_image_without_the_env_says_which_image_and_what_to_do(venv):
    done = run_in_venv(venv, """
        import envgym
        envgym.make("demo/Prebuilt-v0", runtime="container")
    """)
    assert done.returncode != 0
    assert f"the container from image {venv[1]['DEMO_PREBUILT_IMAGE']} does not have demo/Prebuilt-v0" in done.stderr
    assert "leave image= unset" in done.stderr


def test_build_refuses_an_env_no_distribution_provides(venv):
    bin_dir, env = venv
    code = ("import sys; sys.argv[0] = 'envgym'; import tests.toy_envs; from envgym.cli import main; main()")
    done = subprocess.run([str(bin_dir / "python"), "-c", code, "build", "test/Count-v0"], capture_output=True,
                          text=True, env=env, cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert done.returncode == 2
    assert "comes from module 'tests', which no installed distribution provides" in done.stderr
    assert "Traceback" not in done.stderr
