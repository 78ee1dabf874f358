"""The decoupled trainer: env cluster + rollout service (background thread) ↔ data manager ↔ learner.

``Trainer(config).run()`` → summary dict.  Per step: take ``B`` curated episodes from the data manager,
``learner.train_step``, checkpoint (atomically, every ``run.checkpoint_every`` steps), publish the new
weights to the rollout backend, bump the version (which opens admission for the next rollouts).
Evaluation on a fixed set of episodes runs before training and at the end.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from envgym.trainers.config import TrainConfig, dump_config
from envgym.trainers.data_manager import DataManager, Group, TaskRef


def task_pool(config: TrainConfig) -> list[TaskRef]:
    """All (env, task id) pairs to train on: ``envs[i].tasks`` or the env's whole task set."""
    import envgym

    pool: list[TaskRef] = []
    for env_cfg in config.envs:
        ids = env_cfg.tasks
        if ids is None:
            kwargs = dict(env_cfg.kwargs)
            if env_cfg.task_file:
                kwargs["tasks"] = env_cfg.task_file
            env = envgym.make(env_cfg.id, **kwargs) if env_cfg.runtime == "local" else None
            if env is None:
                raise ValueError(f"env {env_cfg.key}: list its task ids in envs[].tasks for runtime={env_cfg.runtime}")
            ids = [t.task_id for t in env.unwrapped.tasks]
            env.close()
        pool.extend(TaskRef(env_cfg.key, str(t)) for t in ids)
    return pool


