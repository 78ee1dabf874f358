"""Reward code safety: a static AST scan and a sandboxed subprocess to run it in.

**Static scan** (:func:`scan_reward_code`) — the code must parse, define ``reward(initial, final,
trajectory=None)``, and stay inside an allowlist:

* imports only of :data:`ALLOWED_MODULES` (``math``, ``re``, ...), no relative imports;
* no call or mention of :data:`FORBIDDEN_NAMES` (``open``, ``exec``, ``eval``, ``compile``,
  ``__import__``, ``globals``, ``input``, ...), ``getattr``/``hasattr`` only with a constant name that
  is not private;
* no attribute or name starting with ``__`` (``().__class__.__subclasses__()`` style escapes);
* no ``async``, ``await``, ``global``/``nonlocal`` statements;
* not constant: ``reward`` must read its inputs, and some ``return`` must depend on them (directly, or
  through a condition that reads them) — see :func:`constant_return`.

**Sandbox** (:func:`run_reward`) — one ``python -s -S`` subprocess (clean environment) per batch of calls (see
``_sandbox_runner.py``): memory cap (``RLIMIT_AS``), CPU cap, no file writes, no new file
descriptors (no files, no sockets), no child processes, restricted builtins, a per-call wall-clock
limit, and a hard timeout on the whole process from the parent.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALLOWED_MODULES = ("math", "re", "json", "itertools", "functools", "collections", "statistics", "string")
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "dir", "input",
    "breakpoint", "exit", "quit", "help", "memoryview", "setattr", "delattr", "object", "type",
    "super", "classmethod", "staticmethod", "property", "print", "id", "hash", "__builtins__",
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib", "builtins",
})
ATTR_FUNCTIONS = frozenset({"getattr", "hasattr"})
RUNNER = Path(__file__).with_name("_sandbox_runner.py")
# No -I/-E: the child gets a clean environment from us (so PYTHONHASHSEED, which -E would ignore,
# is ours to set); -s -S: no site or user site-packages; -P (3.11+): no script dir on sys.path.
_COMMAND = [sys.executable, "-s", "-S"] + (["-P"] if sys.version_info >= (3, 11) else [])


@dataclass
class Finding:
    """One static-scan problem; ``code`` is a rejection reason code."""

    code: str
    message: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "line": self.line}


def scan_reward_code(code: str, allowed_modules: tuple[str, ...] = ALLOWED_MODULES) -> list[Finding]:
    """Static problems of reward ``code`` (empty list: it passed).  Codes: ``reward_syntax``,
    ``reward_forbidden_import``, ``reward_forbidden_name``, ``reward_dunder``,
    ``reward_no_function``, ``reward_constant``."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [Finding("reward_syntax", f"SyntaxError: {exc.msg}", exc.lineno)]
    findings: list[Finding] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.level:
                findings.append(Finding("reward_forbidden_import", "relative imports are not allowed", line))
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] not in allowed_modules or "." in name:
                    findings.append(Finding(
                        "reward_forbidden_import",
                        f"import of {name!r} is not allowed (allowed: {', '.join(allowed_modules)})", line,
                    ))
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                findings.append(Finding("reward_forbidden_name", f"{node.id!r} is not allowed in reward code", line))
            elif node.id.startswith("__"):
                findings.append(Finding("reward_dunder", f"name {node.id!r} is not allowed", line))
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") or node.attr in ("f_globals", "f_locals", "gi_frame", "f_back", "tb_frame"):
                findings.append(Finding("reward_dunder", f"attribute {node.attr!r} is not allowed", line))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTR_FUNCTIONS:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("_")):
                findings.append(Finding("reward_dunder", f"{node.func.id}() needs a constant, non-private name", line))
        elif isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
            findings.append(Finding("reward_forbidden_name", "async code is not allowed", line))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            findings.append(Finding("reward_forbidden_name", "global/nonlocal statements are not allowed", line))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value and _dunder_word(node.value):
            findings.append(Finding("reward_dunder", f"string {node.value[:40]!r} names a dunder", line))
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "reward"]
    if not functions:
        findings.append(Finding("reward_no_function", "define a top-level function reward(initial, final, trajectory=None)"))
    else:
        function = functions[-1]
        params = [a.arg for a in function.args.posonlyargs + function.args.args]
        if len(params) < 2 and function.args.vararg is None:
            findings.append(Finding("reward_no_function", "reward() must take (initial, final, trajectory=None)", function.lineno))
        else:
            why = constant_return(function, _helper_functions(tree))
            if why:
                findings.append(Finding("reward_constant", why, function.lineno))
    return findings


