"""Policy and backend construction from the config.

* ``policy.source = "tiny"`` builds (cached) the from-config tiny Qwen2 of :mod:`envgym.agents.tiny_policy`
  with ``policy.tiny`` options; anything else is a local Hugging Face model directory (or hub id) —
  both load through ``from_pretrained`` (:func:`envgym.agents.tiny_policy.load_policy`).
* The learner trains its own copy; the rollout backend serves another copy and receives weights
  after every step (``backend.update_weights(state_dict, version)``):

  - ``rollout.backend = "transformers"``: :class:`ChoiceTransformersBackend` on ``policy.device``
    (CPU or CUDA), constrained decoding for the choice agent;
  - ``rollout.backend = "vllm"`` (GPU): :class:`envgym.agents.backends.vllm_backend.VLLMBackend` serving the
    same checkpoint in bf16; weights are pushed into the engine in place after each update.  vLLM is
    imported only here, only when asked for.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from envgym.trainers.config import TrainConfig


def policy_path(config: TrainConfig) -> str:
    if config.policy.source == "tiny":
        from envgym.agents.tiny_policy import build_tiny_policy

        return str(build_tiny_policy(**config.policy.tiny))
    return str(config.policy.source)


def _dtype(config: TrainConfig) -> Any:
    import torch

    if config.policy.dtype:
        return getattr(torch, config.policy.dtype)
    return torch.bfloat16 if str(config.policy.device).startswith("cuda") else torch.float32


def load_learner_policy(config: TrainConfig) -> tuple[Any, Any, str]:
    """``(model, tokenizer, path)`` for the learner, on ``policy.device`` in training mode."""
    from envgym.agents.tiny_policy import load_policy

    device = config.policy.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("policy.device is cuda but torch sees no CUDA device; use policy.device=cpu")
    path = policy_path(config)
    model, tokenizer = load_policy(path, device=device, dtype=_dtype(config))
    if config.policy.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    return model, tokenizer, path


def make_rollout_backend(config: TrainConfig, model: Any, tokenizer: Any, path: str) -> Any:
    """The generation backend, serving a copy of ``model`` (version 0)."""
    if config.rollout.backend == "transformers":
        from envgym.agents.backends.choice_backend import ChoiceTransformersBackend

        served = copy.deepcopy(model)
        served.eval()
        return ChoiceTransformersBackend(served, tokenizer, max_batch_size=config.rollout.max_batch)
    if config.rollout.backend == "vllm":
        if config.agent.kind == "choice":
            raise ValueError("rollout.backend=vllm serves free-text agents: set agent.kind=llm (constrained choices need the transformers backend)")
        from envgym.agents.backends.vllm_backend import (
            VLLMBackend,  # import-guarded: raises a clear ImportError without vLLM
        )

        options = {"dtype": "bfloat16", "gpu_memory_utilization": 0.35, "enforce_eager": True, **config.rollout.vllm}
        return VLLMBackend(str(Path(path)) if Path(path).exists() else path, tokenizer=tokenizer, seed=config.run.seed, **options)
    raise ValueError(f"unknown rollout backend {config.rollout.backend!r}")


def make_agent_factory(config: TrainConfig, tokenizer: Any, backend: Any, *, temperature: float | None = None) -> Any:
    """``factory(seed) -> agent`` for one episode (agents hold per-episode state)."""
    a = config.agent
    temp = a.temperature if temperature is None else temperature
    if a.kind == "choice":
        from envgym.agents.choice_agent import ChoiceAgent

        shared: dict[str, Any] = {}

        def choice(seed: int) -> Any:
            agent = ChoiceAgent(tokenizer, observation=a.observation, system_prompt=a.system_prompt,
                                temperature=temp, max_new_tokens=a.max_new_tokens, seed=seed)
            agent._prompt_cache = shared.setdefault("prompts", agent._prompt_cache)
            agent._choice_cache = shared.setdefault("choices", agent._choice_cache)
            return agent

        return choice
    if a.kind in ("llm", "hierarchical"):
        from envgym.agents.llm import LLMAgent

        cls = LLMAgent
        if a.kind == "hierarchical":
            from envgym.agents.hierarchical import HierarchicalAgent

            cls = HierarchicalAgent

        def llm(seed: int) -> Any:
            kwargs: dict[str, Any] = {"window": a.window, "action_format": a.action_format,
                                      "sampling": {"max_new_tokens": a.max_new_tokens, "temperature": temp, "seed": seed}}
            if a.system_prompt:
                kwargs["system_prompt"] = a.system_prompt
            return cls(backend, **kwargs)

        return llm
    raise ValueError(f"unknown agent kind {a.kind!r}")