def _check_envs(config: TrainConfig) -> None:
    """Build each local env once up front, so a config mistake fails loudly instead of looking like
    an endless stream of infrastructure failures."""
    from envgym.trainers.env_cluster import build_env

    for env_cfg in config.envs:
        if env_cfg.runtime == "local":
            build_env(env_cfg).close()


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.run_dir = Path(config.run.out_dir)
        self.summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ setup
    def _seed_everything(self) -> None:
        import torch

        seed = self.config.run.seed
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        torch.set_num_threads(self.config.run.torch_threads)

    def run(self) -> dict[str, Any]:
        from envgym.trainers.checkpoint import (
            latest_checkpoint,
            load_checkpoint,
            rng_state,
            save_checkpoint,
            set_rng_state,
        )
        from envgym.trainers.learner import Learner
        from envgym.trainers.metrics import MetricsLogger, plot_curve
        from envgym.trainers.policy import (
            load_learner_policy,
            make_agent_factory,
            make_rollout_backend,
        )
        from envgym.trainers.rollout_runner import RolloutRunner

        cfg = self.config
        start_wall = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._seed_everything()
        ckpt_path = latest_checkpoint(self.run_dir) if cfg.run.resume == "auto" else None
        ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
        (self.run_dir / "config.yaml").write_text(dump_config(cfg))

        model, tokenizer, path = load_learner_policy(cfg)
        learner = Learner(model, tokenizer, cfg, device=cfg.policy.device)
        backend = make_rollout_backend(cfg, model, tokenizer, path)
        tasks = task_pool(cfg)
        _check_envs(cfg)
        data = DataManager(cfg.data, tasks, group_size=cfg.rollout.group_size, batch_episodes=cfg.rollout.batch_episodes,
                           staleness=cfg.staleness, store_dir=self.run_dir, seed=cfg.run.seed)
        step = 0
        elapsed_before = 0.0
        env_steps_before = 0.0
        if ckpt is not None:
            learner.load_state_dict(ckpt["learner"])
            data.load_state_dict(ckpt["data"])
            data.open_store(offset=ckpt["data"]["store_offset"])
            set_rng_state(ckpt["rng"])
            step = int(ckpt["step"])
            elapsed_before = float(ckpt.get("elapsed_s", 0.0))
            env_steps_before = float(ckpt.get("env_steps", 0.0))
            backend.update_weights(learner.policy_state_dict(), learner.version)
            self._dump_restored(learner, ckpt_path)
            if step >= cfg.run.steps:
                print(f"{self.run_dir} already holds a finished run ({step} steps); set run.steps higher to "
                      f"continue it, or choose a new run.out_dir (or run.resume=never) to start again", flush=True)
        else:
            data.open_store()
        logger = MetricsLogger(self.run_dir, total_steps=cfg.run.steps, tensorboard=cfg.run.tensorboard,
                               progress=cfg.run.progress, offset=ckpt["metrics_offset"] if ckpt else None)
        train_factory = make_agent_factory(cfg, tokenizer, backend)
        eval_factory = make_agent_factory(cfg, tokenizer, backend, temperature=cfg.eval.temperature)
        max_wait = None if cfg.rollout.max_wait_ms is None else cfg.rollout.max_wait_ms / 1000.0
        if cfg.mode == "async" and max_wait is None:
            max_wait = 0.02
        runner = RolloutRunner(cfg.envs, backend, data, train_factory, seed=cfg.run.seed,
                               max_batch=cfg.rollout.max_batch, max_wait_s=max_wait,
                               store_observations=cfg.data.store_observations)
        runner.start()
        history: list[dict[str, Any]] = []
        eval_before = eval_after = None
        loop_stats: dict[str, float] = {}
        try:
            if ckpt is None:
                if cfg.eval.episodes_per_task:
                    eval_before = self._evaluate(runner, tasks, eval_factory, logger, step=0, tag="eval_before")
                if cfg.data.seed_with_oracle:
                    self._seed_oracle(runner, data, train_factory, logger)
            else:
                eval_before = ckpt.get("eval_before")
            data.set_version(learner.version)
            runner.set_producing(True)
            wall0 = time.perf_counter()
            loop0 = self._usage(runner)
            last_tick = wall0
            tokens0 = runner.service.stats.completion_tokens + runner.service.stats.prompt_tokens
            while step < cfg.run.steps:
                if cfg.run.time_limit_s is not None and elapsed_before + (time.perf_counter() - start_wall) > cfg.run.time_limit_s:
                    logger.event("time_limit", {"step": step})
                    break
                env_steps = env_steps_before + self._usage(runner)["env_steps"] - loop0["env_steps"]
                if cfg.run.max_env_steps is not None and env_steps >= cfg.run.max_env_steps:
                    logger.event("env_step_budget", {"step": step})
                    break
                groups = data.take_batch(stop=_ErrorFlag(runner, data))
                if groups is None:
                    if runner.error is not None:
                        raise RuntimeError("rollouts failed") from runner.error
                    break
                t_train = time.perf_counter()
                metrics = learner.train_step(groups)
                train_s = time.perf_counter() - t_train
                step += 1
                metrics.update(self._rollout_metrics(groups))
                metrics.update(data.pop_window())
                now = time.perf_counter()
                tokens = runner.service.stats.completion_tokens + runner.service.stats.prompt_tokens
                metrics.update({
                    "policy_version": learner.version,
                    "perf/step_s": now - last_tick, "perf/train_s": train_s,
                    "perf/tokens_per_s": (tokens - tokens0) / max(now - last_tick, 1e-9),
                    "perf/env_util": runner.cluster.utilisation(), "perf/policy_util": runner.service.utilisation(),
                    "perf/wall_s": elapsed_before + now - start_wall,
                    "perf/env_steps": env_steps_before + self._usage(runner)["env_steps"] - loop0["env_steps"],
                    "data/infra_errors": float(runner.cluster.infra_errors),
                })
                metrics.update(data.metrics())
                last_tick, tokens0 = now, tokens
                if cfg.eval.every and step % cfg.eval.every == 0 and step < cfg.run.steps:
                    self._evaluate(runner, tasks, eval_factory, logger, step=step, tag="eval")
                logger.log(step, metrics)
                history.append({"step": step, "success": metrics["rollout/success"], "return": metrics["rollout/return"]})
                due = cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0
                if due or step == cfg.run.steps:
                    self._checkpoint(save_checkpoint, rng_state, learner, data, logger, step,
                                     elapsed_before + time.perf_counter() - start_wall, eval_before, metrics["perf/env_steps"])
                runner.service.publish(learner.policy_state_dict(), learner.version)
                data.set_version(learner.version)
                runner.wake()
            runner.set_producing(False)
            loop_stats = self._loop_stats(runner, loop0, time.perf_counter() - wall0)
            data.close()
            if cfg.eval.episodes_per_task:
                eval_after = self._evaluate(runner, tasks, eval_factory, logger, step=step, tag="eval_after")
        finally:
            runner.stop()
            data.close()
            logger.close()
            backend.close()
        wall = elapsed_before + time.perf_counter() - start_wall
        png = None
        if cfg.run.plot:
            png = str(plot_curve(self.run_dir / "metrics.jsonl", self.run_dir / "curve.png", title=cfg.run.name))
        self.summary = {
            "run_dir": str(self.run_dir), "steps": step, "policy_version": learner.version, "wall_s": round(wall, 1),
            "eval_success_before": eval_before, "eval_success_after": eval_after,
            "curve_png": png, "history": history, "mode": cfg.mode, "estimator": cfg.algo.estimator,
            "infra_errors": runner.cluster.infra_errors if runner.cluster else 0,
            "env_steps": sum(s.steps for s in runner.cluster.stats.values()) if runner.cluster else 0,
            "training_loop": loop_stats,
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

    def _evaluate(self, runner: Any, tasks: list[TaskRef], factory: Any, logger: Any, *, step: int, tag: str) -> float:
        episodes = runner.evaluate(tasks, self.config.eval.episodes_per_task, factory, tag="eval")
        valid = [ep for ep in episodes if not ep.infra_error]
        success = float(np.mean([ep.success for ep in valid])) if valid else float("nan")
        per_task: dict[str, float] = {}
        for ep in valid:
            per_task.setdefault(ep.task_id or "?", []).append(float(ep.success))  # type: ignore[arg-type]
        logger.event("eval", {"step": step, "tag": tag, "success": success, "episodes": len(valid),
                              "mean_turns": float(np.mean([ep.num_turns for ep in valid])) if valid else 0.0,
                              "per_task": {k: float(np.mean(v)) for k, v in per_task.items()}})
        from envgym.trajectory import EpisodeWriter

        with EpisodeWriter(self.run_dir / f"{tag}.jsonl", fsync=False) as writer:
            for ep in episodes:
                writer.write(ep)
        return success

    def _seed_oracle(self, runner: Any, data: DataManager, factory: Any, logger: Any) -> None:
        items = data.oracle_work()
        episodes = runner.collect_oracle(items, factory)
        for item, ep in zip(items, episodes):
            data.add_oracle_episode(item, ep)
        logger.event("oracle_seed", {"episodes": len(episodes), "successes": sum(ep.success for ep in episodes)})

    @staticmethod
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

    def _checkpoint(self, save: Any, rng_state: Any, learner: Any, data: DataManager, logger: Any, step: int,
                    elapsed: float, eval_before: Any, env_steps: float) -> None:
        payload = {
            "env_steps": env_steps,
            "step": step, "learner": learner.state_dict(), "data": data.state_dict(), "rng": rng_state(),
            "metrics_offset": logger.offset(), "elapsed_s": elapsed, "eval_before": eval_before,
            "config": self.config.model_dump(mode="json"),
        }
        save(self.run_dir, step, payload)
        if os.environ.get("ENVGYM_TRAINER_CRASH_AFTER_CHECKPOINT") == str(step):  # test hook: die mid-run
            os.kill(os.getpid(), 9)

    def _dump_restored(self, learner: Any, ckpt_path: Any) -> None:
        """Test hook: write the state just restored (to compare bit-exactly with the checkpoint)."""
        target = os.environ.get("ENVGYM_TRAINER_DUMP_RESTORED")
        if target:
            import torch

            torch.save({"checkpoint": str(ckpt_path), "learner": learner.state_dict()}, target)


class _ErrorFlag:
    """``is_set()`` when the rollout thread died, or when infra failures are most of what finishes
    (an env that cannot run at all would otherwise be retried forever): the learner stops waiting."""

    def __init__(self, runner: Any, data: DataManager):
        self.runner = runner
        self.data = data

    def is_set(self) -> bool:
        if self.runner.error is not None:
            return True
        failed, total = self.data.counts.get("infra_excluded", 0), self.data.counts.get("episodes", 0)
        if failed >= 20 and failed > 0.5 * total:
            self.runner.error = RuntimeError(f"{failed} of {total} episodes failed on infrastructure; "
                                             f"env errors: {self.runner.cluster.summary() if self.runner.cluster else {}}")
            return True
        return False

