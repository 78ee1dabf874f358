"""Container costs, printed as JSON: image builds, cold start vs warm pool, steps/s, death detection.

    python bench/containers.py                    # cached images
    python bench/containers.py --cold-images      # also time the first bootstrap + build (removes the
                                                  # base image, its rootfs tarball and the built tags)

* ``images``: ``build_cached_s`` — ``build_image`` when the tag exists (hash the context + lookup);
  with ``--cold-images``: ``bootstrap_base_s`` (debootstrap + import), ``build_base_s`` and
  ``build_sandbox_s`` from an empty engine cache.
* ``cold_start``: ``envgym.make(env, runtime="container")`` with a built image, up to the first
  ``reset`` reply — create + start + server boot + ``/health`` + session (and its parts).
* ``warm_pool``: ``pool.acquire()`` + ``reset`` on a pool whose containers are up;
  ``speedup`` = cold median / warm median.
* ``steps``: steps/s of one env in a container (a WebSocket round trip each) vs in-process.
* ``dead_container_detect_s``: from ``kill`` of a container mid-episode to the ``InfraError``.
* ``sandbox``: PythonSandbox-v0 runner start, per-call ``python(code)`` latency, and the episode
  ``reset`` (a fresh container: from the warm spare, and without one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import envgym  # noqa: E402
from envgym.containers.engine import docker_client, repo_root  # noqa: E402
from envgym.containers.images import DEFAULT_BASE_IMAGE, base_image, build_image, image_exists, image_tag  # noqa: E402
from envgym.containers.pool import EnvPool  # noqa: E402
from envgym.containers.runtime import get_runtime  # noqa: E402
from tests.support.containers import ensure_test_engine  # noqa: E402


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
        "n": len(samples),
    }


def cold_images() -> dict[str, float]:
    """Remove the base image, its cached rootfs and the built tags; time bootstrap and builds."""
    client = docker_client()
    for name in ("base", "sandbox"):
        tag = image_tag(name)
        if image_exists(tag):
            client.images.remove(tag, force=True)
    if base_image() == DEFAULT_BASE_IMAGE and image_exists(DEFAULT_BASE_IMAGE):
        client.images.remove(DEFAULT_BASE_IMAGE, force=True)
    cache = Path(os.environ.get("ENVGYM_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "envgym")
    (cache / "base-debian-bookworm.tar").unlink(missing_ok=True)
    subprocess.run(["podman", "image", "prune", "-f"], capture_output=True)  # drop cached build layers
    result: dict[str, float] = {}
    start = time.perf_counter()
    subprocess.run(["bash", str(repo_root() / "containers" / "bootstrap-base.sh")], check=True, capture_output=True)
    result["bootstrap_base_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    build_image("base")
    result["build_base_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    build_image("sandbox")
    result["build_sandbox_s"] = round(time.perf_counter() - start, 2)
    return result


def cold_starts(env_id: str, image: str, rounds: int) -> dict[str, Any]:
    from envgym.containers.runtime import connect_remote

    runtime = get_runtime()
    totals, parts = [], {"start_and_health_s": [], "session_s": [], "first_reset_s": []}
    for seed in range(rounds):
        t0 = time.perf_counter()
        handle = runtime.start_env_container(env_id, image)
        t1 = time.perf_counter()
        remote = connect_remote(handle)
        t2 = time.perf_counter()
        remote.reset(seed=seed)
        t3 = time.perf_counter()
        totals.append(t3 - t0)
        parts["start_and_health_s"].append(t1 - t0)
        parts["session_s"].append(t2 - t1)
        parts["first_reset_s"].append(t3 - t2)
        remote.close()
        handle.remove()
    # The same through the public API, for reference.
    t0 = time.perf_counter()
    env = envgym.make(env_id, runtime="container", image=image)
    env.reset(seed=0)
    make_reset = time.perf_counter() - t0
    env.close()
    return {
        **summary(totals),
        "parts_median_s": {k: round(statistics.median(v), 4) for k, v in parts.items()},
        "make_plus_reset_s": round(make_reset, 4),
    }


def warm_pool(env_id: str, image: str, size: int, rounds: int) -> dict[str, Any]:
    samples = []
    with EnvPool(env_id, size=size, image=image) as pool:
        t0 = time.perf_counter()
        pool.wait_ready(timeout=300)
        fill = time.perf_counter() - t0
        for seed in range(rounds):
            pool.wait_ready(timeout=60)  # not timed: the pool refills between episodes
            t0 = time.perf_counter()
            env = pool.acquire()
            env.reset(seed=seed)
            samples.append(time.perf_counter() - t0)
            env.step("north")
            pool.release(env)
    return {**summary(samples), "pool_size": size, "fill_s": round(fill, 2)}


def steps_per_second(env: Any, steps: int) -> float:
    env.reset(seed=0)
    actions = ["north", "east", "south", "west"]
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % 4])
        if terminated or truncated:
            env.reset(seed=i)
    return round(steps / (time.perf_counter() - start), 1)


def dead_detection(env_id: str, image: str) -> float:
    env = envgym.make(env_id, runtime="container", image=image)
    try:
        env.reset(seed=0)
        docker_client().api.kill(env.handle.container_id)
        start = time.perf_counter()
        try:
            for _ in range(100000):
                env.step("north")
        except envgym.InfraError:
            return round(time.perf_counter() - start, 3)
        raise RuntimeError("a killed container kept answering")
    finally:
        env.close()


def sandbox_latency(calls: int) -> dict[str, Any]:
    env = envgym.make("envgym/PythonSandbox-v0").unwrapped
    try:
        t0 = time.perf_counter()
        env.reset(options={"task": "binary-2024"})
        start = time.perf_counter() - t0
        env.run_code("print(1)")  # the first exec of a container is slower
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            env.run_code("print(sum(range(1000)))")
            samples.append(time.perf_counter() - t0)
        return {"runner_start_s": round(start, 3), "exec": summary(samples),
                "episode_reset": sandbox_resets(env, 8), "episode_reset_no_spare": sandbox_resets(None, 4)}
    finally:
        env.close()


def sandbox_resets(env: Any, episodes: int) -> dict[str, Any]:
    """``reset`` between episodes (each swaps in a fresh container): with the warm spare of ``env``,
    or (``env=None``) without one, where each reset starts its container; an episode of 3 calls between."""
    own = env is None
    if own:
        env = envgym.make("envgym/PythonSandbox-v0").unwrapped
        env.runner.warm_spare = False
    try:
        env.reset(options={"task": "binary-2024"})
        samples = []
        for _ in range(episodes):
            for _ in range(3):
                env.run_code("print(sum(range(1000)))")
            t0 = time.perf_counter()
            env.reset(options={"task": "binary-2024"})
            samples.append(time.perf_counter() - t0)
        return summary(samples)
    finally:
        if own:
            env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="envgym/Maze-v0")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--cold-images", action="store_true")
    args = parser.parse_args()

    report: dict[str, Any] = {"engine": ensure_test_engine(), "env_id": args.env, "cpus": os.cpu_count()}
    images: dict[str, Any] = cold_images() if args.cold_images else {}
    tag = build_image(envgym.spec(args.env).image)
    build_image("sandbox")
    cached = []
    for _ in range(3):  # best of 3: a source edit in between would make one call a real build
        t0 = time.perf_counter()
        build_image(envgym.spec(args.env).image)
        cached.append(time.perf_counter() - t0)
    images["build_cached_s"] = round(min(cached), 4)
    images["base_image_size_mb"] = round(docker_client().images.get(tag).attrs["Size"] / 1e6, 1)
    images["sandbox_image_size_mb"] = round(docker_client().images.get(build_image("sandbox")).attrs["Size"] / 1e6, 1)
    report["images"] = images

    report["cold_start"] = cold_starts(args.env, tag, args.rounds)
    report["warm_pool"] = warm_pool(args.env, tag, args.pool_size, args.rounds * 4)
    report["speedup_cold_over_warm"] = round(report["cold_start"]["median_s"] / report["warm_pool"]["median_s"], 1)

    container_env = envgym.make(args.env, runtime="container", image=tag)
    try:
        in_container = steps_per_second(container_env, args.steps)
    finally:
        container_env.close()
    local_env = envgym.make(args.env)
    report["steps"] = {
        "steps_per_s_container": in_container,
        "steps_per_s_in_process": steps_per_second(local_env, args.steps),
    }
    report["dead_container_detect_s"] = dead_detection(args.env, tag)
    report["sandbox"] = sandbox_latency(20)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
