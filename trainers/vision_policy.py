"""Vision-language policies in the trainer: weights, rollout backend and agents.

* ``policy.source: tiny-vlm`` builds a from-config tiny VLM (:func:`envgym.agents.tiny_vlm.build_tiny_vlm`,
  options in ``policy.tiny``: ``family``, sizes, ``seed``; the click-grid agent's cell tokens are
  added to its vocabulary); any model directory or hub id whose config has a ``vision_config`` is a
  VLM too.  Both load through ``AutoModelForImageTextToText`` + ``AutoProcessor``
  (:func:`envgym.agents.vision.load_vision_policy`); the learner gets the
  :class:`~envgym.agents.vision.VisionProcessor` where a text policy has its tokenizer.
* The rollout backend is :class:`~envgym.agents.backends.vision_backend.VisionTransformersBackend`
  serving a copy of the weights (free sampling and constrained decoding).
* Agents: ``agent.kind: click_grid`` → :class:`~envgym.agents.click_grid_agent.ClickGridAgent`
  (``agent.click_grid`` columns x rows); ``llm`` → :class:`~envgym.agents.llm.vision_agent.VisionLLMAgent`.
  Both write the images they show the model to the run's content-addressed store
  (``<run.out_dir>/images``), where the learner reads them back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from envgym.agents.base import BatchedAgent
from envgym.image_store import ImageStore
from envgym.trainers.config import TrainConfig

TINY_VLM = "tiny-vlm"


def image_store(config: TrainConfig) -> ImageStore:
    """The run's content-addressed image store (flushed to disk per file when ``data.fsync``)."""
    return ImageStore(Path(config.run.out_dir) / "images", fsync=config.data.fsync)


def is_vision_policy(config: TrainConfig) -> bool:
    if config.policy.source == TINY_VLM:
        return True
    from envgym.agents.models import resolve_model
    from envgym.agents.vision import is_vision_model

    path = resolve_model(config.policy.source, tiny=config.policy.tiny)
    return Path(path).is_dir() and is_vision_model(path)


def vision_policy_path(config: TrainConfig) -> str:
    """The model directory: the tiny VLM built (cached) from ``policy.tiny``, or the source resolved."""
    if config.policy.source != TINY_VLM:
        from envgym.agents.models import resolve_model

        return resolve_model(config.policy.source, tiny=config.policy.tiny)
    from envgym.agents.click_grid_agent import cell_tokens
    from envgym.agents.tiny_vlm import build_tiny_vlm

    options = dict(config.policy.tiny)
    if config.agent.kind == "click_grid":
        options["extra_tokens"] = sorted({*options.get("extra_tokens", []), *cell_tokens(*config.agent.click_grid)})
    return str(build_tiny_vlm(**options))


def load_vision_policy_of(config: TrainConfig, dtype: Any) -> tuple[Any, Any, str]:
    """``(model, VisionProcessor, path)`` of the configured vision-language policy, on ``policy.device``."""
    from envgym.agents.vision import load_vision_policy

    path = vision_policy_path(config)
    model, processor = load_vision_policy(path, device=config.policy.device, dtype=dtype)
    return model, processor, path


def make_vision_backend(config: TrainConfig, model: Any, processor: Any) -> Any:
    if config.rollout.backend != "transformers":
        raise ValueError("vision-language policies roll out with rollout.backend=transformers (VisionTransformersBackend); "
                         "for vLLM serve the model with `vllm serve` and evaluate through an OpenAI-compatible endpoint")
    from envgym.agents.backends.vision_backend import VisionTransformersBackend

    served = copy.deepcopy(model)
    served.eval()
    return VisionTransformersBackend(served, processor, max_batch_size=config.rollout.max_batch)


def make_vision_agent_factory(config: TrainConfig, processor: Any, backend: Any, temperature: float) -> Any:
    """``factory(seed) -> agent`` for a vision-language policy."""
    a = config.agent
    store = image_store(config)
    if a.kind == "click_grid":
        from envgym.agents.click_grid_agent import ClickGridAgent

        shared: dict[str, Any] = {}

        def click(seed: int) -> BatchedAgent:
            agent = ClickGridAgent(processor, store, grid=tuple(a.click_grid), system_prompt=a.system_prompt,
                                   temperature=temperature, seed=seed)
            agent._prompt_cache = shared.setdefault("prompts", agent._prompt_cache)
            return agent

        return click
    if a.kind == "llm":
        from envgym.agents.llm.vision_agent import VisionLLMAgent

        def llm(seed: int) -> BatchedAgent:
            kwargs: dict[str, Any] = {"window": a.window, "action_format": a.action_format,
                                      "sampling": {"max_new_tokens": a.max_new_tokens, "temperature": temperature, "seed": seed}}
            if a.system_prompt:
                kwargs["system_prompt"] = a.system_prompt
            return VisionLLMAgent(backend, image_store=store, processor=processor, **kwargs)

        return llm
    raise ValueError(f"agent.kind={a.kind} has no vision-language agent; use click_grid or llm")
