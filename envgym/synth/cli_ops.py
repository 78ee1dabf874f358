"""``envgym synth``: synthesize verified tasks for an env and write them as a task set.

:func:`synth` runs the whole funnel — propose → generate ∥ discriminate → checks (with review rounds)
→ critic vote → reference-agent rollouts → deduplication — and returns (prints, saves) the funnel
report.  Work is journaled next to the output (``<out>.journal.jsonl``), so re-running the same
command continues where a crashed or interrupted run stopped; the report goes to
``<out>.report.json`` and the tasks to ``out`` (JSONL, loadable with :func:`envgym.load_tasks`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envgym.fileio import atomic_write
from envgym.synth.adapters import GenericAdapter, make_adapter
from envgym.synth.checks import CheckConfig
from envgym.synth.filters import Deduplicator, critic_vote, rollout_filter
from envgym.synth.journal import Journal, read_journal
from envgym.synth.llm import ChatClient, LLMError
from envgym.synth.orchestrator import Orchestrator, SynthConfig


def journal_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".journal.jsonl")


def report_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".report.json")


def synth(env_id: str, n: int, llm_url: str, model: str, out: str, **opts: Any) -> dict[str, Any]:
    """Synthesize up to ``n`` candidate tasks for ``env_id`` with the model at ``llm_url`` and write the
    survivors to ``out``.  Returns the funnel report.

    Options (all optional): ``api_key``, ``concurrency`` (4), ``max_rounds`` (3), ``critics`` (3; 0 skips
    the vote), ``rollout_agent`` (``None`` skips rollouts; ``"oracle"``, ``"random"``,
    ``"module:factory"`` or a callable ``env -> Agent``), ``rollout_k`` (8), ``rollout_band``
    ((0.125, 0.875)), ``rollout_max_turns``, ``dedup_threshold`` (0.92), ``dedup_scope`` ("global" or "initial_state"; default: the
    adapter's — Household compares instructions only among tasks sharing an initial state), ``time_limit_s`` (2.0),
    ``memory_mb`` (512), ``side_effect_mutations`` (3), ``temperature`` (0.7), ``json_mode`` (True),
    ``timeout`` (120), ``max_retries`` (4), ``backoff`` (0.5), ``price_prompt_per_1k`` /
    ``price_completion_per_1k`` (0), ``prompt_version`` ("v1"), ``family``, ``task_prefix``,
    ``env_kwargs``, ``env_factory`` (a callable building the env, for envs not in the registry),
    ``progress`` (default: when stderr is a terminal), ``print_report`` (True).
    """
    return asyncio.run(_synth(env_id, int(n), llm_url, model, str(out), opts))


async def _synth(env_id: str, n: int, llm_url: str, model: str, out: str, opts: dict[str, Any]) -> dict[str, Any]:
    unknown = set(opts) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown synth options: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    adapter, llm, orchestrator = _pipeline(env_id, llm_url, model, opts)
    jpath = journal_path(out)
    previous = read_journal(jpath)
    _check_config(previous, env_id, n)
    journal = Journal(jpath)
    try:
        if not previous:
            journal.write({"stage": "config", "env_id": env_id, "n": n, "model": model, "family": adapter.family,
                           "prompts": {r: p.id for r, p in orchestrator.prompts.items()}})
        funnel = await _run_stages(adapter, llm, orchestrator, n, previous, journal, opts)
        funnel.final, funnel.dedup_rejections = _deduplicate(funnel.rolled, adapter, opts)
        from envgym.tasks import parse_task, save_tasks

        save_tasks(out, [parse_task(t) for t in funnel.final])
        run_usage = llm.report()
        journal.write({"stage": "run", "usage": run_usage, "seconds": round(time.perf_counter() - started, 3)})
        report = _report(env_id, model, n, out, funnel, opts, run_usage, previous, time.perf_counter() - started)
    finally:
        journal.close()
        await llm.aclose()
    atomic_write(report_path(out), _json(report))
    if opts.get("print_report", True):
        _print_report(report)
    return report


@dataclass
class _Funnel:
    """What each stage kept (records and tasks as JSON), for the report."""

    outcomes: dict[int, dict[str, Any]]
    resumed: int
    infra: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[int, dict[str, Any]] = field(default_factory=dict)
    voted: list[dict[str, Any]] = field(default_factory=list)
    rollouts: dict[int, dict[str, Any]] = field(default_factory=dict)
    rolled: list[dict[str, Any]] = field(default_factory=list)
    final: list[dict[str, Any]] = field(default_factory=list)
    dedup_rejections: Counter = field(default_factory=Counter)


def _pipeline(env_id: str, llm_url: str, model: str, opts: dict[str, Any]) -> tuple[GenericAdapter, ChatClient, Orchestrator]:
    """The env's adapter, the chat client and the orchestrator, configured from ``opts``."""
    adapter = make_adapter(env_id, env_factory=opts.get("env_factory"), env_kwargs=opts.get("env_kwargs"),
                           family=opts.get("family"))
    checks = CheckConfig(time_limit_s=float(opts.get("time_limit_s", 2.0)), memory_mb=int(opts.get("memory_mb", 512)),
                         side_effect_mutations=int(opts.get("side_effect_mutations", 3)))
    config = SynthConfig(max_rounds=int(opts.get("max_rounds", 3)), prompt_version=opts.get("prompt_version", "v1"),
                         task_prefix=opts.get("task_prefix"), checks=checks, temperature=opts.get("temperature"))
    llm = ChatClient(
        llm_url, model, api_key=opts.get("api_key"), timeout=float(opts.get("timeout", 120.0)),
        max_retries=int(opts.get("max_retries", 4)), backoff=float(opts.get("backoff", 0.5)),
        json_mode=bool(opts.get("json_mode", True)), temperature=float(opts.get("temperature", 0.7)),
        price_prompt_per_1k=float(opts.get("price_prompt_per_1k", 0.0)),
        price_completion_per_1k=float(opts.get("price_completion_per_1k", 0.0)),
        max_concurrency=max(4, int(opts.get("concurrency", 4)) * 4),
    )
    return adapter, llm, Orchestrator(adapter, llm, config)


async def _run_stages(adapter: GenericAdapter, llm: ChatClient, orchestrator: Orchestrator, n: int,
                      previous: list[dict[str, Any]], journal: Journal, opts: dict[str, Any]) -> _Funnel:
    """Candidates (those the journal lacks), the critic vote, the rollout filter."""
    outcomes = {r["candidate"]: r for r in previous if r.get("stage") == "candidate" and r.get("status") in ("accepted", "rejected")}
    funnel = _Funnel(outcomes, resumed=len([k for k in outcomes if k < n]))
    todo = [k for k in range(n) if k not in outcomes]
    with _Progress(opts.get("progress"), n, funnel.resumed) as progress:
        await _run_candidates(orchestrator, todo, outcomes, funnel.infra, journal, progress, int(opts.get("concurrency", 4)))
        progress.stage("voting")
        funnel.votes = {r["candidate"]: r for r in previous if r.get("stage") == "vote"}
        funnel.accepted = [outcomes[k] for k in sorted(outcomes) if k < n and outcomes[k]["status"] == "accepted"]
        funnel.voted = await _vote(orchestrator, llm, funnel.accepted, funnel.votes, int(opts.get("critics", 3)), journal)
        progress.stage("rollouts")
        funnel.rollouts = {r["candidate"]: r for r in previous if r.get("stage") == "rollout"}
        funnel.rolled = await _rollouts(adapter, funnel.voted, funnel.rollouts, opts, journal)
    return funnel


def _deduplicate(tasks: list[dict[str, Any]], adapter: GenericAdapter, opts: dict[str, Any]) -> tuple[list[dict[str, Any]], Counter]:
    """The tasks left after deduplication, and why the others went."""
    dedup = Deduplicator(float(opts.get("dedup_threshold", 0.92)), opts.get("dedup_scope") or adapter.dedup_scope)
    final, rejections = [], Counter()
    for task in tasks:
        duplicate = dedup.check(task)
        if duplicate:
            rejections[duplicate[0]] += 1
            continue
        dedup.add(task)
        final.append(task)
    return final, rejections


_OPTIONS = {
    "api_key", "concurrency", "max_rounds", "critics", "rollout_agent", "rollout_k", "rollout_band", "rollout_max_turns",
    "dedup_threshold", "dedup_scope", "time_limit_s", "memory_mb", "side_effect_mutations", "temperature", "json_mode", "timeout",
    "max_retries", "backoff", "price_prompt_per_1k", "price_completion_per_1k", "prompt_version", "family",
    "task_prefix", "env_kwargs", "env_factory", "progress", "print_report",
}


def _check_config(previous: list[dict[str, Any]], env_id: str, n: int) -> None:
    config = next((r for r in previous if r.get("stage") == "config"), None)
    if config is not None and config.get("env_id") != env_id:
        raise ValueError(f"the journal next to the output belongs to a synthesis for {config.get('env_id')!r}, not "
                         f"{env_id!r}; choose another output path")


async def _run_candidates(orchestrator: Orchestrator, todo: list[int], outcomes: dict[int, dict[str, Any]],
                          infra: list[dict[str, Any]], journal: Journal, progress: Any, concurrency: int) -> None:
    semaphore = asyncio.Semaphore(max(1, concurrency))
    avoid = [r["instruction"] for r in outcomes.values() if r.get("status") == "accepted" and r.get("instruction")]

    async def one(candidate: int) -> None:
        async with semaphore:
            outcome = await orchestrator.run_candidate(candidate, avoid)
        record = outcome.to_record()
        journal.write(record)
        if outcome.status == "infra":
            infra.append(record)
        else:
            outcomes[candidate] = record
            if outcome.status == "accepted" and outcome.instruction:
                avoid.append(outcome.instruction)
        progress.advance(outcome.status, outcome.reason)

    await asyncio.gather(*(one(k) for k in todo))


async def _vote(orchestrator: Orchestrator, llm: ChatClient, accepted: list[dict[str, Any]], votes: dict[int, dict[str, Any]],
                critics: int, journal: Journal) -> list[dict[str, Any]]:
    if critics <= 0:
        return [r["task"] for r in accepted]

    async def one(record: dict[str, Any]) -> None:
        try:
            result = await critic_vote(llm, orchestrator.prompts["critic"], record["task"], critics, orchestrator.context)
        except LLMError:
            return  # infra: no vote recorded, retried on resume; the task waits
        entry = {"stage": "vote", "candidate": record["candidate"], **result.to_json()}
        journal.write(entry)
        votes[record["candidate"]] = entry

    await asyncio.gather(*(one(r) for r in accepted if r["candidate"] not in votes))
    kept = []
    for record in accepted:
        vote = votes.get(record["candidate"])
        if vote is None or vote["decision"] == "reject":
            continue
        task = dict(record["task"])
        if vote["decision"] == "rewrite" and vote.get("instruction"):
            task["instruction"] = vote["instruction"]
            task["provenance"] = {**task.get("provenance", {}), "instruction_rewritten_by": "critic"}
        task["verification"] = {**task.get("verification", {}), "critic_votes": [v.get("vote") for v in vote["votes"]]}
        kept.append(task)
    return kept


async def _rollouts(adapter: GenericAdapter, tasks: list[dict[str, Any]], done: dict[int, dict[str, Any]],
                    opts: dict[str, Any], journal: Journal) -> list[dict[str, Any]]:
    agent_spec = opts.get("rollout_agent")
    if agent_spec is None:
        return tasks
    make_agent = _agent_factory(agent_spec)
    k = int(opts.get("rollout_k", 8))
    band = tuple(float(x) for x in opts.get("rollout_band", (0.125, 0.875)))
    max_turns = opts.get("rollout_max_turns")
    kept = []
    for task in tasks:
        candidate = task["provenance"]["candidate"]
        entry = done.get(candidate)
        if entry is None:
            env_kwargs = {"max_turns": int(max_turns)} if max_turns else {}
            result = await asyncio.to_thread(rollout_filter, task, lambda: adapter.make_env(**env_kwargs), make_agent, k)
            entry = {"stage": "rollout", "candidate": candidate, **result.to_json(), "decision": result.decision(band),
                     "band": list(band), "k": k}
            journal.write(entry)
            done[candidate] = entry
        if entry["decision"] is None:
            task = dict(task)
            task["verification"] = {**task.get("verification", {}), "rollout_pass_rate": entry["pass_rate"],
                                    "rollout_k": entry.get("k", k)}
            kept.append(task)
    return kept


def _agent_factory(spec: Any) -> Callable[[Any], Any]:
    if callable(spec):
        return spec
    if spec == "oracle":
        from envgym.agents.oracle import OracleAgent

        return lambda env: OracleAgent(env)
    if spec == "random":
        from envgym.agents.random_agent import RandomAgent

        counter = iter(range(1 << 30))
        return lambda env: RandomAgent(seed=next(counter))
    if isinstance(spec, str) and ":" in spec:
        import importlib

        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)
    raise ValueError(f"rollout_agent must be 'oracle', 'random', 'module:factory' or a callable, got {spec!r}")


