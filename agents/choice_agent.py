"""A compact token-in/token-out agent that answers with one of the env's admissible actions.

Each turn's prompt is ``<|im_start|>user\\n{formatted observation}<|im_end|>\\n<|im_start|>assistant\\n``
(no history: the observation must carry the state, as Maze's map + position does).  When the
observation lists ``admissible_actions`` the request carries ``metadata["choices"]``: the token ids of
every admissible action followed by the end-of-turn id.  A choice-aware backend
(:class:`envgym.agents.backends.choice_backend.ChoiceTransformersBackend`) then samples only along those
sequences — constrained decoding — and the logprob of each sampled token is the one of the *masked*
distribution.  The agent records, per completion token, the ids that were allowed
(``Decision.extra["allowed_ids"]``), so the learner recomputes exactly that masked distribution.

Without admissible actions the agent samples free text (``max_new_tokens``) and sends it as is.

The batched protocol of :class:`envgym.agents.base.BatchedAgent` (``prepare``/``finish``/``force``).
"""

from __future__ import annotations

from typing import Any

from envgym.agents.backends.base import FINISH_STOP, Generation, GenerationRequest
from envgym.agents.base import BatchedAgent, Decision
from envgym.agents.choice_trie import allowed_along, trie_of
from envgym.agents.observation_formatters import get_formatter


class ChoiceAgent(BatchedAgent):
    name = "choice"

    def __init__(
        self,
        tokenizer: Any,
        *,
        observation: str = "text",
        system_prompt: str | None = None,
        temperature: float = 1.0,
        max_new_tokens: int = 32,
        seed: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.format = get_formatter(observation)
        self.system_prompt = system_prompt
        self.temperature = float(temperature)
        self.max_new_tokens = int(max_new_tokens)
        self.seed = seed
        eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.end_id = int(eot if isinstance(eot, int) and eot >= 0 else tokenizer.eos_token_id)
        self._head = self._encode(f"<|im_start|>system\n{system_prompt}<|im_end|>\n" if system_prompt else "")
        self._prompt_cache: dict[str, list[int]] = {}
        self._choice_cache: dict[str, list[int]] = {}
        self._turn = 0
        self._pending: tuple[list[int], list[str], list[list[int]]] | None = None

    # ------------------------------------------------------------------ helpers
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False)) if text else []

    def user_text(self, observation: dict[str, Any]) -> str:
        """The user message of a turn: the formatted observation."""
        return self.format(observation)

    def prompt_ids(self, observation: dict[str, Any]) -> list[int]:
        user = self.user_text(observation)
        ids = self._prompt_cache.get(user)
        if ids is None:
            ids = self._head + self._encode(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
            if len(self._prompt_cache) < 100_000:
                self._prompt_cache[user] = ids
        return list(ids)

    def choice_ids(self, action: str) -> list[int]:
        ids = self._choice_cache.get(action)
        if ids is None:
            ids = self._encode(action) + [self.end_id]
            self._choice_cache[action] = ids
        return list(ids)

    # ------------------------------------------------------------------ agent protocol
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._turn = 0
        self._pending = None

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        raise RuntimeError("ChoiceAgent needs a backend: use prepare()/finish() through a rollout service")

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        prompt = self.prompt_ids(observation)
        actions = [str(a) for a in (observation.get("admissible_actions") or [])]
        choices = [self.choice_ids(a) for a in actions]
        metadata: dict[str, Any] = {}
        max_new = self.max_new_tokens
        if choices:
            metadata["choices"] = choices
            max_new = max(len(c) for c in choices)
        request = GenerationRequest(
            prompt_ids=prompt,
            max_new_tokens=max_new,
            temperature=self.temperature,
            stop_token_ids=[self.end_id],
            seed=None if self.seed is None else self.seed + self._turn,
            metadata=metadata,
        )
        self._turn += 1
        self._pending = (prompt, actions, choices)
        return request

    def finish(self, generation: Generation) -> Decision:
        if self._pending is None:
            raise RuntimeError("finish() without prepare()")
        prompt, actions, choices = self._pending
        self._pending = None
        ids = list(generation.completion_ids)
        extra: dict[str, Any] = {"temperature": self.temperature, "ids_exact": generation.ids_exact}
        if choices:
            index = next((i for i, c in enumerate(choices) if c == ids), None)
            if index is None:
                raise ValueError(f"completion {ids} is not one of the admissible choices (backend ignored metadata['choices'])")
            action: Any = actions[index]
            extra["allowed_ids"] = allowed_along(trie_of(choices), ids)
        else:
            action = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        extra["response"] = action
        return Decision(
            action=action,
            prompt_ids=prompt,
            completion_ids=ids,
            logprobs=list(generation.logprobs) if generation.logprobs is not None else None,
            policy_version=generation.policy_version,
            extra=extra,
        )

    def force(self, action: str, policy_version: int = 0) -> Generation:
        """The :class:`Generation` that answers the pending request with ``action`` (no logprobs)."""
        if self._pending is None:
            raise RuntimeError("force() without prepare()")
        prompt, actions, choices = self._pending
        ids = self.choice_ids(str(action)) if choices else self._encode(str(action)) + [self.end_id]
        return Generation(
            completion_ids=ids, logprobs=None, text=str(action), finish_reason=FINISH_STOP,
            policy_version=policy_version, prompt_ids=list(prompt),
        )

