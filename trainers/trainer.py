"""The decoupled trainer: env cluster + rollout service (background thread) ↔ data manager ↔ learner.

``Trainer(config).run()`` → summary dict.  Per step: take ``B`` curated episodes from the data manager,
``learner.train_step``, checkpoint (atomically, every ``run.checkpoint_every`` steps), publish the new
weights to the rollout backend, bump the version (which opens admission for the next rollouts).
Evaluation on a fixed set of episodes runs before training, every ``eval.every`` steps and at the
end, on the training tasks and, with ``eval.tasks``, on held-out tasks (e.g. ``{split: test}``).

The run stops with an error (the last checkpoint kept) when the learner hits a NaN/inf, when the
rollout thread dies, or when an env is *broken*: more than ``run.abort_failure_rate`` of its last
``run.abort_window`` calls failed (a flaky env with a few failed steps keeps training; its failed
episodes are excluded and re-run).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envgym.trainers.config import EnvConfig, TaskSelection, TrainConfig, dump_config
from envgym.trainers.data_manager import DataManager, Group, TaskRef
from envgym.trainers.explain import SignalWatch


def env_task_ids(env_cfg: EnvConfig, selection: list[str] | TaskSelection | None) -> list[str]:
    """Task ids of one env: an explicit list, a named split (``{split: test, limit: 50}``) or, with
    ``None``, the env's whole task set.  Split ids are enumerated by a local instance of the env (they
    are deterministic, so remote and container runtimes resolve the same ids)."""
    if isinstance(selection, list):
        return [str(t) for t in selection]
    import envgym

    kwargs = dict(env_cfg.kwargs)
    if env_cfg.task_file:
        kwargs["tasks"] = env_cfg.task_file
    if selection is None and env_cfg.runtime != "local":
        raise ValueError(f"env {env_cfg.key}: list its task ids (or a split) in envs[].tasks for runtime={env_cfg.runtime}")
    env = envgym.make(env_cfg.id, **kwargs)
    try:
        if selection is None:
            return [t.task_id for t in env.unwrapped.tasks]
        return [t.task_id for t in env.unwrapped.task_split(selection.split, limit=selection.limit)]
    finally:
        env.close()


def task_pool(config: TrainConfig) -> list[TaskRef]:
    """All (env, task id) pairs to train on: ``envs[i].tasks`` (ids or a split) or the whole task set."""
    return [TaskRef(c.key, t) for c in config.envs for t in env_task_ids(c, c.tasks)]


def eval_sets(config: TrainConfig, train: list[TaskRef]) -> dict[str, list[TaskRef]]:
    """The fixed evaluation task sets: ``train`` (the first ``eval.train_tasks`` training tasks) and,
    with ``eval.tasks``, ``heldout`` (that selection of every env)."""
    sets = {"train": train[: config.eval.train_tasks] if config.eval.train_tasks else list(train)}
    if config.eval.tasks is not None:
        sets["heldout"] = [TaskRef(c.key, t) for c in config.envs for t in env_task_ids(c, config.eval.tasks)]
        overlap = {t.key for t in sets["heldout"]} & {t.key for t in train}
        if overlap:
            raise ValueError(f"eval.tasks overlaps the training tasks ({len(overlap)} shared, e.g. {sorted(overlap)[:3]})")
    return sets


def _check_envs(config: TrainConfig) -> None:
    """Build each local env once up front, so a config mistake fails loudly instead of looking like
    an endless stream of infrastructure failures."""
    from envgym.trainers.env_cluster import build_env

    for env_cfg in config.envs:
        if env_cfg.runtime == "local":
            build_env(env_cfg).close()


@dataclass
class _Session:
    """Everything one run holds between setup and summary."""

    learner: Any
    backend: Any
    data: DataManager
    runner: Any
    logger: Any
    train_factory: Any
    eval_factory: Any
    eval_sets: dict[str, list[TaskRef]]
    checkpoint: dict[str, Any] | None
    step: int = 0
    elapsed_before: float = 0.0
    env_steps_before: float = 0.0
    eval_before: dict[str, float] = field(default_factory=dict)
    eval_after: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    loop_stats: dict[str, float] = field(default_factory=dict)
    placement: Any = None

    def close(self) -> None:
        self.runner.stop()
        self.data.close()
        self.logger.close()
        self.backend.close()
        if self.placement is not None:
            self.placement.close()


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.run_dir = Path(config.run.out_dir)
        self.summary: dict[str, Any] = {}
        self._start = 0.0

    def run(self) -> dict[str, Any]:
        self._start = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._seed_everything()
        session = self._open_session()
        try:
            self._before_training(session)
            self._train_loop(session)
            self._after_training(session)
        finally:
            session.close()
        return self._write_summary(session)

    # ------------------------------------------------------------------ setup
    def _seed_everything(self) -> None:
        import torch

        seed = self.config.run.seed
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(self.config.run.torch_threads)

    def _open_session(self) -> _Session:
        from envgym.trainers.placement import open_placement

        placement = open_placement(self.config, self.run_dir)
        try:
            return self._open_parts(placement)
        except BaseException:
            placement.close()
            raise

    def _open_parts(self, placement: Any) -> _Session:
        from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
        from envgym.trainers.metrics import MetricsLogger
        from envgym.trainers.policy import make_agent_factory

        cfg = self.config
        ckpt_path = latest_checkpoint(self.run_dir) if cfg.run.resume == "auto" else None
        ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
        (self.run_dir / "config.yaml").write_text(dump_config(cfg))
        learner, tokenizer, path = placement.learner()
        backend = placement.rollout_backend(learner, tokenizer, path)
        tasks = task_pool(cfg)
        sets = eval_sets(cfg, tasks)
        _check_envs(cfg)
        data = DataManager(cfg.data, tasks, group_size=cfg.rollout.group_size, batch_episodes=cfg.rollout.batch_episodes,
                           staleness=cfg.staleness, store_dir=self.run_dir, seed=cfg.run.seed)
        logger = MetricsLogger(self.run_dir, total_steps=cfg.run.steps, tensorboard=cfg.run.tensorboard,
                               progress=cfg.run.progress, offset=ckpt["metrics_offset"] if ckpt else None)
        train_factory = make_agent_factory(cfg, tokenizer, backend)
        eval_factory = make_agent_factory(cfg, tokenizer, backend, temperature=cfg.eval.temperature)
        session = _Session(learner, backend, data, self._make_runner(backend, data, train_factory, placement), logger,
                           train_factory, eval_factory, sets, ckpt, placement=placement)
        if ckpt is not None:
            self._restore(session, ckpt, ckpt_path)
        else:
            data.open_store()
        session.runner.start()
        return session

    def _make_runner(self, backend: Any, data: DataManager, factory: Any, placement: Any) -> Any:
        from envgym.trainers.rollout_runner import RolloutRunner

        cfg = self.config
        max_wait = None if cfg.rollout.max_wait_ms is None else cfg.rollout.max_wait_ms / 1000.0
        if cfg.mode == "async" and max_wait is None:
            max_wait = 0.02
        return RolloutRunner(cfg.envs, backend, data, factory, seed=cfg.run.seed, max_batch=cfg.rollout.max_batch,
                             max_wait_s=max_wait, store_observations=cfg.data.store_observations,
                             failure_window=cfg.run.abort_window, cluster_factory=placement.env_cluster)

    def _restore(self, s: _Session, ckpt: dict[str, Any], ckpt_path: Any) -> None:
        from envgym.trainers.checkpoint import set_rng_state

        s.learner.load_state_dict(ckpt["learner"])
        s.data.load_state_dict(ckpt["data"])
        s.data.open_store(offset=ckpt["data"]["store_offset"])
        set_rng_state(ckpt["rng"])
        s.step = int(ckpt["step"])
        s.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        s.env_steps_before = float(ckpt.get("env_steps", 0.0))
        s.eval_before = dict(ckpt.get("eval_before") or {})
        s.backend.update_weights(s.learner.policy_state_dict(), s.learner.version)
        self._dump_restored(s.learner, ckpt_path)
        print(f"resuming {self.run_dir} from step {s.step} ({ckpt_path})", flush=True)
        if s.step >= self.config.run.steps:
            print(f"{self.run_dir} already holds a finished run ({s.step} steps); set run.steps higher to "
                  f"continue it, or choose a new run.out_dir (or run.resume=never) to start again", flush=True)

    # ------------------------------------------------------------------ phases
    def _before_training(self, s: _Session) -> None:
        if s.checkpoint is None:
            cfg = self.config
            demos = self._oracle_demos(s) if cfg.data.seed_with_oracle or cfg.policy.warm_start.steps else None
            if cfg.policy.warm_start.steps:  # the RL starts (and eval_before measures) from the cloned policy
                self._warm_start(s, demos)
            if cfg.eval.episodes_per_task:
                s.eval_before = self._evaluate(s, tag="eval_before")
            if cfg.data.seed_with_oracle:
                for item, ep in demos:
                    s.data.add_oracle_episode(item, ep)
        s.data.set_version(s.learner.version)
        s.runner.set_producing(True)

    def _train_loop(self, s: _Session) -> None:
        wall0 = time.perf_counter()
        loop0 = self._usage(s.runner)
        tick = {"time": wall0, "tokens": loop0["tokens"]}
        guard = FailureGuard(s.runner, self.config.run.abort_failure_rate)
        watch = SignalWatch(self.config.run.no_signal_steps)
        while s.step < self.config.run.steps and not self._budget_spent(s, loop0):
            groups = s.data.take_batch(stop=guard)
            if groups is None:
                if s.runner.error is not None:
                    raise RuntimeError(f"rollouts failed: {s.runner.error}") from s.runner.error
                break
            metrics = self._train_step(s, groups, loop0, tick)
            warning = watch.observe(s.step, metrics)
            if warning:
                print(f"warning: {warning}", flush=True)
                s.logger.event("no_learning_signal", {"step": s.step, "message": warning})
            if self.config.eval.every and s.step % self.config.eval.every == 0 and s.step < self.config.run.steps:
                self._evaluate(s, tag="eval")
            s.logger.log(s.step, metrics)
            s.history.append({"step": s.step, "success": metrics["rollout/success"], "return": metrics["rollout/return"]})
            if (self.config.run.checkpoint_every and s.step % self.config.run.checkpoint_every == 0) or s.step == self.config.run.steps:
                self._checkpoint(s, metrics["perf/env_steps"])
            s.runner.service.publish(s.learner.policy_state_dict(), s.learner.version)
            s.data.set_version(s.learner.version)
            s.runner.wake()
        s.runner.set_producing(False)
        s.loop_stats = self._loop_stats(s.runner, loop0, time.perf_counter() - wall0)

    def _after_training(self, s: _Session) -> None:
        s.data.close()
        if self.config.eval.episodes_per_task:
            s.eval_after = self._evaluate(s, tag="eval_after")
        if self.config.policy.merged_out:
            s.learner.save_merged(self.config.policy.merged_out)

    def _budget_spent(self, s: _Session, loop0: dict[str, float]) -> bool:
        """``run.time_limit_s`` or ``run.max_env_steps`` reached (logged as an event)."""
        run = self.config.run
        if run.time_limit_s is not None and self._elapsed(s) > run.time_limit_s:
            s.logger.event("time_limit", {"step": s.step})
            return True
        if run.max_env_steps is not None and self._env_steps(s, loop0) >= run.max_env_steps:
            s.logger.event("env_step_budget", {"step": s.step})
            return True
        return False

    def _train_step(self, s: _Session, groups: list[Group], loop0: dict[str, float], tick: dict[str, float]) -> dict[str, float]:
        """One learner step on ``groups`` and the step's metrics (training, rollout, data, perf)."""
        t_train = time.perf_counter()
        metrics = s.learner.train_step(groups)
        train_s = time.perf_counter() - t_train
        s.step += 1
        metrics.update(_rollout_metrics(groups))
        metrics.update(s.data.pop_window())
        now = time.perf_counter()
        tokens = self._usage(s.runner)["tokens"]
        metrics.update({
            "policy_version": s.learner.version,
            "perf/step_s": now - tick["time"], "perf/train_s": train_s,
            "perf/tokens_per_s": (tokens - tick["tokens"]) / max(now - tick["time"], 1e-9),
            "perf/env_util": s.runner.cluster.utilisation(), "perf/policy_util": s.runner.service.utilisation(),
            "perf/wall_s": self._elapsed(s), "perf/env_steps": self._env_steps(s, loop0),
            "data/infra_errors": float(s.runner.cluster.infra_errors),
        })
        metrics.update(s.data.metrics())
        tick.update(time=now, tokens=tokens)
        return metrics

    def _elapsed(self, s: _Session) -> float:
        return s.elapsed_before + time.perf_counter() - self._start

    def _env_steps(self, s: _Session, loop0: dict[str, float]) -> float:
        return s.env_steps_before + self._usage(s.runner)["env_steps"] - loop0["env_steps"]

    def _write_summary(self, s: _Session) -> dict[str, Any]:
        from envgym.trainers.metrics import plot_curve

        cfg = self.config
        png = None
        if cfg.run.plot:
            png = str(plot_curve(self.run_dir / "metrics.jsonl", self.run_dir / "curve.png", title=cfg.run.name))
        cluster = s.runner.cluster
        self.summary = {
            "run_dir": str(self.run_dir), "steps": s.step, "policy_version": s.learner.version,
            "wall_s": round(self._elapsed(s), 1),
            "eval_success_before": s.eval_before.get("train"), "eval_success_after": s.eval_after.get("train"),
            "heldout_success_before": s.eval_before.get("heldout"), "heldout_success_after": s.eval_after.get("heldout"),
            "curve_png": png, "history": s.history, "mode": cfg.mode, "estimator": cfg.algo.estimator,
            "infra_errors": cluster.infra_errors if cluster else 0,
            "env_steps": sum(st.steps for st in cluster.stats.values()) if cluster else 0,
            "training_loop": s.loop_stats,
        }
        (self.run_dir / "summary.json").write_text(json.dumps(self.summary, indent=1))
        return self.summary

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def _usage(runner: Any) -> dict[str, float]:
        stats = runner.cluster.stats.values()
        return {"env_steps": float(sum(s.steps for s in stats)), "env_busy_s": float(sum(s.busy_s for s in stats)),
                "policy_busy_s": float(runner.service.stats.busy_s),
                "tokens": float(runner.service.stats.prompt_tokens + runner.service.stats.completion_tokens)}

    def _loop_stats(self, runner: Any, start: dict[str, float], seconds: float) -> dict[str, float]:
        """Throughput and utilisation over the training loop: env-steps/s, the fraction of env-worker
        time spent inside env calls, and the fraction of wall time the policy spent generating."""
        end = self._usage(runner)
        workers = sum(c.workers for c in self.config.envs)
        seconds = max(seconds, 1e-9)
        return {
            "seconds": round(seconds, 3),
            "env_steps": end["env_steps"] - start["env_steps"],
            "env_steps_per_s": round((end["env_steps"] - start["env_steps"]) / seconds, 2),
            "env_utilisation": round((end["env_busy_s"] - start["env_busy_s"]) / (workers * seconds), 4),
            "policy_utilisation": round((end["policy_busy_s"] - start["policy_busy_s"]) / seconds, 4),
            "tokens_per_s": round((end["tokens"] - start["tokens"]) / seconds, 1),
        }

    def _evaluate(self, s: _Session, *, tag: str) -> dict[str, float]:
        """Success on every eval set (fixed seeds), logged as ``eval`` events; episodes saved to
        ``<tag>.jsonl`` (training tasks) and ``<tag>_heldout.jsonl``."""
        from envgym.trajectory import EpisodeWriter

        results: dict[str, float] = {}
        for name, tasks in s.eval_sets.items():
            episodes = s.runner.evaluate(tasks, self.config.eval.episodes_per_task, s.eval_factory, tag=f"eval-{name}")
            valid = [ep for ep in episodes if not ep.infra_error]
            results[name] = float(np.mean([ep.success for ep in valid])) if valid else float("nan")
            per_task: dict[str, list[float]] = {}
            for ep in valid:
                per_task.setdefault(ep.task_id or "?", []).append(float(ep.success))
            s.logger.event("eval", {
                "step": s.step, "tag": tag, "set": name, "success": results[name], "episodes": len(valid),
                "infra_errors": len(episodes) - len(valid),
                "mean_turns": float(np.mean([ep.num_turns for ep in valid])) if valid else 0.0,
                "per_task": {k: float(np.mean(v)) for k, v in per_task.items()},
            })
            suffix = "" if name == "train" else f"_{name}"
            with EpisodeWriter(self.run_dir / f"{tag}{suffix}.jsonl", fsync=False) as writer:
                for ep in episodes:
                    writer.write(ep)
        return results

    def _oracle_demos(self, s: _Session) -> list[tuple[Any, Any]]:
        """The env's oracle episodes of every training task, as ``(work item, episode)``."""
        items = s.data.oracle_work()
        episodes = s.runner.collect_oracle(items, s.train_factory)
        s.logger.event("oracle_seed", {"episodes": len(episodes), "successes": sum(ep.success for ep in episodes)})
        return list(zip(items, episodes))

    def _warm_start(self, s: _Session, demos: list[tuple[Any, Any]]) -> None:
        """Behaviour cloning on the oracle episodes (``policy.warm_start``), then publish the weights."""
        from envgym.trainers.warm_start import warm_start

        episodes = [ep for _, ep in demos]
        if self.config.cluster.backend == "ray":  # the learner actor clones its own copy
            stats = s.learner.warm_start(episodes)
        else:
            stats = warm_start(s.learner, episodes, self.config.policy.warm_start)
        s.logger.event("warm_start", stats)
        s.backend.update_weights(s.learner.policy_state_dict(), s.learner.version)

    def _checkpoint(self, s: _Session, env_steps: float) -> None:
        from envgym.trainers.checkpoint import rng_state, save_checkpoint

        payload = {
            "env_steps": env_steps,
            "step": s.step, "learner": s.learner.state_dict(), "data": s.data.state_dict(), "rng": rng_state(),
            "metrics_offset": s.logger.offset(), "elapsed_s": self._elapsed(s), "eval_before": s.eval_before,
            "config": self.config.model_dump(mode="json"),
        }
        save_checkpoint(self.run_dir, s.step, payload)
        if os.environ.get("ENVGYM_TRAINER_CRASH_AFTER_CHECKPOINT") == str(s.step):  # test hook: die mid-run
            os.kill(os.getpid(), 9)

    def _dump_restored(self, learner: Any, ckpt_path: Any) -> None:
        """Test hook: write the state just restored (to compare bit-exactly with the checkpoint)."""
        target = os.environ.get("ENVGYM_TRAINER_DUMP_RESTORED")
        if target:
            import torch

            torch.save({"checkpoint": str(ckpt_path), "learner": learner.state_dict()}, target)


