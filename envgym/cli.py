"""The ``envgym`` command line.

    envgym list                                  registered environments
    envgym info ID                               spec, tools, task count, a first observation
    envgym play ID [--task T] [--seed S]         play an env yourself in the terminal
    envgym run ID --agent oracle --episodes 20 --out runs/x.jsonl
    envgym show FILE                             pretty-print recorded episodes
    envgym demo                                  record oracle and random agents on every text env
    envgym train CONFIG [key=value ...]          train a policy (see configs/)
    envgym eval ENV|CONFIG --model M --split test   evaluate an agent on held-out tasks (table, JSONL, HTML)
    envgym synth --env ID --n N --llm-url URL --model M --out tasks.jsonl
    envgym serve ID [--port N] [--token T]       serve an env over WebSocket
    envgym build NAME                            build a container image (content-hash tagged)
    envgym check ID [--runtime R] [--rollouts F] does the env keep the contract? (exit 1 if not)
    envgym new-env NAME [--dir D]                scaffold an env plugin package
    envgym containers ls|prune                   envgym-managed containers
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from envgym.cli_errors import _friendly_group_class

app = typer.Typer(add_completion=False, no_args_is_help=True, help="envgym: environments for LLM agents.",
                  cls=_friendly_group_class())
containers_app = typer.Typer(no_args_is_help=True, help="Manage envgym containers.")
app.add_typer(containers_app, name="containers")
export_app = typer.Typer(no_args_is_help=True, help="Package an env for other ecosystems.")
app.add_typer(export_app, name="export")


def _console():
    from rich.console import Console

    return Console()


def _parse_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they parse, else kept as strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _version(value: bool) -> None:
    if value:
        import envgym

        typer.echo(f"envgym {envgym.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks instead of short error messages (or ENVGYM_DEBUG=1)"),
) -> None:
    """envgym: environments for LLM agents."""


def _make(env_id: str, kwargs: dict[str, Any]):
    import envgym
    from envgym.errors import EnvgymError, UsageError

    envgym.spec(env_id)  # an unknown id fails here, with suggestions
    try:
        return envgym.make(env_id, **kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, EnvgymError) or not kwargs:
            raise
        given = " ".join(f"--kw {k}={json.dumps(v)}" for k, v in kwargs.items())
        raise UsageError(f"{env_id} rejected {given}: {exc}") from exc


@app.command("list")
def list_cmd() -> None:
    """List registered environments (built-in and from plugins)."""
    from rich.table import Table

    import envgym

    table = Table("id", "tags", "description")
    for env_spec in envgym.list_envs():
        table.add_row(env_spec.id, ", ".join(env_spec.tags), env_spec.description)
    _console().print(table)


@app.command()
def info(env_id: str, kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value")) -> None:
    """Show an env's spec, tools, task count and first observation."""
    import envgym

    console = _console()
    env = _make(env_id, _parse_kwargs(kw))
    env_spec = envgym.spec(env_id)
    obs, reset_info = env.reset(seed=0)
    console.print(f"{env_spec.id}  {env_spec.description}", markup=False, highlight=False)
    console.print(f"entry point: {env_spec.entry_point}   tags: {', '.join(env_spec.tags)}", markup=False)
    console.print(f"tasks: {len(env.unwrapped.tasks)}   max turns: {env.unwrapped.max_turns}")
    console.print(f"observation keys: {sorted(obs)}")
    if obs.get("tools"):
        console.print("tools: " + ", ".join(t.get("function", t)["name"] for t in obs["tools"]), markup=False)
    console.rule("first observation (seed 0)")
    console.print(obs["text"], markup=False)
    console.print(f"info: {reset_info}", markup=False)
    env.close()