def _report(env_id: str, model: str, n: int, out: str, funnel: _Funnel, opts: dict[str, Any], run_usage: dict[str, Any],
            previous: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    records = [funnel.outcomes[k] for k in sorted(funnel.outcomes) if k < n]
    critics = int(opts.get("critics", 3))
    all_rounds = Counter(rd["code"] for r in records for rd in r.get("rounds", []) if rd.get("code"))
    sides = Counter(rd["side"] for r in records for rd in r.get("rounds", []) if rd.get("side"))
    rounds_hist = Counter(str(len(r.get("rounds", []))) for r in records if r["status"] == "accepted")
    check_seconds = sum(r.get("check_seconds", 0.0) for r in records)
    llm_seconds = sum(r.get("llm_seconds", 0.0) for r in records)
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "cost": 0.0}
    for usage in [r["usage"] for r in previous if r.get("stage") == "run"] + [run_usage]:
        for key in totals:
            totals[key] += usage.get(key, 0)
    return {
        "env_id": env_id,
        "model": model,
        "n": n,
        "funnel": {"proposed": len(records), "passed_checks": len(funnel.accepted), "voted": len(funnel.voted),
                   "rollout_filtered": len(funnel.rolled), "deduplicated": len(funnel.final)},
        "rejections": _rejections(records, funnel, critics),
        "check_failures_all_rounds": dict(all_rounds.most_common()),
        "fault_sides_all_rounds": dict(sides),
        "rounds_to_accept": dict(sorted(rounds_hist.items())),
        "infra": {"candidates_llm_error": len(funnel.infra),
                  "rollout_infra_episodes": sum(entry["infra"] for entry in funnel.rollouts.values())},
        "stages_skipped": [s for s, skipped in (("vote", critics <= 0), ("rollout", opts.get("rollout_agent") is None)) if skipped],
        "resumed_candidates": funnel.resumed,
        "usage": run_usage,
        "usage_all_runs": totals,
        "timing": {
            "wall_seconds": round(wall, 3),
            "check_seconds": round(check_seconds, 3),
            "llm_seconds": round(llm_seconds, 3),
            "candidates_checked_per_min_excl_llm": round(len(records) / check_seconds * 60, 1) if check_seconds else None,
        },
        "out": str(out),
        "journal": str(journal_path(out)),
        "report": str(report_path(out)),
    }


