"""vLLM in-process engine: fast batched token-in/token-out sampling on a GPU, weights updated in place.

Optional: needs ``pip install 'envgym[vllm]'`` and a CUDA GPU; importing this module is free, building
a :class:`VLLMBackend` imports vLLM and fails with a clear message when it is missing.

* prompts go in as ``TokensPrompt(prompt_token_ids=...)`` — never re-tokenised;
* ``SamplingParams(logprobs=0)`` returns exactly the sampled token's logprob per position;
* the engine is created with ``logprobs_mode="processed_logprobs"`` (vLLM >= 0.10.2; silently
  dropped on older versions, which return raw logprobs) so logprobs follow the convention of
  :mod:`envgym.agents.backends.base` (after temperature);
* :meth:`VLLMBackend.update_weights` loads a state dict through the model's ``load_weights`` —
  directly when the engine runs in this process (vLLM V0, or V1 with
  ``VLLM_ENABLE_V1_MULTIPROCESSING=0``), else on every worker through ``LLM.collective_rpc`` — and
  then resets the prefix cache (cached KV blocks were computed by the old weights).

**Images.**  A request with ``images`` (a vision agent's turn) goes in as
``TokensPrompt(prompt_token_ids=..., multi_modal_data={"image": [...]}, mm_processor_kwargs=...)``:
the ids already hold each image's placeholder tokens, expanded by the model's processor, and vLLM's
multimodal processor finds those expanded placeholders in the token prompt instead of expanding again;
the images are the prepared PIL images (already at the model's geometry), and ``mm_processor_kwargs``
the recorded processor call (resizing off), so vLLM's image inputs are the same pixels
(:func:`vllm_prompt`).  Serve the model with ``limit_mm_per_prompt={"image": N}`` at least the
images of a context.

Not exercised by the CPU test-suite (there is no GPU there); keep it small and explicit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from envgym.agents.backends.base import FINISH_LENGTH, Backend, Generation, GenerationRequest

_INSTALL_HINT = (
    "VLLMBackend needs vLLM, which runs on a CUDA GPU: `pip install 'envgym[vllm]'`. "
    "On a CPU host use TransformersBackend, or OpenAIBackend against a running `vllm serve`."
)


def _import_vllm() -> Any:
    try:
        import vllm  # noqa: F401
        from vllm import LLM, SamplingParams
    except ImportError as exc:  # also raised when vLLM's CUDA extensions fail to load
        raise ImportError(f"{_INSTALL_HINT} (import failed: {exc})") from exc
    try:
        from vllm.inputs import TokensPrompt
    except ImportError:  # very old vLLM: a plain dict has the same shape
        TokensPrompt = dict  # noqa: N806
    return LLM, SamplingParams, TokensPrompt


class VLLMBackend(Backend):
    """``VLLMBackend("Qwen/Qwen2.5-0.5B-Instruct", gpu_memory_utilization=0.5)``; extra keyword
    arguments go to ``vllm.LLM``."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tokenizer: Any = None,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        seed: int = 0,
        enforce_eager: bool = False,
        logprobs_mode: str | None = "processed_logprobs",
        policy_version: int = 0,
        **llm_kwargs: Any,
    ):
        super().__init__()
        LLM, self._SamplingParams, self._TokensPrompt = _import_vllm()
        kwargs: dict[str, Any] = {
            "model": str(model), "dtype": dtype, "gpu_memory_utilization": gpu_memory_utilization,
            "seed": seed, "enforce_eager": enforce_eager, **llm_kwargs,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = int(max_model_len)
        if logprobs_mode is not None:
            kwargs["logprobs_mode"] = logprobs_mode
        try:
            self.llm = LLM(**kwargs)
        except TypeError as exc:  # vLLM without logprobs_mode
            if "logprobs_mode" not in str(exc):
                raise
            kwargs.pop("logprobs_mode")
            self.llm = LLM(**kwargs)
        self.logprobs_mode = kwargs.get("logprobs_mode", "raw_logprobs")
        self._tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self._policy_version = int(policy_version)
        self._lock = threading.Lock()  # vllm.LLM is not thread-safe

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        if not requests:
            return []
        prompts = []
        params = []
        for request in requests:
            if not request.prompt_ids:
                raise ValueError("VLLMBackend needs prompt_ids (token-in)")
            prompts.append(vllm_prompt(request, self._TokensPrompt))
            params.append(
                self._SamplingParams(
                    n=1,
                    max_tokens=request.max_new_tokens,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    seed=request.seed,
                    stop=list(request.stop) or None,
                    stop_token_ids=list(request.stop_token_ids) or None,
                    ignore_eos=request.ignore_eos,
                    include_stop_str_in_output=True,
                    skip_special_tokens=False,
                    logprobs=0,  # the sampled token's logprob only
                )
            )
        with self._lock:
            outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
            version = self._policy_version
        results = []
        for request, output in zip(requests, outputs):
            completion = output.outputs[0]
            ids = [int(t) for t in completion.token_ids]
            results.append(
                Generation(
                    completion_ids=ids,
                    logprobs=_sampled_logprobs(completion.logprobs, ids),
                    text=completion.text,
                    finish_reason=completion.finish_reason or FINISH_LENGTH,
                    policy_version=version,
                    prompt_ids=list(request.prompt_ids),
                    usage={"prompt_tokens": len(request.prompt_ids), "completion_tokens": len(ids)},
                )
            )
        return results

    def update_weights(self, weights: Any, version: int | None = None) -> int:
        """Load ``weights`` (a state dict, a ``(name, tensor)`` iterable or a model with
        ``state_dict()``) into the engine's model in place, reset the prefix cache, bump the version.
        Names are the Hugging Face checkpoint names (what ``model.state_dict()`` of the HF model gives)."""
        if hasattr(weights, "state_dict"):
            weights = weights.state_dict()
        items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        with self._lock:
            model = self._in_process_model()
            if model is not None:
                model.load_weights(weights=iter(items))
            else:
                cpu_items = [(name, tensor.detach().to("cpu")) for name, tensor in items]

                def _load_on_worker(worker: Any, named: list[tuple[str, Any]]) -> int:
                    device = next(worker.model_runner.model.parameters()).device
                    worker.model_runner.model.load_weights(weights=((n, t.to(device)) for n, t in named))
                    return len(named)

                self.llm.collective_rpc(_load_on_worker, args=(cpu_items,))
            reset = getattr(self.llm, "reset_prefix_cache", None)
            if callable(reset):
                reset()
            return self._next_version(version)

    def _in_process_model(self) -> Any:
        """The engine's ``nn.Module`` when it lives in this process, else ``None``."""
        engine = getattr(self.llm, "llm_engine", None)
        candidates = [
            ("model_executor", "driver_worker", "worker", "model_runner", "model"),  # V0 (TRL's path)
            ("model_executor", "driver_worker", "model_runner", "model"),
            ("engine_core", "engine_core", "model_executor", "driver_worker", "worker", "model_runner", "model"),
        ]
        for path in candidates:
            node = engine
            for attr in path:
                node = getattr(node, attr, None)
                if node is None:
                    break
            if node is not None and hasattr(node, "load_weights"):
                return node
        return None

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            shutdown = getattr(getattr(llm, "llm_engine", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            self.llm = None


def vllm_prompt(request: GenerationRequest, tokens_prompt: Any = dict) -> Any:
    """The engine prompt of ``request``: its token ids, and for a vision turn its images (the prepared
    PIL images, in placeholder order) with the processor call that made their placeholders."""
    if not request.images:
        return tokens_prompt(prompt_token_ids=list(request.prompt_ids))
    calls = {str(sorted(getattr(image, "call", {}).items())) for image in request.images}
    if len(calls) > 1:
        raise ValueError("the images of one prompt were processed with different settings; vLLM takes one set per prompt")
    return tokens_prompt(prompt_token_ids=list(request.prompt_ids),
                         multi_modal_data={"image": [image.image for image in request.images]},
                         mm_processor_kwargs=dict(getattr(request.images[0], "call", {})))


def _sampled_logprobs(position_logprobs: Any, ids: list[int]) -> list[float] | None:
    """vLLM's per-position ``{token_id: Logprob}`` (or FlatLogprobs) -> the sampled tokens' values."""
    if position_logprobs is None:
        return None
    values = []
    for position, token in enumerate(ids):
        entry = position_logprobs[position]
        value = entry[token] if token in entry else None
        if value is None:
            return None
        values.append(float(getattr(value, "logprob", value)))
    return values
