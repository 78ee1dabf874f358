"""What the command line says when something goes wrong: one or two lines saying what to do.

:func:`explain` turns an exception into that message (``None`` when it has nothing better than the
exception itself).  The CLI prints it instead of a traceback; ``envgym --debug …`` or
``ENVGYM_DEBUG=1`` shows the traceback instead.  Only the CLI imports this module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

DEBUG_ENV = "ENVGYM_DEBUG"
DEBUG_HINT = "run again with --debug (or ENVGYM_DEBUG=1) for the traceback"

#: Importable module → the pip extra that installs it.
OPTIONAL_MODULES: dict[str, str] = {
    "playwright": "web",
    "docker": "containers",
    "fastapi": "remote", "uvicorn": "remote", "websockets": "remote", "httpx": "remote", "orjson": "remote",
    "starlette": "remote",
    "torch": "train", "transformers": "train", "tokenizers": "train", "tensorboard": "train",
    "matplotlib": "train",
    "vllm": "vllm",
    "jsonschema": "synth",
    "ray": "ray",
}
#: Words that mark an error as the container engine's (its SDK and transport).
_ENGINE_MODULES = ("docker.", "requests.", "urllib3.")
_BROWSER_WORDS = ("browser", "chromium", "executable doesn't exist", "failed to launch")


@dataclass
class Explanation:
    message: str
    exit_code: int = 1


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def explain(exc: BaseException) -> Explanation:
    """The short message for ``exc``; unknown errors say so and point at ``--debug``."""
    for rule in (_envgym_error, _missing_module, _engine_error, _browser_error, _model_dir_error, _file_error):
        found = rule(exc)
        if found is not None:
            return found
    if isinstance(exc, ValueError) and str(exc):
        return Explanation(f"error: {_first_lines(str(exc))}", 2)
    return Explanation(f"error: {type(exc).__name__}: {_first_lines(str(exc))}\n({DEBUG_HINT})", 1)


def _first_lines(text: str, limit: int = 2, width: int = 400) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()][:limit]
    return "\n".join(line if len(line) <= width else line[:width] + "…" for line in lines)


def _envgym_error(exc: BaseException) -> Explanation | None:
    from envgym.errors import TaskFileError, UnknownEnvError, UnknownTaskError, UsageError

    if isinstance(exc, (UnknownEnvError, UnknownTaskError, UsageError, TaskFileError)):
        return Explanation(f"error: {_first_lines(str(exc), limit=3)}", 2)
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return None
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:3]]
        return Explanation(f"error: invalid {exc.title}: " + "; ".join(problems), 2)
    return None


def _missing_module(exc: BaseException) -> Explanation | None:
    while exc is not None and not (isinstance(exc, ImportError) and getattr(exc, "name", None)):
        exc = exc.__cause__ or exc.__context__  # e.g. the registry's "cannot load env …" around it
    if exc is None:
        return None
    name = exc.name.split(".")[0]
    extra = OPTIONAL_MODULES.get(name)
    if extra is None:
        return Explanation(f"error: the Python package {name!r} is not installed ({exc})", 1)
    return Explanation(f"error: this needs {name!r}, which is not installed: "
                       f"pip install 'envgym[{extra}]'  (from a clone: pip install -e '.[{extra}]')", 1)


def _engine_error(exc: BaseException) -> Explanation | None:
    from envgym.containers.engine import EngineUnavailable

    if isinstance(exc, EngineUnavailable):
        return Explanation(f"error: {exc}", 1)
    module = type(exc).__module__ + "."
    if module.startswith(_ENGINE_MODULES) and any(w in str(exc).lower() for w in ("connection", "no such file")):
        from envgym.containers.engine import _dead_engine_message, engine_url

        return Explanation(f"error: {_dead_engine_message(engine_url() or 'the default socket')}", 1)
    return None


def _browser_error(exc: BaseException) -> Explanation | None:
    text = str(exc).lower()
    module = type(exc).__module__
    if not (module.startswith(("playwright", "envgym.browser")) or any(w in text for w in _BROWSER_WORDS)):
        return None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as missing:
        return _missing_module(missing)
    problem = chromium_problem()
    return None if problem is None else Explanation(f"error: {problem}", 1)


def chromium_problem() -> str | None:
    """Why the Chromium envgym would launch cannot run (``None`` when it runs), naming the path it
    looked for and the variable that sets it."""
    from envgym.browser.launcher import BrowserUnavailable, chromium_path

    fix = ("set ENVGYM_CHROMIUM to a Chromium executable (or unset it), or install Chromium with "
           "`bash scripts/install-browser.sh`")
    try:
        path = chromium_path()
    except BrowserUnavailable as exc:
        if os.environ.get("ENVGYM_CHROMIUM"):
            return str(exc)  # the launcher names the path and the variable
        return ("no Chromium found (looked at $ENVGYM_CHROMIUM, chromium, chromium-browser and google-chrome on "
                f"PATH, /usr/bin/chromium): {fix}")
    source = "ENVGYM_CHROMIUM" if os.environ.get("ENVGYM_CHROMIUM") else "PATH"
    resolved = shutil.which(path) or path
    if not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        return f"Chromium not found at {path} (from {source}): {fix}"
    try:
        probe = subprocess.run([resolved, "--version"], capture_output=True, text=True, timeout=30)
        version = (probe.stdout or probe.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        version, probe = str(err), None
    if probe is None or probe.returncode != 0 or not any(w in version for w in ("Chromium", "Chrome")):
        shown = version.splitlines()[0][:120] if version else "nothing"
        return f"{path} (from {source}) is not a working Chromium (`--version` printed {shown!r}): {fix}"
    return None


def _model_dir_error(exc: BaseException) -> Explanation | None:
    text = str(exc)
    markers = ("does not appear to have a file named config.json", "Unrecognized model in",
               "is not a local folder and is not a valid model identifier", "Incorrect path_or_model_id")
    if not isinstance(exc, (OSError, ValueError)) or not any(m in text for m in markers):
        return None
    return Explanation("error: that is not a model: expected a Hugging Face model directory (config.json, weights, "
                       f"tokenizer files) or a hub id. ({_first_lines(text, limit=1, width=200)})", 2)


def _file_error(exc: BaseException) -> Explanation | None:
    if isinstance(exc, FileNotFoundError):
        return Explanation(f"error: {exc.filename or exc}: no such file or directory", 2)
    if isinstance(exc, (IsADirectoryError, NotADirectoryError, PermissionError)):
        return Explanation(f"error: {exc.filename or ''}: {exc.strerror or exc}", 2)
    return None


def _friendly_group_class():
    """The typer group class of the ``envgym`` app: it prints :func:`explain`'s message instead of a
    traceback, and takes ``--debug`` anywhere on the command line."""
    import click
    import typer
    from typer.core import TyperGroup

    passthrough = (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, typer.Exit, typer.Abort)

    class FriendlyGroup(TyperGroup):
        debug = False

        def main(self, args=None, *rest, **kwargs):  # type: ignore[override]
            import sys

            args = list(sys.argv[1:] if args is None else args)
            options_end = args.index("--") if "--" in args else len(args)
            type(self).debug = "--debug" in args[:options_end]
            if type(self).debug:
                args.remove("--debug")
            return super().main(args, *rest, **kwargs)

        def invoke(self, ctx):  # type: ignore[override]
            try:
                return super().invoke(ctx)
            except passthrough:
                raise
            except Exception as exc:
                if type(self).debug or debug_enabled():
                    raise
                explanation = explain(exc)
                click.echo(explanation.message, err=True)
                raise typer.Exit(explanation.exit_code) from None

    return FriendlyGroup



def explain_infra_error(text: str) -> str:
    """An episode's ``infra_error`` text (escaped for rich), or, when the browser failed because of
    how Chromium is set up, what to do about it."""
    from rich.markup import escape

    problem = chromium_problem() if "browser" in text.lower() else None
    return escape(problem or _first_lines(text))
