"""GPU check, ready to run on a CUDA machine with torch + transformers (no vLLM, no network needed).

    python bench/gpu_check.py [--steps 3] [--batch 16] [--new-tokens 64]

A from-config ~0.5B-parameter Qwen2 (Qwen2.5-0.5B shapes, random weights, the tiny policy's
tokenizer) in bf16 goes through envgym's own pieces: :class:`TransformersBackend` generates a batch
(token-in/token-out), the :class:`Learner` recomputes the logprobs and takes PPO steps.  Printed as
JSON: generation tokens/s, learner tokens/s, learner MFU (6·N·tokens / s against the GPU's bf16 peak,
``--peak-tflops``, default 989 = H100/H200 dense), rollout-vs-learner logprob agreement in bf16
(mean/max abs difference), peak memory.  Without CUDA it says so and exits 0.

Status: written and run on CPU only (the no-CUDA path); it has not yet run on a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def build_model(torch, device: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from envgym.agents.tiny_policy import build_tiny_policy, load_policy

    _, tokenizer = load_policy(build_tiny_policy(hidden_size=32, layers=1, heads=2))
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=torch.bfloat16)
    return model, tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"cuda": False, "ran": False, "message": "no CUDA device: nothing to check here"}))
        return 0
    return run(torch, args)


def run(torch, args) -> int:
    import numpy as np

    from envgym.agents.backends.base import GenerationRequest
    from envgym.agents.backends.transformers_backend import TransformersBackend
    from envgym.trainers.batching import token_batch, turn_rows
    from envgym.trainers.config import load_config
    from envgym.trainers.data_manager import Group, TaskRef
    from envgym.trainers.learner import Learner
    from envgym.trajectory import Episode, Turn

    device = "cuda"
    model, tokenizer = build_model(torch, device)
    params = sum(p.numel() for p in model.parameters())
    backend = TransformersBackend(model, tokenizer, max_batch_size=args.batch)
    rng = np.random.default_rng(0)
    requests = [GenerationRequest(prompt_ids=rng.integers(10, len(tokenizer) - 10, args.prompt_tokens).tolist(),
                                  max_new_tokens=args.new_tokens, temperature=1.0, ignore_eos=True, seed=i) for i in range(args.batch)]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gens = backend.generate(requests)
    torch.cuda.synchronize()
    gen_s = time.perf_counter() - t0
    new_tokens = sum(len(g.completion_ids) for g in gens)
    episodes = [Episode(env_id="gpu_check", success=i % 2 == 0, turns=[Turn(
        index=0, observation={}, action="x", reward=float(i % 2 == 0), prompt_ids=g.prompt_ids,
        completion_ids=g.completion_ids, logprobs=g.logprobs, policy_version=0)]) for i, g in enumerate(gens)]
    groups = [Group("g0", (0, 0), TaskRef("gpu_check", "t"), episodes, 0)]
    cfg = load_config(None, ["policy.device=cuda", "policy.dtype=bfloat16", "algo.estimator=grpo", "optim.lr=1e-6"])
    learner = Learner(model, tokenizer, cfg, device=device)
    rows = turn_rows(groups)
    with torch.no_grad():
        logp, _, _ = learner.completion_logprobs(token_batch(rows, np.arange(len(rows)), learner.pad_id, device))
    diffs = np.abs(np.concatenate([logp[i, : len(rows.rollout_logp[i])].float().cpu().numpy() - np.asarray(rows.rollout_logp[i])
                                   for i in range(len(rows))]))
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        learner.train_step(groups)
    torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    tokens = args.steps * sum(len(p) + len(c) for p, c in zip(rows.prompt_ids, rows.completion_ids))
    # per step: one no-grad pass (2·N per token) + one forward/backward (6·N per token)
    flops = 8 * params * tokens
    print(json.dumps({
        "cuda": True, "ran": True, "device": torch.cuda.get_device_name(0), "parameters": params,
        "generation_tokens_per_s": round(new_tokens / gen_s, 1),
        "learner_tokens_per_s": round(tokens / train_s, 1),
        "learner_mfu": round(flops / train_s / (args.peak_tflops * 1e12), 4),
        "logprob_abs_diff_mean_bf16": float(diffs.mean()), "logprob_abs_diff_max_bf16": float(diffs.max()),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