@app.command()
def play(
    env_id: str,
    task: Optional[str] = typer.Option(None, help="task id from the env's task set"),
    seed: Optional[int] = typer.Option(None, help="seed (procedural envs build the task from it)"),
    out: Optional[Path] = typer.Option(None, help="append the episode to this JSONL file (--web: default runs/play/)"),
    screenshots: Optional[Path] = typer.Option(None, help="save a PNG of the screen after every turn here (envs with screens)"),
    web: bool = typer.Option(False, "--web", help="play in a browser page on 127.0.0.1 instead of the terminal"),
    port: int = typer.Option(0, help="--web: port of the page (0: a free one)"),
    runtime: str = typer.Option("local", help="local | container | remote (with --url)"),
    url: Optional[str] = typer.Option(None, help="env server URL for --runtime remote"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
) -> None:
    """Play an environment yourself: read the observation, type actions (:help for commands)."""
    from envgym.recording import recording_kwargs

    kwargs = recording_kwargs(env_id, _parse_kwargs(kw))
    if runtime != "local" or url:
        kwargs.update(runtime="remote" if url else runtime, **({"url": url} if url else {}))
    env = _make(env_id, kwargs)
    try:
        if web:
            from envgym.play_web import play_in_browser

            play_in_browser(env, env_id, task=task, seed=seed, out=out, port=port)
        else:
            from envgym.play import play_in_terminal

            play_in_terminal(env, env_id, task=task, seed=seed, out=out, screenshots=screenshots, console=_console())
    finally:
        env.close()


@app.command()
def run(
    env_id: str,
    agent: str = typer.Option("random", help="random | oracle | llm | hiper"),
    model: Optional[str] = typer.Option(None, help="llm/hiper: tiny, smollm2-135m-instruct, gguf:PATH, a model dir, a hub id, openai:URL"),
    model_name: Optional[str] = typer.Option(None, help="the served model's name (openai:URL)"),
    episodes: int = typer.Option(10, min=1),
    out: Optional[Path] = typer.Option(None, help="JSONL file the episodes are appended to"),
    seed: int = typer.Option(0, help="first seed; episode i uses seed+i"),
    task_file: Optional[Path] = typer.Option(None, help="run these tasks (cycled) instead of seeded ones"),
    use_env_tasks: bool = typer.Option(False, "--env-tasks", help="cycle through the env's own task set"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
) -> None:
    """Run an agent for N episodes, record them, and print a summary."""
    summary = run_agent(env_id, agent, episodes, out, seed, task_file, use_env_tasks, _parse_kwargs(kw),
                        model=model, model_name=model_name)
    if summary["episodes"] == 0 or summary["infra_errors"] == summary["episodes"]:
        raise typer.Exit(1)


def run_agent(
    env_id: str,
    agent_name: str,
    episodes: int,
    out: Path | None,
    seed: int = 0,
    task_file: Path | None = None,
    use_env_tasks: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    console: Any = None,
    model: str | None = None,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Body of ``envgym run``; returns the summary dict it prints."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from envgym.agents import make_agent
    from envgym.agents.loop import run_episode
    from envgym.tasks import load_tasks
    from envgym.trajectory import EpisodeWriter

    from envgym.recording import ObservationTap, finish_episode, recording_kwargs

    console = console or _console()
    env = ObservationTap(_make(env_id, recording_kwargs(env_id, env_kwargs or {})))
    if model is not None:
        from envgym.image_store import store_for
        from envgym.trainers.evaluate import make_backend_for

        agent = make_agent(agent_name, backend=make_backend_for(model, model_name, {}),
                           image_store=store_for(out or "runs/episodes.jsonl"))
    else:
        agent = make_agent(agent_name, env=env) if agent_name == "oracle" else make_agent(agent_name)
    tasks = list(load_tasks(task_file)) if task_file else (list(env.unwrapped.tasks) if use_env_tasks else None)
    writer = EpisodeWriter(out) if out else None
    successes, returns, turns, infra = 0, [], [], 0
    first_infra_error: str | None = None
    columns = [TextColumn(f"[bold]{env_id}[/] {agent_name}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("success {task.fields[rate]:.0%}"), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            bar = progress.add_task("run", total=episodes, rate=0.0)
            for i in range(episodes):
                task = tasks[i % len(tasks)] if tasks else None
                episode = finish_episode(run_episode(env, agent, task=task, seed=seed + i, env_id=env_id), env.last)
                if writer:
                    writer.write(episode)
                if episode.infra_error is not None:
                    infra += 1
                    first_infra_error = first_infra_error or episode.infra_error
                successes += episode.success
                returns.append(episode.total_return)
                turns.append(episode.num_turns)
                progress.update(bar, advance=1, rate=successes / (i + 1))
    finally:
        if writer:
            writer.close()
        env.close()
    n = len(returns)
    summary = {
        "env": env_id, "agent": agent_name, "episodes": n,
        "success_rate": successes / n if n else 0.0,
        "mean_return": sum(returns) / n if n else 0.0,
        "mean_turns": sum(turns) / n if n else 0.0,
        "infra_errors": infra,
    }
    console.print(
        f"[bold]{env_id}[/] {agent_name}: success {summary['success_rate']:.1%}, "
        f"mean return {summary['mean_return']:.3f}, mean turns {summary['mean_turns']:.1f}"
        + (f", infra errors {infra}" if infra else "")
        + (f"  → {out}" if out else ""),
        highlight=False,
    )
    if first_infra_error:
        from envgym.cli_errors import explain_infra_error

        console.print(f"[magenta]the env failed (infra error, not scored):[/] {explain_infra_error(first_infra_error)}",
                      markup=True, highlight=False)
    return summary


@app.command()
def show(
    file: Path,
    episode: Optional[int] = typer.Option(None, help="only this episode (0-based)"),
    max_chars: int = typer.Option(600, help="truncate observations to this many characters"),
    html: Optional[Path] = typer.Option(None, help="write a self-contained HTML report here"),
    compare: Optional[Path] = typer.Option(None, help="with --html: a second run, shown side by side per task"),
) -> None:
    """Pretty-print recorded episodes, or write an HTML report (--html; two runs: --compare)."""
    from envgym import report
    from envgym.trajectory import read_episodes

    console = _console()
    episodes = read_episodes(file)
    if compare is not None:
        if html is None:
            raise typer.BadParameter("--compare writes an HTML report: add --html OUT", param_hint="--compare")
        report.write_comparison_report((file.name, episodes), (compare.name, read_episodes(compare)), html)
    elif html is not None:
        report.write_html_report(episodes, html, source=file)
    else:
        report.print_episodes(console, [episodes[episode]] if episode is not None else episodes, max_chars)
        return
    console.print(f"wrote {html}", markup=False)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), help="where episodes are recorded"),
    episodes: int = typer.Option(20, min=1),
) -> None:
    """Record the oracle and a random agent on every text environment and compare them."""
    import envgym

    console = _console()
    rows = []
    for env_spec in envgym.list_envs():
        if not {"text", "tools"} & set(env_spec.tags) or "container" in env_spec.tags:
            continue
        for agent_name in ("oracle", "random"):
            out = out_dir / f"{env_spec.id.replace('/', '_')}.{agent_name}.jsonl"
            if out.exists():
                out.unlink()
            rows.append(run_agent(env_spec.id, agent_name, episodes, out, use_env_tasks=True, console=console))
    from rich.table import Table

    table = Table("env", "agent", "episodes", "success", "mean return", "mean turns")
    for row in rows:
        table.add_row(row["env"], row["agent"], str(row["episodes"]), f"{row['success_rate']:.0%}",
                      f"{row['mean_return']:.2f}", f"{row['mean_turns']:.1f}")
    console.print(table)
    console.print(f"episodes recorded under {out_dir}/ — view one with: envgym show {out_dir}/<file>.jsonl --episode 0")


@app.command("eval")
def eval_cmd(
    target: str = typer.Argument(..., help="an env id, or a training config (.yaml: its env, agent and policy)"),
    agent: Optional[str] = typer.Option(None, help="llm | hiper | choice | random | oracle (default llm, or the config's)"),
    model: Optional[str] = typer.Option(None, help="tiny, smollm2-135m-instruct, gguf:PATH, a model dir, a hub id, openai:URL"),
    model_name: Optional[str] = typer.Option(None, help="the served model's name (openai:URL)"),
    split: str = typer.Option("test", help="task split: train | test"),
    episodes: int = typer.Option(20, min=1),
    concurrency: int = typer.Option(8, min=1),
    out: Path = typer.Option(Path("runs/eval"), help="directory for episodes.jsonl, report.html, summary.json"),
    runtime: str = typer.Option("local", help="local | remote | container"),
    url: Optional[str] = typer.Option(None, help="env server URL (runtime remote)"),
    temperature: float = typer.Option(0.7, min=0.0),
    max_new_tokens: int = typer.Option(64, min=1),
    seed: int = typer.Option(0),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
) -> None:
    """Evaluate an agent on an env's task split: concurrent episodes, a result table, JSONL + HTML."""
    from envgym.trainers.evaluate import EvalSpec, evaluate, format_table

    spec = EvalSpec(target=target, agent=agent, model=model, model_name=model_name, split=split, episodes=episodes,
                    concurrency=concurrency, out=str(out), runtime=runtime, url=url, temperature=temperature,
                    max_new_tokens=max_new_tokens, seed=seed, env_kwargs=_parse_kwargs(kw))
    summary = evaluate(spec, console=_console())
    _console().print(format_table(summary) + f"\n  → {out}/episodes.jsonl, {out}/report.html")
    if summary["valid"] == 0:
        raise typer.Exit(1)


def _config_reference(value: bool) -> None:
    if value:
        from envgym.trainers.config_reference import reference

        typer.echo(reference(), nl=False)
        raise typer.Exit()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML trainer config, e.g. configs/maze_tiny.yaml"),
    help_config: bool = typer.Option(False, "--help-config", is_eager=True, callback=_config_reference,
                                     help="print every config key with its type, default and meaning, and exit"),
) -> None:
    """Train a policy: `envgym train CONFIG key.sub=value ...` (overrides apply in order)."""
    from envgym.trainers.train import main as train_main

    code = train_main([str(config), *ctx.args])
    if code:
        raise typer.Exit(code)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def synth(
    ctx: typer.Context,
    env: str = typer.Option(..., "--env", help="env id whose state the tasks are built on"),
    n: int = typer.Option(10, "--n", min=1, help="candidates to propose"),
    llm_url: str = typer.Option(..., "--llm-url", envvar="ENVGYM_LLM_URL", help="OpenAI-compatible base URL"),
    model: str = typer.Option(..., "--model", help="model name on that server"),
    out: Path = typer.Option(..., "--out", help="JSONL task file to write (resumes if present)"),
) -> None:
    """Synthesise verified tasks: proposer, generator, blind discriminator, checks, votes, rollouts.

    Extra options as key=value, e.g. `critics=3 rollout_agent=oracle rollout_k=8 max_rounds=3`."""
    from envgym.synth.cli_ops import synth as run_synth

    report = run_synth(env, n, llm_url, model, str(out), **_parse_kwargs(list(ctx.args)))
    if not report.get("funnel", {}).get("proposed"):
        raise typer.Exit(1)


@app.command()
def serve(
    env_id: str,
    host: str = typer.Option("127.0.0.1", help="bind address (loopback by default)"),
    port: int = typer.Option(8000, help="port (0: a free one; the READY line names it)"),
    max_sessions: int = typer.Option(256, help="concurrent sessions (one env each)"),
    token: Optional[str] = typer.Option(None, envvar="ENVGYM_TOKEN", help="require this bearer token"),
    idle_timeout: float = typer.Option(600.0, help="reap sessions idle this many seconds"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
    max_message_bytes: int = typer.Option(16 * 1024 * 1024, help="refuse larger messages"),
    allow_kwarg: list[str] = typer.Option([], "--allow-kwarg", help="accept this env kwarg from clients (repeatable)"),
    allow_python_rewards: bool = typer.Option(False, "--allow-python-rewards", help="accept client tasks whose reward is code (run jailed)"),
    allow_origin: list[str] = typer.Option([], "--allow-origin", help="accept requests from this web page origin (repeatable; '*': any)"),
    max_kwarg_seconds: float = typer.Option(300.0, help="largest duration a client's kwarg may set"),
    import_module: list[str] = typer.Option([], "--import", help="modules to import first (they may register envs)"),
    log_level: str = typer.Option("warning"),
    openenv: bool = typer.Option(False, "--openenv", help="OpenEnv's protocol at the root, envgym's under /envgym"),
    no_openenv: bool = typer.Option(False, "--no-openenv", help="envgym's protocol only (no OpenEnv routes)"),
    spare_envs: int = typer.Option(0, help="envs kept built ahead of demand with the server's kwargs"),
) -> None:
    """Serve an environment over WebSocket: one connection = one session = one env.

    Clients may not pass env kwargs, send tasks whose reward is code, or connect from a web page
    unless allowed (--allow-kwarg, --allow-python-rewards, --allow-origin); beyond loopback a token
    is required.  OpenEnv clients connect under /openenv (at the root with --openenv).
    Prints `READY http://HOST:PORT` once it accepts connections."""
    import importlib

    from envgym.remote.policy import SessionPolicy
    from envgym.remote.server import serve as serve_env

    for module in import_module:
        importlib.import_module(module)
    policy = SessionPolicy(frozenset(allow_kwarg), allow_python_rewards, frozenset(allow_origin), max_kwarg_seconds)
    serve_env(env_id, host=host, port=port, max_sessions=max_sessions, token=token,
              idle_timeout_s=idle_timeout, env_kwargs=_parse_kwargs(kw), log_level=log_level,
              max_message_bytes=max_message_bytes, policy=policy,
              on_ready=lambda url: print(f"READY {url}", flush=True), openenv_root=openenv, openenv=not no_openenv,
              spare_envs=spare_envs)


@app.command()
def mcp(
    env_id: str,
    http: bool = typer.Option(False, "--http", help="streamable HTTP at http://HOST:PORT/mcp instead of stdio"),
    host: str = typer.Option("127.0.0.1", help="bind address (loopback by default; others need --token)"),
    port: int = typer.Option(8765, help="port (0: a free one; the READY line names the URL)"),
    token: Optional[str] = typer.Option(None, envvar="ENVGYM_TOKEN", help="require this bearer token (HTTP)"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
    import_module: list[str] = typer.Option([], "--import", help="modules to import first (they may register envs)"),
) -> None:
    """Serve an env's tools over MCP: tools/list, tools/call steps the env, reset() and envgym://episode."""
    import importlib

    from envgym.interop.mcp_server import serve as serve_mcp

    for module in import_module:
        importlib.import_module(module)
    serve_mcp(env_id, http=http, host=host, port=port, token=token, env_kwargs=_parse_kwargs(kw),
              on_ready=lambda url: print(f"READY {url}", flush=True))


@export_app.command("openenv")
def export_openenv(
    env_id: str,
    directory: Path = typer.Argument(..., help="the package directory to write"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value (fixed in the package)"),
    public: bool = typer.Option(False, "--public", help="serve without a token (OpenEnv's clients send none)"),
    max_sessions: int = typer.Option(64, help="concurrent sessions of the packaged server"),
    lock: bool = typer.Option(True, "--lock/--no-lock", help="run `uv lock` when uv is installed"),
    force: bool = typer.Option(False, "--force", help="replace a non-empty directory"),
) -> None:
    """Write an OpenEnv environment package (openenv.yaml, server app, Dockerfile, client) for an env."""
    from envgym.interop.openenv_export import export_openenv as write_package

    report = write_package(env_id, directory, env_kwargs=_parse_kwargs(kw), public=public,
                           max_sessions=max_sessions, lock=lock, force=force)
    _console().print(f"wrote {report['directory']} ({report['lock']}); next: openenv validate {report['directory']}")


@app.command()
def build(
    name: str = typer.Argument(..., help="image recipe under containers/ (e.g. base, sandbox) or an env id"),
    base: Optional[str] = typer.Option(None, envvar="ENVGYM_BASE_IMAGE", help="base image (default: registry-free Debian)"),
    force: bool = typer.Option(False, help="rebuild even if the content-hash tag exists"),
) -> None:
    """Build a container image (skipped when its content-hash tag exists)."""
    from envgym.containers.cli_ops import build as build_image

    tag = build_image(name, base, force)
    _console().print(f"image: {tag}")


@app.command("check")
def check_cmd(
    env_id: str,
    runtime: str = typer.Option("local", help="local | remote (through an `envgym serve` subprocess) | container"),
    rollouts: Optional[Path] = typer.Option(None, help="re-score these stored episodes (JSONL) by replaying their actions"),
    max_tasks: Optional[int] = typer.Option(None, help="run the oracle on at most this many tasks (default: all)"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    kw: list[str] = typer.Option([], "--kw", help="env kwargs key=value"),
) -> None:
    """Check that an env keeps the envgym contract (see envgym.checking); exit status 1 on any failure."""
    from envgym.checking import CheckOptions, check

    options = CheckOptions(max_tasks=max_tasks, rollouts=str(rollouts) if rollouts else None)
    report = check(env_id, runtime=runtime, options=options, env_kwargs=_parse_kwargs(kw))
    typer.echo(json.dumps(report.to_dict(), indent=1) if json_out else report.render())
    raise typer.Exit(0 if report.ok else 1)


@app.command("new-env")
def new_env_cmd(
    name: str = typer.Argument(..., help="the env's name, e.g. my-lights"),
    directory: Optional[Path] = typer.Option(None, "--dir", help="where to write the package (default ./envgym-NAME)"),
) -> None:
    """Scaffold an env plugin package (entry point, env, tasks, a test) that passes `envgym check`."""
    from envgym.scaffold import new_env

    try:
        names, root = new_env(name, directory)
    except (ValueError, FileExistsError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"wrote {root}: env {names.env_id} in {names.package}/env.py\n"
               f"next: pip install -e {root} && envgym check {names.env_id}")


@containers_app.command("ls")
def containers_ls() -> None:
    """List envgym-managed containers."""
    from rich.table import Table

    from envgym.containers.cli_ops import ls

    table = Table("id", "env", "status", "port", "owner pid", "image")
    for row in ls():
        table.add_row(*(str(row.get(k, "")) for k in ("id", "env_id", "status", "port", "owner_pid", "image")))
    _console().print(table)


@containers_app.command("prune")
def containers_prune(all_owners: bool = typer.Option(False, "--all", help="also remove containers of live processes")) -> None:
    """Remove leaked envgym containers (those whose owner process is gone)."""
    from envgym.containers.cli_ops import prune

    _console().print(f"removed {prune(all_owners)} containers")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
