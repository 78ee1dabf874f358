"""The model-backend interface: token ids in, token ids + logprobs out.

Every backend — a local transformers model, a vLLM engine, an OpenAI-compatible HTTP server, a
scripted stand-in — answers the same call::

    generations = backend.generate([GenerationRequest(prompt_ids=[...], max_new_tokens=64)])

A :class:`GenerationRequest` carries the prompt as **token ids** (token-in) and the sampling
parameters; a :class:`Generation` carries the sampled **token ids** (token-out), the log-probability
of each sampled token under the sampling distribution, the decoded text, why generation stopped and
the policy version of the weights that sampled it.  The trainer consumes the ids and logprobs as they
are: nothing is ever re-tokenised between the sampler and the loss.

Logprob convention (all backends that can choose): ``logprobs[i] = log softmax(z_i / T)[y_i]`` where
``z_i`` are the model's logits at completion position ``i``, ``T`` the temperature (``T = 1`` when
sampling greedily, ``temperature == 0``) and ``y_i`` the sampled token — the distribution the token
was drawn from, before top-p truncation.  A trainer recomputing ``log softmax(z / T)`` reproduces it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

FINISH_STOP = "stop"  # an eos / stop token id / stop string ended the completion
FINISH_LENGTH = "length"  # max_new_tokens reached


class BackendError(RuntimeError):
    """A backend could not produce a generation (server down after retries, bad reply, ...)."""


class BackendTimeout(BackendError, TimeoutError):
    """A backend did not answer within its timeout, retries included."""


@dataclass
class GenerationRequest:
    """One completion to sample.

    ``prompt_ids`` is the exact prompt (token-in).  ``messages`` (and ``tools``) are for chat-only use
    with a server that renders its own template; when ``prompt_ids`` is given it always wins.
    ``stop`` strings end the completion once the decoded completion contains one (the tokens up to and
    including the one that completed it are kept, so text == decode(ids)); ``stop_token_ids`` end it
    when sampled (the stop token is kept as the last completion id).  The tokenizer's eos ends it too
    unless ``ignore_eos``.  ``seed`` makes the sample reproducible independently of batch composition
    on backends that can.  ``images`` are the prompt's images in the order of their placeholders
    (:class:`envgym.agents.vision.PromptImage`, already expanded in ``prompt_ids``); a backend that
    cannot see images refuses such a request rather than answer without them.
    """

    prompt_ids: list[int] = field(default_factory=list)
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    seed: int | None = None
    ignore_eos: bool = False
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    images: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.prompt_ids = [int(t) for t in self.prompt_ids]
        if not self.prompt_ids and not self.messages:
            raise ValueError("a GenerationRequest needs prompt_ids (or messages for chat-only servers)")


@dataclass
class Generation:
    """One sampled completion.

    ``completion_ids`` and ``logprobs`` have the same length when logprobs are known (``logprobs`` is
    ``None`` when a server does not return them).  ``ids_exact`` is ``False`` when the ids were
    obtained by tokenising returned text (a server that returns no ids): such turns must not be
    trained on as if they were the sampled tokens.
    """

    completion_ids: list[int]
    logprobs: list[float] | None
    text: str
    finish_reason: str
    policy_version: int = 0
    prompt_ids: list[int] | None = None
    ids_exact: bool = True
    tool_calls: list[dict[str, Any]] | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.logprobs is not None and len(self.logprobs) != len(self.completion_ids):
            raise ValueError(
                f"{len(self.logprobs)} logprobs for {len(self.completion_ids)} completion tokens"
            )


class Backend:
    """Base class of model backends.  Subclasses implement :meth:`generate` (batched) and may
    override :meth:`agenerate` (the default runs :meth:`generate` in a worker thread)."""

    name: str = "backend"

    def __init__(self) -> None:
        self._policy_version = 0

    # ------------------------------------------------------------------ interface
    @property
    def tokenizer(self) -> Any:
        """The tokenizer whose ids this backend speaks (a ``transformers`` tokenizer), or ``None``."""
        return getattr(self, "_tokenizer", None)

    @property
    def policy_version(self) -> int:
        """Version of the weights now serving; stamped on every :class:`Generation`."""
        return self._policy_version

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        raise NotImplementedError

    async def agenerate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return await asyncio.to_thread(self.generate, requests)

    def update_weights(self, weights: Any, version: int | None = None) -> int:
        """Load new weights (a state dict or a model) in place; set and return the policy version
        (``version`` or the current one + 1)."""
        raise NotImplementedError(f"{type(self).__name__} cannot update its weights")

    def close(self) -> None:
        """Release resources (HTTP clients, engines)."""

    # ------------------------------------------------------------------ helpers
    def _next_version(self, version: int | None) -> int:
        new = self._policy_version + 1 if version is None else int(version)
        if new < self._policy_version:
            raise ValueError(f"policy version must not go backwards: {self._policy_version} -> {new}")
        self._policy_version = new
        return new

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def images_key(request: GenerationRequest) -> tuple[Any, ...]:
    """What identifies a request's images (two prompts with equal ids and equal images are one)."""
    return tuple(getattr(image, "key", id(image)) for image in request.images)


def stop_ids_for(tokenizer: Any, request: GenerationRequest) -> set[int]:
    """The token ids that end ``request``: its ``stop_token_ids`` plus the tokenizer's eos (unless
    ``ignore_eos``)."""
    ids = {int(t) for t in request.stop_token_ids}
    if not request.ignore_eos and tokenizer is not None:
        eos = getattr(tokenizer, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, (list, tuple)):
            ids.update(int(t) for t in eos)
    return ids


def find_stop_string(text: str, stops: list[str], search_from: int = 0) -> int | None:
    """Index just past the earliest stop string found in ``text[search_from:]``, else ``None``."""
    best: int | None = None
    for stop in stops:
        if not stop:
            continue
        at = text.find(stop, max(0, search_from - len(stop) + 1))
        if at >= 0 and (best is None or at + len(stop) < best):
            best = at + len(stop)
    return best
