"""Constrained decoding over a list of choices, on top of :class:`TransformersBackend`.

A request whose ``metadata["choices"]`` holds token-id sequences — or whose ``metadata["choice_trie"]``
holds them as a token trie (:mod:`envgym.agents.choice_trie`; shared subtries keep a product of
choices small) — is answered with one of them: at position ``i`` only the tokens that continue some
choice along the prefix sampled so far are allowed,

    ``p_i = softmax(z_i / T  masked to the allowed ids)``,  ``logprob_i = log p_i[y_i]``,

drawn with the Gumbel-max trick from a per-request generator (seeded requests are reproducible
whatever else is in the batch).  A position with a single allowed id is appended without a forward
pass (its logprob is 0).  Requests without choices go to the parent's free sampler unchanged.

Local adapter: the shared backends in ``agents/backends`` do not read ``metadata["choices"]``; this
subclass lives in ``trainers/`` until they do.
"""

from __future__ import annotations

from typing import Any

from envgym.agents.backends.base import FINISH_STOP, Generation, GenerationRequest, images_key
from envgym.agents.backends.transformers_backend import TransformersBackend
from envgym.agents.choice_trie import Trie, allowed_ids, trie_of


class ChoiceTransformersBackend(TransformersBackend):
    """:class:`TransformersBackend` that honours ``GenerationRequest.metadata["choices"]`` and
    ``metadata["choice_trie"]``."""

    name = "transformers+choices"

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        constrained = [i for i, r in enumerate(requests) if _constrained(r)]
        free = [i for i, r in enumerate(requests) if not _constrained(r)]
        if free:
            for i, gen in zip(free, super().generate([requests[i] for i in free])):
                results[i] = gen
        for start in range(0, len(constrained), self.max_batch_size):
            chunk = constrained[start : start + self.max_batch_size]
            for i in chunk:
                self._check(requests[i])
            with self._lock:
                outs = self._generate_choices([requests[i] for i in chunk])
            for i, gen in zip(chunk, outs):
                results[i] = gen
        return [r for r in results if r is not None]

    def _generate_choices(self, requests: list[GenerationRequest]) -> list[Generation]:
        if all(_single_decision(r.metadata.get("choices")) for r in requests):
            return self._generate_single_decision(requests)
        return self._generate_trie(requests)

    def _generate_single_decision(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Fast path when the first token decides the choice (the rest is forced): one forward pass
        per *distinct* prompt (requests of one group share their first prompt, recurring states
        recur), then a per-request draw among the choices' first tokens."""
        torch = self._torch
        unique: dict[tuple[Any, ...], GenerationRequest] = {}
        for request in requests:
            unique.setdefault((tuple(request.prompt_ids), images_key(request)), request)
        slot = {key: k for k, key in enumerate(unique)}
        input_ids, attention, positions = self._left_padded([list(key[0]) for key in unique])
        forward = self._model_call([r.images for r in unique.values()], input_ids, attention)
        with torch.inference_mode():
            logits = forward(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                             use_cache=False, logits_to_keep=1).logits[:, -1, :].float()
        results = []
        for request, generator in zip(requests, self._generators(requests)):
            choices = [list(map(int, c)) for c in request.metadata["choices"]]
            firsts = [c[0] for c in choices]
            if len(firsts) == 1:
                token, lp = firsts[0], 0.0
            else:
                token, lp = self._pick(logits[slot[(tuple(request.prompt_ids), images_key(request))]], sorted(firsts),
                                       request, generator)
            ids = next(c for c in choices if c[0] == token)
            results.append(self._generation(request, list(ids), [lp] + [0.0] * (len(ids) - 1), FINISH_STOP))
        return results

    def _generate_trie(self, requests: list[GenerationRequest]) -> list[Generation]:
        torch = self._torch
        device = self.device
        batch = len(requests)
        input_ids, attention, positions = self._left_padded([r.prompt_ids for r in requests])
        forward = self._model_call([r.images for r in requests], input_ids, attention)
        nodes = [_trie(r) for r in requests]  # each row's position in its trie
        generators = self._generators(requests)

        completions: list[list[int]] = [[] for _ in requests]
        logprobs: list[list[float]] = [[] for _ in requests]
        done = [not node for node in nodes]
        past = None
        feed_ids, feed_mask, feed_pos = input_ids, attention, positions  # columns not yet in the cache
        last_pos = positions[:, -1:]
        with torch.inference_mode():
            while not all(done):
                allowed = [[] if done[row] else allowed_ids(nodes[row]) for row in range(batch)]
                needs_sample = any(len(a) > 1 for a in allowed)
                chosen_rows: dict[int, tuple[int, float]] = {}
                if needs_sample:
                    output = forward(
                        input_ids=feed_ids, attention_mask=feed_mask, position_ids=feed_pos,
                        past_key_values=past, use_cache=True, logits_to_keep=1,
                    )
                    past = output.past_key_values
                    logits = output.logits[:, -1, :].float()
                    for row, ids in enumerate(allowed):
                        if len(ids) > 1:
                            chosen_rows[row] = self._pick(logits[row], ids, requests[row], generators[row])
                    feed_ids = feed_ids[:, :0]
                    feed_pos = feed_pos[:, :0]
                column = self._append_choices(allowed, chosen_rows, completions, logprobs, nodes, done)
                if all(done):
                    break
                last_pos = last_pos + 1
                feed_ids = torch.cat([feed_ids, column], dim=1)
                feed_mask = torch.cat([feed_mask, torch.ones((batch, 1), dtype=feed_mask.dtype, device=device)], dim=1)
                feed_pos = torch.cat([feed_pos, last_pos], dim=1)

        return [self._generation(r, completions[row], logprobs[row], FINISH_STOP) for row, r in enumerate(requests)]

    def _append_choices(self, allowed: list[list[int]], chosen: dict[int, tuple[int, float]], completions: list[list[int]],
                        logprobs: list[list[float]], nodes: list[Trie], done: list[bool]) -> Any:
        """Append one token per unfinished row (the sampled one, or the single allowed id with
        logprob 0), step each row down its trie and mark rows whose completion is a whole choice.
        Returns the column ``[B, 1]`` to feed."""
        torch = self._torch
        column = torch.full((len(allowed), 1), self.pad_id, dtype=torch.long, device=self.device)
        for row, ids in enumerate(allowed):
            if not ids:
                continue
            token, lp = chosen.get(row, (ids[0], 0.0))
            completions[row].append(token)
            logprobs[row].append(lp)
            column[row, 0] = token
            nodes[row] = nodes[row][token]
            done[row] = not nodes[row]
        return column

    def _pick(self, logits: Any, ids: list[int], request: GenerationRequest, generator: Any) -> tuple[int, float]:
        """Sample among ``ids`` from ``softmax(logits[ids] / T)``; return ``(token, logprob)``."""
        torch = self._torch
        index = torch.tensor(ids, dtype=torch.long, device=logits.device)
        sub = logits.index_select(0, index)
        temperature = request.temperature
        scaled = sub / (temperature if temperature > 0 else 1.0)
        logp = torch.log_softmax(scaled, dim=-1)
        if temperature <= 0:
            k = int(torch.argmax(logp))
        else:
            uniform = torch.rand(len(ids), generator=generator, dtype=torch.float64).to(logp.device)
            gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-300)))
            k = int(torch.argmax(logp.double() + gumbel))
        return ids[k], float(logp[k])


def _constrained(request: GenerationRequest) -> bool:
    return bool(request.metadata.get("choices") or request.metadata.get("choice_trie"))


def _trie(request: GenerationRequest) -> Trie:
    """The request's choice trie (``choice_trie``, or built from ``choices``)."""
    trie = request.metadata.get("choice_trie")
    return trie if trie else trie_of(list(map(int, c)) for c in request.metadata["choices"])


def _single_decision(choices: list[list[int]] | None) -> bool:
    """True when the request lists its choices and their first tokens are distinct (so everything
    after them is forced)."""
    if not choices:
        return False
    firsts = [c[0] for c in choices if c]
    return len(firsts) == len(choices) and len(set(firsts)) == len(firsts)