def constant_return(function: ast.FunctionDef, helpers: dict[str, ast.FunctionDef] | None = None) -> str | None:
    """Why ``function``'s result cannot depend on its inputs, or ``None`` if it may.

    Taint analysis: the parameters are tainted; a name assigned from an expression that reads a
    tainted name (or the loop variable of a tainted iterable) is tainted, to a fixed point.  The
    function is constant when it never reads a parameter, or when every ``return`` value is
    untainted and no branch condition (``if``/``while``/``assert``/``try``/conditional expression/
    boolean operator/comprehension filter) reads a tainted name.
    """
    params = {a.arg for a in function.args.posonlyargs + function.args.args + function.args.kwonlyargs}
    if function.args.vararg:
        params.add(function.args.vararg.arg)
    if function.args.kwarg:
        params.add(function.args.kwarg.arg)
    body = ast.Module(body=function.body, type_ignores=[])
    read = {n.id for n in ast.walk(body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if not (read & params):
        return "reward() never reads its inputs"
    tainted = set(params)
    changed = True
    while changed:
        changed = False
        for node in ast.walk(body):
            targets: list[ast.AST] = []
            value: ast.AST | None = None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, (ast.For, ast.comprehension)):
                targets, value = [node.target], node.iter
            elif isinstance(node, ast.NamedExpr):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets, value = [node.optional_vars], node.context_expr
            if value is None or not _reads(value, tainted):
                continue
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id not in tainted:
                        tainted.add(name.id)
                        changed = True
            # a method call on a tainted container may fill an untainted one: x.append(final[...])
        for node in ast.walk(body):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if node.func.value.id not in tainted and any(_reads(a, tainted) for a in node.args):
                    tainted.add(node.func.value.id)
                    changed = True
    returns = [n for n in ast.walk(body) if isinstance(n, ast.Return)]
    if any(r.value is not None and _reads(r.value, tainted) for r in returns):
        return None
    for node in ast.walk(body):
        test = None
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            test = node.test
        elif isinstance(node, ast.BoolOp):
            test = node
        elif isinstance(node, ast.comprehension) and node.ifs:
            test = ast.BoolOp(op=ast.And(), values=node.ifs)
        elif isinstance(node, ast.Try) and any(_reads(s, tainted) for s in node.body):
            return None  # a tainted expression may raise and pick the handler's return
        elif isinstance(node, ast.Raise):
            return None
        if test is not None and _reads(test, tainted):
            return None
    if not returns or all(r.value is None or isinstance(r.value, ast.Constant) for r in returns):
        return "every return of reward() is a constant that no condition on the inputs selects"
    return "no return value of reward() depends on its inputs"


def _reads(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _helper_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _dunder_word(text: str) -> bool:
    import re

    return re.search(r"__\w+__", text) is not None


# ---------------------------------------------------------------------- sandbox
@dataclass
class CallResult:
    score: float | None = None
    components: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    kind: str | None = None  # error / timeout / memory / bad_output / crashed

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        if self.ok:
            return {"score": self.score, "components": self.components}
        return {"error": self.error, "kind": self.kind}


@dataclass
class SandboxRun:
    results: list[CallResult]
    fatal: str | None = None
    fatal_kind: str | None = None
    seconds: float = 0.0


def run_reward(
    code: str,
    states: list[Any],
    calls: list[tuple[int, int]],
    *,
    time_limit_s: float = 2.0,
    memory_mb: int = 512,
    allowed_modules: tuple[str, ...] = ALLOWED_MODULES,
    hash_seed: int = 0,
) -> SandboxRun:
    """Run ``reward(states[i], states[j])`` for each ``(i, j)`` in ``calls`` in one sandboxed
    subprocess.  Calls missing from the output (the run stopped at a timeout or memory error, or the
    process died) are reported as errors of the kind that stopped it."""
    import time

    job = json.dumps({
        "code": code, "states": states, "calls": [list(c) for c in calls], "time_limit_s": time_limit_s,
        "memory_mb": memory_mb, "allowed_modules": imported_modules(code, allowed_modules),
    })
    env = {"PYTHONHASHSEED": str(hash_seed), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    budget = time_limit_s * (len(calls) + 1) + 5.0
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            _COMMAND + [str(RUNNER)], input=job.encode("utf-8"), capture_output=True,
            timeout=budget, env=env, cwd="/", close_fds=True,
        )
    except subprocess.TimeoutExpired:
        return SandboxRun(_fill([], len(calls), "the sandbox ran past its time budget", "timeout"), "timeout", "timeout",
                          time.perf_counter() - start)
    seconds = time.perf_counter() - start
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    data = None
    if lines:
        try:
            data = json.loads(lines[-1])
        except ValueError:
            data = None
    if not isinstance(data, dict):
        kind = "timeout" if proc.returncode in (-24, -9) else "memory" if b"MemoryError" in proc.stderr else "crashed"
        message = f"the sandbox exited with status {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-300:]}"
        return SandboxRun(_fill([], len(calls), message, kind), message, kind, seconds)
    if "fatal" in data:
        return SandboxRun(_fill([], len(calls), data["fatal"], data.get("kind", "error")), data["fatal"],
                          data.get("kind", "error"), seconds)
    results = [
        CallResult(score=r["score"], components=r.get("components", {})) if "score" in r
        else CallResult(error=r.get("error", "?"), kind=r.get("kind", "error"))
        for r in data.get("results", [])
    ]
    if len(results) < len(calls):
        last = results[-1] if results else CallResult(error="no result", kind="crashed")
        results = _fill(results, len(calls), f"not run: an earlier call failed ({last.error})", last.kind or "error")
    return SandboxRun(results, seconds=seconds)


def imported_modules(code: str, allowed: tuple[str, ...] = ALLOWED_MODULES) -> list[str]:
    """The allowed modules ``code`` imports (the child pre-imports only these: start-up stays fast)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return sorted(n for n in names if n in allowed)


def _fill(results: list[CallResult], n: int, message: str, kind: str) -> list[CallResult]:
    return results + [CallResult(error=message, kind=kind) for _ in range(n - len(results))]


def score_of(value: Any) -> float:
    """A reward value as a float in [0, 1] (for in-process callers that already have one)."""
    score = value.get("score") if isinstance(value, dict) else value
    score = float(score)
    if not math.isfinite(score):
        raise ValueError("score is not finite")
    return min(1.0, max(0.0, score))
