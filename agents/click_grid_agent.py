"""A vision-language policy that clicks on a coarse grid: constrained decoding over cell tokens.

The screen is cut into ``cols x rows`` cells; the completion is the cell's column token, its row token
and the end-of-turn token (``<x3><y1><end_of_utterance>``), sampled by
:class:`~envgym.agents.backends.vision_backend.VisionTransformersBackend` along the trie of all cells
(``metadata["choices"]``): two decisions per click — a column among ``cols``, then a row among
``rows`` — with the masked logprobs the learner recomputes (``extra["allowed_ids"]``).  The action
sent is ``click(x, y)`` at the cell's centre in screen pixels.

Each turn's prompt is one user message, the screenshot then the instruction, rendered with the
model's chat template and encoded by its processor (:class:`envgym.agents.llm.vision_agent.VisionChatFormat`);
no history (the screen is the state).  Turns record their image refs (``Decision.images``) like
:class:`~envgym.agents.llm.vision_agent.VisionLLMAgent`.  Identical screens (a group's episodes
start on one page) are encoded once (a cache shared by the agents of one factory).
"""

from __future__ import annotations

import hashlib
from typing import Any

from envgym.actions import InvalidAction, parse_action
from envgym.agents.backends.base import FINISH_STOP, Generation, GenerationRequest
from envgym.agents.base import BatchedAgent, Decision
from envgym.agents.llm.vision_agent import UserMessage, VisionChatFormat
from envgym.agents.vision import VisionProcessor, decode_image
from envgym.image_store import ImageStore



def cell_tokens(cols: int, rows: int) -> list[str]:
    """The coordinate tokens a tiny VLM for a ``cols x rows`` grid adds to its vocabulary."""
    return [f"<x{c}>" for c in range(cols)] + [f"<y{r}>" for r in range(rows)]


class ClickGridAgent(BatchedAgent):
    """See the module docstring."""

    name = "click-grid"

    def __init__(self, processor: VisionProcessor, image_store: ImageStore | str, *, grid: tuple[int, int] = (8, 6),
                 system_prompt: str | None = None, temperature: float = 1.0, seed: int | None = None):
        cols, rows = int(grid[0]), int(grid[1])
        if cols < 1 or rows < 1:
            raise ValueError(f"the click grid needs at least one column and one row, got {grid}")
        self.processor = processor
        self.store = image_store if isinstance(image_store, ImageStore) else ImageStore(image_store)
        self.format = VisionChatFormat(processor, self.store)
        self.grid = (cols, rows)
        self.system_prompt = system_prompt or ""
        self.temperature = float(temperature)
        self.seed = seed
        end = self.format.end_of_turn_id
        self.end_id = int(end if end is not None else processor.tokenizer.eos_token_id)
        encode = self.format.encode
        self.cells = [(c, r) for c in range(cols) for r in range(rows)]
        self.choices = [encode(f"<x{c}>") + encode(f"<y{r}>") + [self.end_id] for c, r in self.cells]
        self._prompt_cache: dict[str, tuple[list[int], UserMessage]] = {}
        self._turn = 0
        self._pending: tuple[list[int], UserMessage, tuple[int, int]] | None = None

    # ------------------------------------------------------------------ agent protocol
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._turn = 0
        self._pending = None

    def act(self, observation: dict[str, Any], info: dict[str, Any]) -> Any:
        raise RuntimeError("ClickGridAgent needs a backend: use prepare()/finish() through a rollout service")

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        data = observation.get("image")
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("ClickGridAgent acts on screenshots: the observation has no image")
        text = str(observation.get("instruction") or observation.get("text") or "")
        key = hashlib.sha256(bytes(data) + text.encode()).hexdigest()
        cached = self._prompt_cache.get(key)
        if cached is None:
            screenshot = decode_image(bytes(data))
            user = UserMessage(text, [self.processor.prepare(screenshot)], [screenshot.size])
            cached = self.format.start_ids(self.system_prompt, user), user
            if len(self._prompt_cache) < 4096:
                self._prompt_cache[key] = cached
        prompt, user = cached
        screen = tuple(user.source_sizes[0])
        request = GenerationRequest(
            prompt_ids=list(prompt), max_new_tokens=max(len(c) for c in self.choices), temperature=self.temperature,
            stop_token_ids=[self.end_id], seed=None if self.seed is None else self.seed + self._turn,
            metadata={"choices": self.choices}, images=list(user.images or []),
        )
        self._turn += 1
        self._pending = (list(prompt), user, screen)
        return request

    def finish(self, generation: Generation) -> Decision:
        if self._pending is None:
            raise RuntimeError("finish() without prepare()")
        prompt, user, screen = self._pending
        self._pending = None
        ids = list(generation.completion_ids)
        if ids not in self.choices:
            raise ValueError(f"completion {ids} is not a grid cell (the backend ignored metadata['choices'])")
        col, row = self.cells[self.choices.index(ids)]
        return Decision(
            action=self.click_at(col, row, screen), prompt_ids=prompt, completion_ids=ids,
            logprobs=list(generation.logprobs) if generation.logprobs is not None else None,
            policy_version=generation.policy_version, images=[dict(image.ref) for image in user.images or []],
            extra={"allowed_ids": self.allowed_along(ids), "temperature": self.temperature,
                   "ids_exact": generation.ids_exact, "response": f"cell ({col}, {row})", "cell": [col, row]},
        )

    def force(self, action: Any, policy_version: int = 0) -> Generation:
        """The cell holding the point of ``click(x, y)`` (an oracle's click), as a generation."""
        if self._pending is None:
            raise RuntimeError("force() without prepare()")
        prompt, _, screen = self._pending
        try:
            call = parse_action(action)
            x, y = float(call.args[0]), float(call.args[1])
        except (InvalidAction, IndexError, TypeError, ValueError):
            raise ValueError(f"ClickGridAgent can only replay click(x, y) actions, got {action!r}") from None
        col = min(self.grid[0] - 1, max(0, int(x * self.grid[0] / screen[0])))
        row = min(self.grid[1] - 1, max(0, int(y * self.grid[1] / screen[1])))
        ids = self.choices[self.cells.index((col, row))]
        return Generation(completion_ids=list(ids), logprobs=None, text=f"cell ({col}, {row})", finish_reason=FINISH_STOP,
                          policy_version=policy_version, prompt_ids=list(prompt))

    def allowed_along(self, completion: list[int]) -> list[list[int]]:
        """The ids the cell trie allowed at each position of ``completion`` (what the learner masks to)."""
        return [sorted({c[k] for c in self.choices if c[:k] == completion[:k]}) for k in range(len(completion))]

    def click_at(self, col: int, row: int, screen: tuple[int, int]) -> str:
        """``click(x, y)`` at the centre of cell (col, row) of a ``screen`` = (width, height) page."""
        x = int((col + 0.5) * screen[0] / self.grid[0])
        y = int((row + 0.5) * screen[1] / self.grid[1])
        return f"click({x}, {y})"
