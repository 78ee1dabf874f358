"""The package's layers point one way, read from the source with ``ast`` (no module is imported).

Layers, bottom to top (a module may import its own layer and the ones below):

* ``core`` — ``envgym/`` (contract, registry, tasks, trajectories, remote, containers, browser,
  synthesis pipeline, checks);
* ``envs`` — ``envs/`` installed as ``envgym.envs``;
* ``agents`` — ``agents/`` installed as ``envgym.agents`` (may use envs, never trainers);
* ``trainers`` — ``trainers/`` installed as ``envgym.trainers``;
* ``cli`` — ``envgym/cli.py``, ``envgym/__main__.py``, the ``play`` command's modules and the
  ``*cli_ops`` modules beside the features they drive: they sit on top and may import everything, and
  only other CLI modules import them.

Every import counts, module-level or inside a function (a lazy import is still a dependency), and
so does a ``"envgym.envs.x"``-style module string in core code (an import in disguise), except the
registry strings of :mod:`envgym.builtin_envs`, which is how built-in envs are found, exactly as
third-party plugins are.  No cycles among modules either (a package importing its own submodules
is not a cycle; a submodule importing a name from its package's ``__init__`` that imports it back
is).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"envgym": "envgym", "envs": "envgym.envs", "agents": "envgym.agents", "trainers": "envgym.trainers"}
RANK = {"core": 0, "envs": 1, "agents": 2, "trainers": 3, "cli": 4}
#: The CLI layer: these modules and every ``*cli_ops`` module (the command-line side of a feature).
CLI_MODULES = {"envgym.cli", "envgym.__main__", "envgym.play", "envgym.play_web"}
REGISTRY_STRINGS_ALLOWED = {"envgym.builtin_envs"}
UPPER_LAYER_STRING = re.compile(r"^envgym\.(envs|agents|trainers)[.:]\w")


def discover() -> dict[str, Path]:
    """Module name -> file, for every module of the installed package."""
    modules: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = discover()


def layer(module: str) -> str:
    if module in CLI_MODULES or module.rsplit(".", 1)[-1].endswith("cli_ops"):
        return "cli"
    for name in ("envs", "agents", "trainers"):
        if module == f"envgym.{name}" or module.startswith(f"envgym.{name}."):
            return name
    return "core"


def known(name: str) -> str | None:
    """The module of ours that importing ``name`` executes last (longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@functools.lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imports_of(module: str) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import statement of ``module`` that names one of ours."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            found += [(name, node.lineno) for name in submodules]
            if len(submodules) < len(node.names):  # some names come from the module itself
                found.append((base, node.lineno))
    return [(target, line) for name, line in found if (target := known(name)) is not None]


def upper_layer_strings(module: str) -> list[tuple[str, int]]:
    """Module-path strings of upper layers in ``module`` (docstrings aside)."""
    tree = parsed(MODULES[module])
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.value, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and UPPER_LAYER_STRING.match(node.value)]


def shown(module: str) -> str:
    path = MODULES[module]
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def graph() -> dict[str, set[str]]:
    return {module: {target for target, _ in imports_of(module) if target != module} for module in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_violations() -> list[str]:
    problems = []
    for module in sorted(MODULES):
        mine = layer(module)
        for target, line in imports_of(module):
            theirs = layer(target)
            where = f"{shown(module)}:{line}: {module} ({mine}) imports {target} ({theirs})"
            if theirs == "cli" and mine != "cli":
                problems.append(where + " — only the CLI may import CLI modules")
            elif RANK[theirs] > RANK[mine] and theirs != "cli":
                problems.append(where + " — an upper layer")
        if mine == "core" and module not in REGISTRY_STRINGS_ALLOWED:
            problems += [f"{shown(module)}:{line}: {module} names {text!r} — core code must not "
                         "reach upper layers by module strings either (register them, or use an EnvSpec field)"
                         for text, line in upper_layer_strings(module)]
    return problems


def test_the_package_is_found():
    assert {"envgym.registration", "envgym.envs.maze.env", "envgym.agents.loop", "envgym.trainers.trainer",
            "envgym.cli"} <= set(MODULES)
    assert layer("envgym.synth.cli_ops") == layer("envgym.cli") == "cli"
    assert layer("envgym.envs.web.taskboard.synthesis") == "envs"


def test_layers_point_down_only():
    problems = layer_violations()
    assert not problems, "layer rule broken:\n" + "\n".join(problems)


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("source, broken", [
    ("from envgym.agents.oracle import OracleAgent", "an upper layer"),
    ("def f():\n    import envgym.trainers.train\n", "an upper layer"),
    ("from envgym.synth import cli_ops", "only the CLI"),
    ("X = 'envgym.envs.maze:MazeEnv'", "module strings"),
])
def test_the_rules_catch_a_break(tmp_path, monkeypatch, source, broken):
    """The checker itself: a core module that imports upward (module level or lazily), imports a CLI
    module or names an env module by string is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text(source + "\n")
    monkeypatch.setitem(MODULES, "envgym.probe", probe)
    assert any(broken in problem for problem in layer_violations() if "envgym.probe" in problem)


def test_cycles_are_caught():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
