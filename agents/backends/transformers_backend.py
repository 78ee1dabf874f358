"""Sampling from any ``transformers`` causal LM, batched, with the logprobs of the sampled tokens.

The loop is written out (not ``model.generate``) so that the logprob recorded for each token comes
from the very logits it was sampled from:

* prompts are **left-padded** into one batch; ``position_ids = cumsum(attention_mask) - 1`` so a
  padded row sees the same positions as when run alone;
* step ``i`` takes the last-position logits ``z_i`` (float32), the sampling distribution
  ``p_i = softmax(z_i / T)`` (top-p truncated and renormalised when ``top_p < 1``) and draws
  ``y_i`` with the Gumbel-max trick from a per-request ``torch.Generator`` (so a seeded request gives
  the same completion whatever else is in the batch);
* ``logprob_i = log softmax(z_i / T)[y_i]`` (``T = 1`` for greedy, ``temperature == 0``);
* a row stops on eos / a stop id (kept as its last token), a stop string (tokens up to the one that
  completed it are kept) or ``max_new_tokens``.
"""

from __future__ import annotations

import threading
from typing import Any

from envgym.agents.backends.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    Generation,
    GenerationRequest,
    find_stop_string,
    stop_ids_for,
)


class TransformersBackend(Backend):
    """A local causal LM (CPU or CUDA).

    ``model`` is a loaded ``PreTrainedModel`` or a path / hub id (loaded with
    :func:`envgym.agents.tiny_policy.load_policy`).  ``max_batch_size`` splits large request lists.
    """

    name = "transformers"
    sees_images = False
    #: ids free sampling never draws (a VLM's image placeholders: only its processor places them);
    #: the distribution is renormalised over the rest, and the learner masks the same ids
    banned_ids: tuple[int, ...] = ()

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        max_batch_size: int = 64,
        policy_version: int = 0,
    ):
        super().__init__()
        import torch

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from envgym.agents.tiny_policy import load_policy

            model, loaded_tokenizer = load_policy(model, device=device or "cpu", dtype=dtype)
            tokenizer = tokenizer or loaded_tokenizer
        if tokenizer is None:
            raise ValueError("TransformersBackend needs the model's tokenizer")
        self.model = model
        self._tokenizer = tokenizer
        if device is not None:
            self.model.to(device)
        self.model.eval()
        self.device = next(self.model.parameters()).device
        self.max_batch_size = int(max_batch_size)
        self._policy_version = int(policy_version)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self._lock = threading.Lock()  # one batch at a time on the shared model
        self._torch = torch

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(requests), self.max_batch_size):
            chunk = requests[start : start + self.max_batch_size]
            for request in chunk:
                self._check(request)
            with self._lock:
                out.extend(self._generate_batch(chunk))
        return out

    def _check(self, request: GenerationRequest) -> None:
        if not request.prompt_ids:
            raise ValueError(f"{type(self).__name__} needs prompt_ids (token-in)")
        if request.images and not self.sees_images:
            raise ValueError(f"{type(self).__name__} serves a text model and cannot see the request's "
                             f"{len(request.images)} images; load a vision-language model with VisionTransformersBackend")

    def _model_call(self, images: list[list[Any]], input_ids: Any, attention: Any) -> Any:
        """What runs the model on a batch whose row ``r`` holds ``images[r]`` (left-padded
        ``input_ids``/``attention``): the model itself here; a vision backend adds the images to the
        first call and its own positions."""
        return self.model

    def _left_padded(self, prompts: list[list[int]]) -> tuple[Any, Any, Any]:
        """``(input_ids, attention_mask, position_ids)`` of the prompts, left-padded to one width."""
        torch = self._torch
        lengths = [len(p) for p in prompts]
        width = max(lengths)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long, device=self.device)
        attention = torch.zeros((len(prompts), width), dtype=torch.long, device=self.device)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - lengths[row] :] = torch.tensor(prompt, dtype=torch.long)
            attention[row, width - lengths[row] :] = 1
        return input_ids, attention, (attention.cumsum(-1) - 1).clamp(min=0)

    def _generators(self, requests: list[GenerationRequest]) -> list[Any]:
        """One CPU generator per request, seeded by ``request.seed`` (random when unset), so a seeded
        request samples the same completion whatever else shares its batch."""
        torch = self._torch
        generators = []
        for request in requests:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(request.seed) if request.seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
            generators.append(gen)
        return generators

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        torch = self._torch
        batch = len(requests)
        device = self.device
        input_ids, attention, positions = self._left_padded([r.prompt_ids for r in requests])
        forward = self._model_call([r.images for r in requests], input_ids, attention)
        generators = self._generators(requests)
        temperatures = torch.tensor([r.temperature for r in requests], dtype=torch.float32, device=device)
        greedy = temperatures <= 0
        scale = torch.where(greedy, torch.ones_like(temperatures), temperatures).unsqueeze(-1)
        stop_ids = [stop_ids_for(self._tokenizer, r) for r in requests]
        max_new = max(r.max_new_tokens for r in requests)

        completions: list[list[int]] = [[] for _ in requests]
        logprobs: list[list[float]] = [[] for _ in requests]
        finish: list[str | None] = [None] * batch
        text_checked = [0] * batch
        past = None
        step_ids, step_mask, step_pos = input_ids, attention, positions
        with torch.inference_mode():
            for step in range(max_new):
                output = forward(
                    input_ids=step_ids,
                    attention_mask=step_mask,
                    position_ids=step_pos,
                    past_key_values=past,
                    use_cache=True,
                )
                past = output.past_key_values
                logits = output.logits[:, -1, :].float()
                if self.banned_ids:
                    logits[:, list(self.banned_ids)] = float("-inf")
                scaled = logits / scale
                logp = torch.log_softmax(scaled, dim=-1)
                chosen = self._sample(logp, requests, generators, greedy)
                chosen_logp = logp.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
                self._append(requests, chosen.tolist(), chosen_logp.tolist(), stop_ids, completions, logprobs, finish, text_checked)
                if all(f is not None for f in finish):
                    break
                step_ids = chosen.unsqueeze(-1)
                step_mask = torch.cat([step_mask, torch.ones((batch, 1), dtype=step_mask.dtype, device=device)], -1)
                step_pos = step_pos[:, -1:] + 1

        return [self._generation(r, completions[row], logprobs[row], finish[row] or FINISH_LENGTH) for row, r in enumerate(requests)]

    def _append(self, requests: list[GenerationRequest], tokens: list[int], token_logprobs: list[float], stop_ids: list[set[int]],
                completions: list[list[int]], logprobs: list[list[float]], finish: list[str | None], text_checked: list[int]) -> None:
        """Append one sampled token to every unfinished row; mark rows that stop (stop id, stop
        string or length)."""
        for row, request in enumerate(requests):
            if finish[row] is not None:
                continue
            token = int(tokens[row])
            completions[row].append(token)
            logprobs[row].append(float(token_logprobs[row]))
            if token in stop_ids[row]:
                finish[row] = FINISH_STOP
            elif request.stop and self._hit_stop_string(row, request, completions, text_checked):
                finish[row] = FINISH_STOP
            elif len(completions[row]) >= request.max_new_tokens:
                finish[row] = FINISH_LENGTH

    def _generation(self, request: GenerationRequest, ids: list[int], logprobs: list[float], finish: str) -> Generation:
        """The :class:`Generation` of one request: ids, logprobs, decoded text, version, usage."""
        return Generation(
            completion_ids=ids, logprobs=logprobs, text=self._tokenizer.decode(ids, skip_special_tokens=False),
            finish_reason=finish, policy_version=self._policy_version, prompt_ids=list(request.prompt_ids),
            usage={"prompt_tokens": len(request.prompt_ids), "completion_tokens": len(ids)},
        )

    def _sample(self, logp: Any, requests: list[GenerationRequest], generators: list[Any], greedy: Any) -> Any:
        """Gumbel-max draw per row from ``logp`` (top-p truncated where asked); argmax for greedy rows."""
        torch = self._torch
        rows = []
        for row, request in enumerate(requests):
            lp = logp[row]
            if bool(greedy[row]):
                rows.append(torch.argmax(lp))
                continue
            if request.top_p < 1.0:
                sorted_lp, order = torch.sort(lp, descending=True)
                cumulative = sorted_lp.exp().cumsum(-1)
                drop_sorted = (cumulative - sorted_lp.exp()) >= request.top_p  # keep the smallest nucleus
                drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
                lp = lp.masked_fill(drop, float("-inf"))
            uniform = torch.rand(lp.shape[-1], generator=generators[row], dtype=torch.float64).to(lp.device)
            gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-300)))
            rows.append(torch.argmax(lp.double() + gumbel))
        return torch.stack(rows).to(torch.long)

    def _hit_stop_string(self, row: int, request: GenerationRequest, completions: list[list[int]], checked: list[int]) -> bool:
        text = self._tokenizer.decode(completions[row], skip_special_tokens=False)
        hit = find_stop_string(text, request.stop, checked[row])
        checked[row] = len(text)
        return hit is not None

    # ------------------------------------------------------------------ weights
    def update_weights(self, weights: Any, version: int | None = None) -> int:
        """Copy a state dict (or a model's parameters) into the served model in place.

        Keys must match the served model's; tied parameters absent from ``weights`` (e.g.
        ``lm_head.weight`` tied to the embeddings) are fine, any other missing or unknown key raises.
        """
        torch = self._torch
        state = weights.state_dict() if hasattr(weights, "state_dict") else dict(weights)
        own = self.model.state_dict()
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise KeyError(f"update_weights: keys the model does not have: {unknown[:5]}")
        missing = set(own) - set(state)
        tied = self._tied_names()
        if missing - tied:
            raise KeyError(f"update_weights: missing keys: {sorted(missing - tied)[:5]}")
        with self._lock, torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value.to(device=own[name].device, dtype=own[name].dtype))
            return self._next_version(version)

    def _tied_names(self) -> set[str]:
        names = set()
        seen: dict[int, str] = {}
        for name, tensor in self.model.state_dict(keep_vars=True).items():
            key = id(tensor)
            if key in seen:
                names.add(name)
                names.add(seen[key])
            seen[key] = name
        return names
