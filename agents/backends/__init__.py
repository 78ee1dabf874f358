"""Model backends behind one interface (:class:`Backend`): token ids in, token ids + logprobs out.

=========================  ==================================================================
``TransformersBackend``    any ``transformers`` causal LM, CPU or CUDA, manual batched sampler
``OpenAIBackend``          any OpenAI-compatible HTTP server (vLLM, SGLang, ...), async, retries
``VLLMBackend``            in-process vLLM engine (GPU, optional extra), in-place weight updates
``ScriptedBackend``        scripted completions, instantly (tests, overhead benchmarks)
``ChoiceTransformersBackend`` constrained decoding: samples only along the token sequences of the
                           request's ``metadata["choices"]`` (admissible actions)
=========================  ==================================================================

Heavy modules load on first attribute access: ``import envgym.agents.backends`` imports no torch/httpx.
"""

from __future__ import annotations

import importlib
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

    * ``"tiny"`` — the tiny from-config policy (:mod:`envgym.agents.tiny_policy`) on ``device`` (CPU default)
    * ``"hf:<path or hub id>"`` — :class:`TransformersBackend`
    * ``"openai:<base_url>"`` — :class:`OpenAIBackend` (``model=``, ``tokenizer=`` in kwargs)
    * ``"vllm:<path or hub id>"`` — :class:`VLLMBackend`
    """
    kind, _, target = spec.partition(":")
    if kind == "tiny":
        from envgym.agents.tiny_policy import tiny_policy

        device = kwargs.pop("device", "cpu")
        model, tokenizer = tiny_policy(device=device, **kwargs.pop("tiny_config", {}))
        return __getattr__("TransformersBackend")(model, tokenizer, **kwargs)
    if kind == "hf" and target:
        return __getattr__("TransformersBackend")(target, **kwargs)
    if kind == "openai" and target:
        return __getattr__("OpenAIBackend")(target, **kwargs)
    if kind == "vllm" and target:
        return __getattr__("VLLMBackend")(target, **kwargs)
    raise ValueError(f"unknown backend spec {spec!r}; use tiny, hf:<model>, openai:<url> or vllm:<model>")