def _rollout_metrics(groups: list[Group]) -> dict[str, float]:
    """Metrics of the curated batch; ``rollout/success`` is then overwritten by the data manager's
    window over every finished episode (curation drops all-success groups, so the batch alone
    under-reports success)."""
    episodes = [ep for g in groups for ep in g.episodes if not ep.metadata.get("replay") and not ep.infra_error]
    if not episodes:
        return {"rollout/success": float("nan"), "rollout/return": float("nan"), "rollout/turns": 0.0, "batch/episodes": 0.0}
    return {
        "rollout/success": float(np.mean([ep.success for ep in episodes])),
        "rollout/return": float(np.mean([ep.total_return for ep in episodes])),
        "batch/success": float(np.mean([ep.success for ep in episodes])),
        "rollout/turns": float(np.mean([ep.num_turns for ep in episodes])),
        "batch/episodes": float(len(episodes)),
    }


class FailureGuard:
    """``is_set()`` (the learner stops waiting for a batch) when the rollout thread died, or when an
    env is broken rather than flaky: over its last ``window`` calls (resets and steps, see
    :meth:`EnvCluster.failure_rates`) more than ``max_rate`` failed.  The error names the env, its
    rate and its most recent failures."""

    def __init__(self, runner: Any, max_rate: float):
        self.runner = runner
        self.max_rate = max_rate

    def is_set(self) -> bool:
        if self.runner.error is not None:
            return True
        cluster = self.runner.cluster
        if cluster is None:
            return False
        for key, (rate, calls) in cluster.failure_rates().items():
            if calls >= cluster.failure_window and rate > self.max_rate:
                recent = "; ".join(cluster.stats[key].errors[-5:])
                self.runner.error = RuntimeError(
                    f"env {key} is failing: {rate:.0%} of its last {calls} calls failed (limit "
                    f"run.abort_failure_rate={self.max_rate:.0%}); recent errors: {recent}")
                return True
        return False
