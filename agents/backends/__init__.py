"""Model backends behind one interface (:class:`Backend`): token ids in, token ids + logprobs out.

=========================  ==================================================================
``TransformersBackend``    any ``transformers`` causal LM, CPU or CUDA, manual batched sampler
``OpenAIBackend``          any OpenAI-compatible HTTP server (vLLM, SGLang, ...), async, retries
``VLLMBackend``            in-process vLLM engine (GPU, optional extra), in-place weight updates
``ScriptedBackend``        scripted completions, instantly (tests, overhead benchmarks)
``ChoiceTransformersBackend`` constrained decoding: samples only along the token sequences of the
                           request's ``metadata["choices"]`` (admissible actions)
``VisionTransformersBackend`` a ``transformers`` vision-language model (Idefics3/SmolVLM, Qwen2-VL,
                           LLaVA) with its processor; requests carry their images
=========================  ==================================================================

Heavy modules load on first attribute access: ``import envgym.agents.backends`` imports no torch/httpx.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from envgym.agents.backends.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    BackendError,
    BackendTimeout,
    Generation,
    GenerationRequest,
)

_LAZY = {
    "TransformersBackend": "envgym.agents.backends.transformers_backend",
    "OpenAIBackend": "envgym.agents.backends.openai_backend",
    "VLLMBackend": "envgym.agents.backends.vllm_backend",
    "ScriptedBackend": "envgym.agents.backends.scripted",
    "ChoiceTransformersBackend": "envgym.agents.backends.choice_backend",
    "VisionTransformersBackend": "envgym.agents.backends.vision_backend",
}

__all__ = [
    "FINISH_LENGTH", "FINISH_STOP", "Backend", "BackendError", "BackendTimeout", "Generation",
    "GenerationRequest", "make_backend", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envgym.agents.backends' has no attribute {name!r}")


def make_backend(spec: str, **kwargs: Any) -> Backend:
    """A backend from a short spec string.

    * ``"openai:<base_url>"`` — :class:`OpenAIBackend` (``model=``, ``tokenizer=`` in kwargs)
    * ``"vllm:<model>"`` — :class:`VLLMBackend`
    * ``"hf:<model>"`` or a bare model spec — :class:`TransformersBackend` on ``device`` (CPU
      default), where ``<model>`` is any spec of :func:`envgym.agents.models.resolve_model`: ``tiny``,
      ``smollm2-135m-instruct``, ``gguf:PATH``, a local model directory or a hub id
      (``tiny_config=`` holds the tiny policy's options); a local vision-language model directory
      gets :class:`VisionTransformersBackend`
    """
    kind, _, target = spec.partition(":")
    if kind == "openai" and target:
        return __getattr__("OpenAIBackend")(target, **kwargs)
    if kind == "vllm" and target:
        return __getattr__("VLLMBackend")(target, **kwargs)
    from envgym.agents.models import resolve_model

    model = target if kind == "hf" and target else spec
    if not model:
        raise ValueError(f"empty model in backend spec {spec!r}")
    path = resolve_model(model, tiny=kwargs.pop("tiny_config", None))
    from envgym.agents.vision import is_vision_model

    if os.path.isdir(path) and is_vision_model(path):  # a vision-language model: its processor comes with it
        return __getattr__("VisionTransformersBackend")(path, **kwargs)
    return __getattr__("TransformersBackend")(path, **kwargs)
