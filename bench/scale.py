"""The trainer on Ray (``cluster.backend=ray``) on a local two-node cluster.  Prints JSON.

    python bench/scale.py [--median-ms 150] [--workers-per-node 16] [--steps 6] [--main-steps 12] [--repeats 2]

1. **Scaling**: env-steps/s of the real trainer (async) on a latency-bound env — every step sleeps
   ``median · exp(σ·N(0,1))`` (``LatencyEnv``) — with env actors on 1 node (``W`` envs) and on 2
   nodes (``2W`` envs, actors spread); scaling efficiency = rate(2 nodes) / (2 · rate(1 node)).
2. **Overhead**: the README's main job (``configs/maze_heldout.yaml``, evaluation off) for
   ``--main-steps`` steps in one process and on Ray on this one machine (env actors on the head):
   training-loop seconds and whole-run seconds, Ray / local.
3. **Restart**: an env actor SIGKILLed mid-run — seconds until its replacement runs (from the kill,
   and from the driver noticing) — then the second node killed: seconds until its actors run again
   on the head.
4. **Costs per step**, for docs/scaling.md's estimate: driver CPU per episode and per env step (on
   Ray the driver runs the agent loop and the data manager; the learner and generation are actors),
   bytes of the weights published per step, of the episodes sent to the learner per step, and of
   one env call and one generation request/reply.

The runs alternate (1 node, 2 nodes, …; local, Ray, …) and ratios use medians over ``--repeats``
(the overhead also best-of), so load from other processes hits both sides alike; the load average
is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUIET = ["run.progress=false", "run.tensorboard=false", "run.plot=false", "eval.episodes_per_task=0",
         "run.checkpoint_every=0", "data.fsync=false"]
RAY_ACTORS = ["cluster.learner.resources={trainer: 1}", "cluster.rollout.resources={trainer: 1}",
              "cluster.env_actors.num_cpus=0.25", "cluster.env_actors.envs_per_actor=8"]


# ---------------------------------------------------------------------- one training run (a child process)


def run_child(config: str, overrides: list[str]) -> dict:
    """Train in a fresh process; return its summary plus the driver's CPU over the training loop."""
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps([config, overrides])], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{\"child\"")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"training run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])["child"]


def child_main(spec: str) -> None:
    from envgym.trainers.config import load_config
    from envgym.trainers.trainer import Trainer

    config, overrides = json.loads(spec)
    trainer = Trainer(load_config(ROOT / config, overrides))
    meter = LoopMeter(Path(trainer.config.run.out_dir) / "metrics.jsonl")
    meter.start()
    summary = trainer.run()
    meter.stop()
    print(json.dumps({"child": {"summary": {k: v for k, v in summary.items() if k != "history"}, **meter.result()}}))


class LoopMeter:
    """Driver CPU seconds between the first and the last logged training step, per episode and per
    env step finished in between (read from the metrics the trainer writes)."""

    def __init__(self, metrics: Path):
        self.metrics = metrics
        self.first: tuple[float, dict] | None = None
        self.last: tuple[float, dict] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self._read()

    def _read(self) -> None:
        if not self.metrics.exists():
            return
        steps = [json.loads(line) for line in self.metrics.read_text().splitlines() if '"policy_version"' in line]
        if not steps:
            return
        cpu = _cpu_seconds()
        if self.first is None:
            self.first = (cpu, steps[0])
        if self.last is None or steps[-1]["step"] > self.last[1]["step"]:
            self.last = (cpu, steps[-1])

    def result(self) -> dict:
        if self.first is None or self.last is None or self.last[1]["step"] == self.first[1]["step"]:
            return {}
        (cpu0, m0), (cpu1, m1) = self.first, self.last
        episodes = m1.get("data/episodes", 0) - m0.get("data/episodes", 0)
        env_steps = m1["perf/env_steps"] - m0["perf/env_steps"]
        cpu = cpu1 - cpu0
        return {"driver_cpu_s": round(cpu, 3), "episodes": episodes, "env_steps": env_steps,
                "driver_cpu_ms_per_episode": round(1000 * cpu / max(episodes, 1), 3),
                "driver_cpu_ms_per_env_step": round(1000 * cpu / max(env_steps, 1), 4)}


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------------- the measurements


def latency_job(out: Path, args: argparse.Namespace, workers: int) -> list[str]:
    return [f"run.out_dir={out}", f"run.steps={args.steps}", "mode=async", *QUIET, f"rollout.max_staleness={args.staleness}",
            "envs.0.tasks=[maze-3x3-0, maze-3x3-1, maze-3x3-2, maze-3x3-3]", f"envs.0.workers={workers}",
            f"envs.0.latency.median_s={args.median_ms / 1000}", f"envs.0.latency.sigma={args.sigma}",
            f"rollout.batch_episodes={args.batch}", f"rollout.max_wait_ms={args.max_wait_ms}", f"run.seed={args.seed}"]


