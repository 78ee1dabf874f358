"""Static scan of reward code: a fast first filter before the jail (:mod:`envgym.rewards.jail`),
never the boundary itself.

:func:`scan_reward_code` — the code must be at most :data:`MAX_CODE_CHARS` characters, parse
(deeply nested code is refused, not a crash), define ``reward(initial, final, trajectory=None)``,
and stay inside an allowlist:

* imports only of :data:`ALLOWED_MODULES` (``math``, ``re``, ...), no relative imports;
* no call or mention of :data:`FORBIDDEN_NAMES` (``open``, ``exec``, ``eval``, ``compile``,
  ``__import__``, ``globals``, ``input``, ...), ``getattr``/``hasattr`` only with a constant name that
  is neither private nor one of :data:`FORBIDDEN_ATTRIBUTES`;
* no attribute or name starting with ``__``, none of :data:`FORBIDDEN_ATTRIBUTES` (frames, code
  objects: ``gi_frame``, ``f_back``…; module chains to the OS: ``json.codecs.sys``…);
* no ``async``, ``await``, ``global``/``nonlocal`` statements;
* not constant: ``reward`` must read its inputs, and some ``return`` must depend on them (directly, or
  through a condition that reads them) — see :func:`constant_return`.

Parsing is serialised by a lock: CPython 3.11 keeps the AST constructor's recursion counter per
interpreter, so two threads parsing at once (a garbage collection switching threads mid-parse) can
fail a later, unrelated parse with ``SystemError: AST constructor recursion depth mismatch``.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import Any

from envgym.rewards.jail import ALLOWED_MODULES

FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "dir", "input",
    "breakpoint", "exit", "quit", "help", "memoryview", "setattr", "delattr", "object", "type",
    "super", "classmethod", "staticmethod", "property", "print", "id", "hash", "__builtins__",
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib", "builtins",
})
#: Attributes that lead from a value to frames, code objects, a module's globals or the OS.
FORBIDDEN_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "ag_await",
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next", "co_code",
    "co_consts", "func_globals", "func_code", "mro",
    # module attributes that lead to the interpreter or the OS (json.codecs.sys.modules["os"])
    "sys", "os", "modules", "builtins", "codecs", "importlib", "ctypes", "subprocess", "socket", "posix", "io",
})
ATTR_FUNCTIONS = frozenset({"getattr", "hasattr"})
#: Longest reward code the scan parses.
MAX_CODE_CHARS = 64 * 1024
_PARSE_LOCK = threading.Lock()


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
    tree = _parse(code)
    if isinstance(tree, Finding):
        return [tree]
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
            if node.attr.startswith("__") or node.attr in FORBIDDEN_ATTRIBUTES:
                findings.append(Finding("reward_dunder", f"attribute {node.attr!r} is not allowed", line))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTR_FUNCTIONS:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("_")
                    and name.value not in FORBIDDEN_ATTRIBUTES):
                findings.append(Finding("reward_dunder", f"{node.func.id}() needs a constant, non-private, non-frame name", line))
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
    return re.search(r"__\w+__", text) is not None


def _parse(code: str) -> ast.Module | Finding:
    if not isinstance(code, str):
        return Finding("reward_syntax", f"reward code must be text, got {type(code).__name__}")
    if len(code) > MAX_CODE_CHARS:
        return Finding("reward_syntax", f"the code has {len(code)} characters, more than the limit of {MAX_CODE_CHARS}")
    try:
        with _PARSE_LOCK:
            return ast.parse(code)
    except SyntaxError as exc:
        return Finding("reward_syntax", f"SyntaxError: {exc.msg}", exc.lineno)
    except (RecursionError, MemoryError, ValueError) as exc:
        return Finding("reward_syntax", f"the code cannot be parsed ({type(exc).__name__}: nested too deeply?)")
