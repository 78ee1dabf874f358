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
        findings.extend(_node_findings(node, allowed_modules))
    findings.extend(_reward_function_findings(tree))
    return findings


def _node_findings(node: ast.AST, allowed_modules: tuple[str, ...]) -> list[Finding]:
    """The allowlist problems of one syntax node (imports, names, attributes, async, global)."""
    line = getattr(node, "lineno", None)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_findings(node, allowed_modules, line)
    if isinstance(node, ast.Name):
        return _name_findings(node, line)
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("__") or node.attr in FORBIDDEN_ATTRIBUTES:
            return [Finding("reward_dunder", f"attribute {node.attr!r} is not allowed", line)]
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTR_FUNCTIONS:
        return _attr_function_findings(node, node.func.id, line)
    if isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
        return [Finding("reward_forbidden_name", "async code is not allowed", line)]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return [Finding("reward_forbidden_name", "global/nonlocal statements are not allowed", line)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value and _dunder_word(node.value):
        return [Finding("reward_dunder", f"string {node.value[:40]!r} names a dunder", line)]
    return []


def _import_findings(node: ast.Import | ast.ImportFrom, allowed_modules: tuple[str, ...], line: int | None) -> list[Finding]:
    """Relative imports, and imports of anything but a top-level module of ``allowed_modules``."""
    if isinstance(node, ast.ImportFrom) and node.level:
        return [Finding("reward_forbidden_import", "relative imports are not allowed", line)]
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return [
        Finding("reward_forbidden_import", f"import of {name!r} is not allowed (allowed: {', '.join(allowed_modules)})", line)
        for name in names
        if name.split(".")[0] not in allowed_modules or "." in name
    ]


def _name_findings(node: ast.Name, line: int | None) -> list[Finding]:
    if node.id in FORBIDDEN_NAMES:
        return [Finding("reward_forbidden_name", f"{node.id!r} is not allowed in reward code", line)]
    if node.id.startswith("__"):
        return [Finding("reward_dunder", f"name {node.id!r} is not allowed", line)]
    return []


def _attr_function_findings(node: ast.Call, function_name: str, line: int | None) -> list[Finding]:
    """``getattr``/``hasattr`` are allowed only with a constant name, neither private nor forbidden."""
    name = node.args[1] if len(node.args) > 1 else None
    if (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("_")
            and name.value not in FORBIDDEN_ATTRIBUTES):
        return []
    return [Finding("reward_dunder", f"{function_name}() needs a constant, non-private, non-frame name", line)]


def _reward_function_findings(tree: ast.Module) -> list[Finding]:
    """A missing top-level ``reward``, one that takes fewer than two inputs, or one that is constant."""
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "reward"]
    if not functions:
        return [Finding("reward_no_function", "define a top-level function reward(initial, final, trajectory=None)")]
    function = functions[-1]
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    if len(params) < 2 and function.args.vararg is None:
        return [Finding("reward_no_function", "reward() must take (initial, final, trajectory=None)", function.lineno)]
    why = constant_return(function, _helper_functions(tree))
    return [Finding("reward_constant", why, function.lineno)] if why else []


def constant_return(function: ast.FunctionDef, helpers: dict[str, ast.FunctionDef] | None = None) -> str | None:
    """Why ``function``'s result cannot depend on its inputs, or ``None`` if it may.

    Taint analysis: the parameters are tainted; a name assigned from an expression that reads a
    tainted name (or the loop variable of a tainted iterable) is tainted, to a fixed point.  The
    function is constant when it never reads a parameter, or when every ``return`` value is
    untainted and no branch condition (``if``/``while``/``assert``/``try``/conditional expression/
    boolean operator/comprehension filter) reads a tainted name.
    """
    params = _parameter_names(function)
    body = ast.Module(body=function.body, type_ignores=[])
    read = {n.id for n in ast.walk(body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if not (read & params):
        return "reward() never reads its inputs"
    tainted = _tainted_names(body, params)
    returns = [n for n in ast.walk(body) if isinstance(n, ast.Return)]
    if any(r.value is not None and _reads(r.value, tainted) for r in returns):
        return None
    if _may_branch_on(body, tainted):
        return None
    if not returns or all(r.value is None or isinstance(r.value, ast.Constant) for r in returns):
        return "every return of reward() is a constant that no condition on the inputs selects"
    return "no return value of reward() depends on its inputs"


def _parameter_names(function: ast.FunctionDef) -> set[str]:
    """Every parameter name of ``function``, ``*args`` and ``**kwargs`` included."""
    params = {a.arg for a in function.args.posonlyargs + function.args.args + function.args.kwonlyargs}
    if function.args.vararg:
        params.add(function.args.vararg.arg)
    if function.args.kwarg:
        params.add(function.args.kwarg.arg)
    return params


def _tainted_names(body: ast.Module, params: set[str]) -> set[str]:
    """The names of ``body`` whose value may depend on ``params``, to a fixed point."""
    tainted = set(params)
    changed = True
    while changed:
        assigned = _taint_assigned(body, tainted)
        filled = _taint_filled_containers(body, tainted)
        changed = assigned or filled
    return tainted


def _taint_assigned(body: ast.Module, tainted: set[str]) -> bool:
    """Add to ``tainted`` every name bound from a tainted value; whether any was added."""
    changed = False
    for node in ast.walk(body):
        targets, value = _binding(node)
        if value is None or not _reads(value, tainted):
            continue
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in tainted:
                    tainted.add(name.id)
                    changed = True
    return changed


def _binding(node: ast.AST) -> tuple[list[ast.expr], ast.AST | None]:
    """The targets and the value a node binds them to (assignment, loop, walrus, ``with ... as``)."""
    if isinstance(node, ast.Assign):
        return node.targets, node.value
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
        return [node.target], node.value
    if isinstance(node, (ast.For, ast.comprehension)):
        return [node.target], node.iter
    if isinstance(node, ast.NamedExpr):
        return [node.target], node.value
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [node.optional_vars], node.context_expr
    return [], None


def _taint_filled_containers(body: ast.Module, tainted: set[str]) -> bool:
    """A method call on an untainted name with a tainted argument may fill it
    (``x.append(final[...])``): add that name to ``tainted``; whether any was added."""
    changed = False
    for node in ast.walk(body):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            if node.func.value.id not in tainted and any(_reads(a, tainted) for a in node.args):
                tainted.add(node.func.value.id)
                changed = True
    return changed


def _may_branch_on(body: ast.Module, tainted: set[str]) -> bool:
    """Whether the control flow of ``body`` may depend on a tainted name: a condition reads one, a
    ``try`` body reads one (a tainted expression may raise and pick the handler's return), or the
    code raises."""
    for node in ast.walk(body):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Try) and any(_reads(s, tainted) for s in node.body):
            return True
        test = _condition(node)
        if test is not None and _reads(test, tainted):
            return True
    return False


def _condition(node: ast.AST) -> ast.AST | None:
    """The expression a branching node tests (``if``, ``while``, ``assert``, ``x if c else y``, ``and``/``or``,
    a comprehension's filters), or ``None``."""
    if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
        return node.test
    if isinstance(node, ast.BoolOp):
        return node
    if isinstance(node, ast.comprehension) and node.ifs:
        return ast.BoolOp(op=ast.And(), values=node.ifs)
    return None


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