def scaling(cluster, args: argparse.Namespace, tmp: Path) -> dict:
    runs: dict[str, list[dict]] = {"1_node": [], "2_nodes": []}
    for rep in range(args.repeats):
        for name, nodes in (("1_node", 1), ("2_nodes", 2)):
            placement = [f"cluster.address={cluster.address}", "cluster.backend=ray", *RAY_ACTORS,
                         f"cluster.env_actors.resources={{envs{nodes}: 1}}"]
            result = run_child("configs/maze_tiny.yaml", latency_job(tmp / f"{name}-{rep}", args, nodes * args.workers_per_node) + placement)
            placed = json.loads((tmp / f"{name}-{rep}" / "cluster.json").read_text())["steps_per_node"]
            runs[name].append({**result["summary"]["training_loop"], "steps_per_node": sorted(placed.values()),
                               "driver_cpu_ms_per_env_step": result.get("driver_cpu_ms_per_env_step"),
                               "driver_cpu_ms_per_episode": result.get("driver_cpu_ms_per_episode")})
    one = statistics.median(r["env_steps_per_s"] for r in runs["1_node"])
    two = statistics.median(r["env_steps_per_s"] for r in runs["2_nodes"])
    return {"runs": runs, "env_steps_per_s_1_node": one, "env_steps_per_s_2_nodes": two,
            "scaling_efficiency": round(two / (2 * one), 3), "goal": ">= 0.8"}


def overhead(cluster, args: argparse.Namespace, tmp: Path) -> dict:
    job = ["run.steps=%d" % args.main_steps, "run.time_limit_s=null", *QUIET]
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    for rep in range(args.repeats):
        for name in ("local", "ray"):
            extra = [] if name == "local" else [f"cluster.address={cluster.address}", "cluster.backend=ray", *RAY_ACTORS,
                                                "cluster.env_actors.resources={envs1: 1}",
                                                f"cluster.env_actors.envs_per_actor={args.main_envs_per_actor}"]
            result = run_child("configs/maze_heldout.yaml", [f"run.out_dir={tmp / f'main-{name}-{rep}'}", *job, *extra])
            s = result["summary"]
            runs[name].append({"training_loop_s": s["training_loop"]["seconds"], "wall_s": s["wall_s"],
                               "env_steps": s["training_loop"]["env_steps"],
                               "driver_cpu_ms_per_episode": result.get("driver_cpu_ms_per_episode")})
    def ratio(key: str, pick) -> float:
        return round(pick(r[key] for r in runs["ray"]) / pick(r[key] for r in runs["local"]), 3)

    return {"config": "configs/maze_heldout.yaml", "steps": args.main_steps, "runs": runs,
            "training_loop_ray_over_local": ratio("training_loop_s", statistics.median),
            "training_loop_ray_over_local_best_of": ratio("training_loop_s", min),
            "wall_ray_over_local": ratio("wall_s", statistics.median), "goal": "training loop <= 1.15"}


def restarts(cluster, args: argparse.Namespace, tmp: Path) -> dict:
    """In this process: train; kill one env actor, then node2; time the replacements."""
    from envgym.trainers.config import load_config
    from envgym.trainers.trainer import Trainer

    out = tmp / "restart"
    overrides = latency_job(out, args, 2 * args.workers_per_node) + [
        "run.steps=1000", f"cluster.address={cluster.address}", "cluster.backend=ray", *RAY_ACTORS,
        "cluster.env_actors.resources={envs2: 1}", "cluster.rebalance_s=1"]
    trainer = Trainer(load_config(ROOT / "configs/maze_tiny.yaml", overrides))
    found: dict = {}
    thread = threading.Thread(target=_kill_and_time, args=(cluster, trainer, out, found), daemon=True)
    thread.start()
    trainer.run()
    thread.join()
    if "error" in found:
        raise RuntimeError(found["error"])
    return found


