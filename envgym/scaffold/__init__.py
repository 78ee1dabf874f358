"""``envgym new-env NAME``: scaffold an environment plugin package.

:func:`new_env` writes, from the ``*.tmpl`` files beside this module::

    D/pyproject.toml                 the distribution, with the ``envgym.envs`` entry point
    D/README.md
    D/src/envgym_NAME/__init__.py    register() — what the entry point calls
    D/src/envgym_NAME/env.py         the env (a small, complete one to edit)
    D/src/envgym_NAME/make_tasks.py  writes tasks.jsonl with golden actions from the env's solver
    D/src/envgym_NAME/tasks.jsonl    (written by running make_tasks once)
    D/tests/test_env.py              ``envgym check`` passes, plus the env's own behaviour

The package installs (``pip install -e D``) and passes ``envgym check NAME/Name-v0`` unmodified.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class Names:
    """Every name the scaffold derives from NAME (``my-lights`` → ``envgym_my_lights``,
    ``MyLightsEnv``, ``my-lights/MyLights-v0``)."""

    name: str
    slug: str
    package: str
    distribution: str
    cls: str
    env_id: str
    title: str

    @classmethod
    def of(cls, name: str) -> Names:
        if not _NAME.match(name):
            raise ValueError(f"env name {name!r}: use letters and digits, words joined by '-' or '_' (e.g. my-lights)")
        words = [w for w in re.split(r"[-_]|(?<=[a-z0-9])(?=[A-Z])", name) if w]
        slug = "-".join(w.lower() for w in words)
        camel = "".join(w[:1].upper() + w[1:] for w in words)
        return cls(name=name, slug=slug, package="envgym_" + slug.replace("-", "_"), distribution=f"envgym-{slug}",
                   cls=f"{camel}Env", env_id=f"{slug}/{camel}-v0", title=" ".join(w.capitalize() for w in words))


def files_of(names: Names) -> dict[str, str]:
    """Relative output path → template file."""
    src = f"src/{names.package}"
    return {"pyproject.toml": "pyproject.toml.tmpl", "README.md": "README.md.tmpl",
            f"{src}/__init__.py": "package_init.py.tmpl", f"{src}/env.py": "env.py.tmpl",
            f"{src}/make_tasks.py": "make_tasks.py.tmpl", "tests/test_env.py": "test_env.py.tmpl"}


def render(template: str, names: Names) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(vars(names))


def new_env(name: str, directory: str | Path | None = None) -> tuple[Names, Path]:
    """Write the plugin package for ``name`` into ``directory`` (default ``./envgym-NAME``), then its
    task file.  Refuses a directory that exists and is not empty."""
    names = Names.of(name)
    root = Path(directory) if directory is not None else Path(names.distribution)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty; choose another --dir")
    for relative, template in files_of(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, names), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", f"{names.package}.make_tasks"], cwd=root / "src",
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"writing the task file failed:\n{done.stderr[-2000:]}")
    return names, root
