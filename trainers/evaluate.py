"""``envgym eval``: play N episodes of an agent on an env's task split, concurrently, and report.

    envgym eval envgym/Maze-v0 --agent llm --model smollm2-135m-instruct --split test --episodes 50 --concurrency 16
    envgym eval configs/maze_heldout.yaml --model runs/x/merged --split test
    envgym eval envgym/SQL-v0 --agent llm --model openai:http://127.0.0.1:8000/v1 --model-name Qwen/Qwen2.5-7B-Instruct

Episodes run concurrently on the trainer's machinery: env calls in a worker pool
(:class:`~envgym.trainers.env_cluster.EnvCluster`: local, remote or container runtime) and, for
model-backed agents, generation requests of all running episodes batched into one backend call
(:class:`~envgym.trainers.rollout_service.RolloutService`).  Tasks: the split's tasks, cycled.

The result table (printed, and saved as ``summary.json``): success, mean return, turns, action-error
rate (turns the env rejected), parse-failure rate (completions no action could be read from),
infrastructure errors (counted apart, never as failures), prompt/completion tokens, wall time.
Episodes go to ``episodes.jsonl`` and ``report.html`` in ``--out``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envgym.trainers.config import EnvConfig, TaskSelection, load_config
from envgym.trajectory import Episode


@dataclass
class EvalSpec:
    target: str  # env id or a training config (.yaml)
    agent: str | None = None  # llm | hiper | choice | random | oracle (default: llm, or the config's)
    model: str | None = None  # a model spec (envgym.agents.models) or openai:URL
    model_name: str | None = None  # the served model's name for openai:URL
    split: str | None = "test"
    episodes: int = 20
    concurrency: int = 8
    out: str = "runs/eval"
    runtime: str = "local"
    url: str | None = None
    temperature: float = 0.7
    max_new_tokens: int = 64
    seed: int = 0
    env_kwargs: dict[str, Any] | None = None


def env_config(spec: EvalSpec) -> tuple[EnvConfig, dict[str, Any]]:
    """The env to evaluate and agent defaults (from a training config's ``agent``/``policy`` when given)."""
    if spec.target.endswith((".yaml", ".yml")):
        cfg = load_config(spec.target)
        env = cfg.envs[0].model_copy(update={"workers": spec.concurrency})
        defaults = {"agent": cfg.agent.kind, "model": cfg.policy.source, "observation": cfg.agent.observation,
                    "tiny": cfg.policy.tiny}
        return env, defaults
    from envgym.recording import recording_kwargs

    env = EnvConfig(id=spec.target, runtime=spec.runtime, url=spec.url, workers=spec.concurrency,
                    kwargs=recording_kwargs(spec.target, dict(spec.env_kwargs or {})))  # GUI envs: screenshots on
    return env, {"agent": "llm", "model": spec.model, "observation": "text", "tiny": {}}


def make_backend_for(model: str, model_name: str | None, tiny: dict[str, Any], *, choices: bool = False) -> Any:
    """The backend for ``--model``; ``choices=True``: constrained decoding for the choice agent."""
    from envgym.agents.backends import make_backend

    if model.startswith("openai:"):
        return make_backend(model, model=model_name)
    if choices:
        from envgym.agents.backends.choice_backend import ChoiceTransformersBackend
        from envgym.agents.models import resolve_model

        return ChoiceTransformersBackend(resolve_model(model, tiny=tiny))
    return make_backend(model, tiny_config=tiny) if model == "tiny" else make_backend(model)


def agent_factory(kind: str, backend: Any, spec: EvalSpec, observation: str) -> Any:
    """``factory(seed, env) -> agent`` for one episode."""
    if kind == "choice":
        from envgym.agents.choice_agent import ChoiceAgent

        return lambda seed, env: ChoiceAgent(backend.tokenizer, observation=observation, temperature=spec.temperature, seed=seed)
    if kind in ("llm", "hiper"):
        from envgym.agents import make_agent

        sampling = {"max_new_tokens": spec.max_new_tokens, "temperature": spec.temperature}
        return lambda seed, env: make_agent(kind, backend=backend, sampling={**sampling, "seed": seed})
    if kind in ("random", "oracle"):
        from envgym.agents import make_agent

        return lambda seed, env: make_agent(kind, env=env) if kind == "oracle" else make_agent(kind, seed=seed)
    raise ValueError(f"unknown agent {kind!r}; choose llm, hiper, choice, random or oracle")


async def _play_all(env: EnvConfig, tasks: list[str], spec: EvalSpec, factory: Any, backend: Any, progress: Any) -> list[Episode]:
    from envgym.agents.base import BatchedAgent
    from envgym.agents.loop import run_episode
    from envgym.trainers.env_cluster import EnvCluster
    from envgym.trainers.episode import play_episode
    from envgym.trainers.rollout_service import RolloutService

    cluster = EnvCluster([env], seed=spec.seed)
    service = RolloutService(backend, max_wait_s=0.05) if backend is not None else None
    if service is not None:
        await service.start()

    async def one(i: int) -> Episode:
        task = tasks[i % len(tasks)] if tasks else None
        if service is not None:
            service.episode_started()
            try:
                agent = factory(spec.seed + i, None)
                assert isinstance(agent, BatchedAgent)
                return await play_episode(cluster, service, agent, env_key=env.key, task=task, seed=spec.seed + i,
                                          order_key=i, store_observations="text")
            finally:
                service.episode_finished()
                progress()
        worker = await cluster.acquire(env.key)
        try:
            return await asyncio.to_thread(run_episode, worker.env, factory(spec.seed + i, worker.env), task=task,
                                           seed=spec.seed + i, env_id=env.id)
        finally:
            cluster.release(worker)
            progress()

    try:
        return list(await asyncio.gather(*(one(i) for i in range(spec.episodes))))
    finally:
        if service is not None:
            await service.stop()
        cluster.close()


def summarise(episodes: list[Episode], wall_s: float) -> dict[str, Any]:
    """The result table of ``episodes`` (infrastructure failures excluded from the rates)."""
    valid = [ep for ep in episodes if not ep.infra_error]
    turns = [t for ep in valid for t in ep.turns]
    n, t = max(len(valid), 1), max(len(turns), 1)
    return {
        "episodes": len(episodes), "valid": len(valid), "infra_errors": len(episodes) - len(valid),
        "success": sum(ep.success for ep in valid) / n,
        "mean_return": sum(ep.total_return for ep in valid) / n,
        "mean_turns": len(turns) / n,
        "action_error_rate": sum(bool(tr.info.get("action_error")) for tr in turns) / t,
        "parse_failure_rate": sum(bool(tr.extra.get("parse_error")) for tr in turns) / t,
        "prompt_tokens": sum(len(tr.prompt_ids or []) for tr in turns),
        "completion_tokens": sum(len(tr.completion_ids or []) for tr in turns),
        "wall_s": round(wall_s, 2),
    }


def evaluate(spec: EvalSpec, console: Any = None) -> dict[str, Any]:
    """Run the evaluation described by ``spec``; write ``episodes.jsonl``, ``report.html`` and
    ``summary.json`` under ``spec.out`` and return the summary."""
    import envgym
    from envgym.recording import finish_episode
    from envgym.report import write_html_report
    from envgym.trainers.trainer import env_task_ids
    from envgym.trajectory import EpisodeWriter

    env, defaults = env_config(spec)
    kind = spec.agent or defaults["agent"]
    model = spec.model or defaults["model"]
    backend = None
    if kind in ("llm", "hiper", "choice"):
        if not model:
            raise ValueError(f"--agent {kind} needs --model (e.g. smollm2-135m-instruct, tiny, a model directory, openai:URL)")
        backend = make_backend_for(model, spec.model_name, defaults["tiny"], choices=kind == "choice")
    factory = agent_factory(kind, backend, spec, defaults["observation"])
    tasks = env_task_ids(env, TaskSelection(split=spec.split)) if spec.split else []
    if env.runtime == "local":
        envgym.make(env.id, **env.kwargs).close()  # a config mistake fails here, not as N infra errors
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with _progress(console, f"{env.id} {kind} {spec.split or ''}", spec.episodes) as advance:
        episodes = asyncio.run(_play_all(env, tasks, spec, factory, backend, advance))
    summary = {"env": env.id, "agent": kind, "model": model, "split": spec.split, **summarise(episodes, time.perf_counter() - start)}
    if backend is not None:
        backend.close()
    with EpisodeWriter(out / "episodes.jsonl", fsync=False) as writer:
        for ep in episodes:
            writer.write(finish_episode(ep, None))  # screenshots bounded in size
    write_html_report(episodes, out / "report.html", title=f"{env.id} — {kind} {model or ''} ({spec.split or 'seeded'})")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


class _progress:
    """A rich progress bar (``advance()`` per finished episode), or nothing without a console."""

    def __init__(self, console: Any, label: str, total: int):
        self.console, self.label, self.total = console, label, total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if self.console is None:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=self.console)
        self._bar.start()
        task = self._bar.add_task("eval", total=self.total)
        return lambda: self._bar.update(task, advance=1)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


def format_table(summary: dict[str, Any]) -> str:
    rows = [("success", f"{summary['success']:.3f}"), ("mean return", f"{summary['mean_return']:.3f}"),
            ("mean turns", f"{summary['mean_turns']:.1f}"), ("action-error rate", f"{summary['action_error_rate']:.3f}"),
            ("parse-failure rate", f"{summary['parse_failure_rate']:.3f}"),
            ("infra errors", f"{summary['infra_errors']} of {summary['episodes']}"),
            ("tokens in / out", f"{summary['prompt_tokens']} / {summary['completion_tokens']}"), ("wall s", f"{summary['wall_s']}")]
    head = f"{summary['env']}  agent={summary['agent']}  model={summary['model']}  split={summary['split']}"
    return "\n".join([head] + [f"  {k:<20} {v}" for k, v in rows])