def _kill_and_time(cluster, trainer, out: Path, found: dict) -> None:
    try:
        events = lambda name: [json.loads(x) for x in (out / "cluster.jsonl").read_text().splitlines()  # noqa: E731
                               if json.loads(x)["event"] == name] if (out / "cluster.jsonl").exists() else []
        _wait(lambda: len(_steps(out)) >= 2)
        victim = events("env_actor_ready")[0]
        killed = time.time()
        os.kill(victim["pid"], signal.SIGKILL)
        _wait(lambda: any(e.get("replaces") == victim["actor"] for e in events("env_actor_ready")))
        ready = next(e for e in events("env_actor_ready") if e.get("replaces") == victim["actor"])
        found["env_actor_kill_to_running_s"] = round(ready["time"] - killed, 3)
        found["env_actor_noticed_to_running_s"] = ready["restart_s"]
        node2 = {e["node"] for e in events("env_actor_ready") if "trainer" not in _labels(out, e["node"])}
        before = len(events("env_actor_ready"))
        lost = [e["actor"] for e in events("env_actor_ready") if e["node"] in node2 and e["actor"] not in
                {x["actor"] for x in events("env_actor_lost")}]
        killed = time.time()
        cluster.kill_node("node2")
        _wait(lambda: len(events("env_actor_ready")) >= before + len(lost))
        found["node_lost_actors"] = len(lost)
        found["node_kill_to_all_running_s"] = round(max(e["time"] for e in events("env_actor_ready")) - killed, 3)
        found["health_check"] = "ray defaults (the node's calls fail at once; Ray marks the node dead later)"
    except BaseException as exc:  # noqa: BLE001 - reported by the caller
        found["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        trainer.config.run.steps = len(_steps(out)) + 1


def _labels(out: Path, node: str) -> list[str]:
    for line in (out / "cluster.jsonl").read_text().splitlines():
        event = json.loads(line)
        for n in event.get("nodes", []):
            if n["node"] == node:
                return n["labels"]
    return []


def _steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    return [1 for line in path.read_text().splitlines() if '"policy_version"' in line] if path.exists() else []


def _wait(condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the restart bench waited too long")
        time.sleep(0.02)


def costs(tmp: Path, args: argparse.Namespace) -> dict:
    """Bytes that cross process boundaries per training step and per call (pickled, as Ray sends them)."""
    import envgym
    from envgym.agents.backends.base import Generation
    from envgym.trainers.checkpoint import latest_checkpoint, load_checkpoint
    from envgym.trainers.cluster.model_actors import load_tokenizer
    from envgym.trainers.config import load_config
    from envgym.trainers.policy import make_agent_factory
    from envgym.trajectory import read_episodes

    run = tmp / "main-ray-0"
    episodes = read_episodes(run / "trajectories.jsonl")
    weights = load_checkpoint(latest_checkpoint(run))["learner"]["model"]
    env = envgym.make("envgym/Maze-v0", width=3, height=3, max_turns=24)
    obs, info = env.reset(seed=0)
    step = env.step("north")
    env.close()
    config = load_config(ROOT / "configs/maze_heldout.yaml")
    agent = make_agent_factory(config, load_tokenizer(config), None)(0)
    agent.reset(obs, info)
    request = agent.prepare(obs, info)  # what the driver sends the rollout actor per turn
    turn = episodes[0].turns[0]
    reply = Generation(completion_ids=turn.completion_ids, logprobs=turn.logprobs, text=str(turn.action),
                       finish_reason="stop", policy_version=turn.policy_version, prompt_ids=turn.prompt_ids)
    return {
        "weights_bytes_per_step": sum(t.numel() * t.element_size() for t in weights.values()),
        "episodes_bytes_per_step": len(pickle.dumps(episodes[:32])),
        "episode_bytes": round(len(pickle.dumps(episodes)) / len(episodes)),
        "turns_per_episode": round(sum(ep.num_turns for ep in episodes) / len(episodes), 2),
        "env_step_call_bytes": len(pickle.dumps(("north",))) + len(pickle.dumps(step)),
        "env_reset_call_bytes": len(pickle.dumps((0, {"task": "x"}))) + len(pickle.dumps((obs, info))),
        "generation_bytes": len(pickle.dumps(request)) + len(pickle.dumps(reply)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--median-ms", type=float, default=150.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--workers-per-node", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--staleness", type=int, default=4)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--main-steps", type=int, default=12)
    parser.add_argument("--main-envs-per-actor", type=int, default=32, help="the main job's 64 envs in 2 actors (2 cores)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child)
        return {}
    from envgym.trainers.cluster.local import LocalRayCluster

    load = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="egscale-", dir="/tmp") as tmp_name, \
            LocalRayCluster(num_cpus=8, resources={"trainer": 2, "envs1": 64, "envs2": 64}) as cluster:
        cluster.add_node("node2", num_cpus=8, resources={"envs2": 64})
        tmp = Path(tmp_name)
        report = {"bench": "scale", "cpu_cores": os.cpu_count(),
                  "latency": {"median_ms": args.median_ms, "sigma": args.sigma, "distribution": "lognormal"},
                  "workers_per_node": args.workers_per_node, "batch_episodes": args.batch, "staleness": args.staleness,
                  "scaling": scaling(cluster, args, tmp), "overhead": overhead(cluster, args, tmp)}
        report["costs"] = costs(tmp, args)
        with contextlib.redirect_stdout(sys.stderr):  # this process is a Ray driver now: its logs are not the JSON
            report["restart"] = restarts(cluster, args, tmp)
    load["end"] = os.getloadavg()
    report["load_average"] = {k: [round(x, 2) for x in v] for k, v in load.items()}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