def _rejections(records: list[dict[str, Any]], funnel: _Funnel, critics: int) -> dict[str, dict[str, int]]:
    """Why candidates fell out, per stage."""
    votes = Counter()
    for record in funnel.accepted if critics > 0 else []:
        vote = funnel.votes.get(record["candidate"])
        if vote is None:
            votes["critic_infra"] += 1
        elif vote["decision"] == "reject":
            votes["critic_rejected"] += 1
    candidates = [t["provenance"]["candidate"] for t in funnel.voted]
    rollouts = Counter(funnel.rollouts[c]["decision"] for c in candidates if c in funnel.rollouts and funnel.rollouts[c]["decision"])
    return {"checks": dict(Counter(r["reason"] for r in records if r["status"] == "rejected").most_common()),
            "vote": dict(votes), "rollout": dict(rollouts), "dedup": dict(funnel.dedup_rejections)}


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=False, default=str) + "\n"


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    table = Table(title=f"synthesis funnel: {report['env_id']}")
    table.add_column("stage")
    table.add_column("tasks", justify="right")
    table.add_column("rejected because")
    reasons = report["rejections"]
    rows = [("proposed", None), ("passed_checks", "checks"), ("voted", "vote"), ("rollout_filtered", "rollout"),
            ("deduplicated", "dedup")]
    for stage, key in rows:
        why = ", ".join(f"{k}={v}" for k, v in reasons.get(key, {}).items()) if key else ""
        table.add_row(stage, str(report["funnel"][stage]), why)
    console.print(table)
    usage = report["usage"]
    console.print(f"LLM: {usage['requests']} requests, {usage['prompt_tokens']}+{usage['completion_tokens']} tokens, "
                  f"cost {usage['cost']}; infra: {report['infra']}; tasks -> {report['out']}")


class _Progress:
    """A rich progress bar over candidates (a no-op when disabled)."""

    def __init__(self, enabled: bool | None, total: int, done: int):
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.total, self.done = total, done
        self.counts: Counter = Counter()
        self._progress = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=Console(stderr=True))
            self._progress.start()
            self._task = self._progress.add_task("candidates", total=self.total, completed=self.done, status="")
        return self

    def advance(self, status: str, reason: str | None) -> None:
        self.counts[status] += 1
        if self._progress is not None:
            status_text = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
            self._progress.update(self._task, advance=1, status=status_text)

    def stage(self, name: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=name)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
