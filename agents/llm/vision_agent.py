"""The LLM agent on screenshots: :class:`VisionLLMAgent` puts each observation's image (and, if asked,
its accessibility tree) into the chat through the vision-language model's processor.

Token-in/token-out as for text (:class:`envgym.agents.llm.LLMAgent`): a turn's prompt extends the
previous prompt + completion by the ids of what is new — here the next user message *with its image*:
its text is rendered from the chat template's pieces for that message shape (``[image, text]``) and
the model's processor expands the image placeholder (:meth:`envgym.agents.vision.VisionProcessor.encode`).
Each turn records, in ``Decision.images``, one ref per image of its prompt in placeholder order, so
``prompt_ids`` and ``images`` are exactly what the model saw; the agent checks that the prompt holds
as many image blocks as refs.

A memory window (``window=K``) that drops old turns drops their images with them: the prompt is
rebuilt from the kept turns (their texts and images) — a new context (``extra["prompt_rebuilt"]``),
never a silently edited one.  ``max_images`` bounds the images of a context the same way (the
oldest turns go, images and text).

Screenshots are stored, as the model saw them (after :meth:`~envgym.agents.vision.VisionProcessor.prepare`),
in the content-addressed :class:`envgym.image_store.ImageStore` given as ``image_store``.

Chat-only backends (an OpenAI-compatible server that renders its own template, for evaluation) get
``messages`` whose user contents are ``[{"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}},
{"type": "text", …}]``; such turns are not token-exact and are not trained on.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

from envgym.agents.backends.base import Backend, Generation, GenerationRequest
from envgym.agents.base import Decision
from envgym.agents.llm.agent import LLMAgent
from envgym.agents.llm.conversation import ChatFormat
from envgym.agents.vision import PromptImage, VisionProcessor, decode_image, png_bytes
from envgym.image_store import ImageStore

_MARK = "ENVGYMIMAGEMARK4d2b"


@dataclass
class UserMessage:
    """One user turn: its text and its screenshots (prepared to the model's geometry, with the size
    they had on screen); ``images`` holds their :class:`PromptImage` once encoded.  The images come
    before the text (as VLM chat examples put them) unless ``text_first``."""

    text: str
    prepared: list[Any] = field(default_factory=list)
    source_sizes: list[tuple[int, int]] = field(default_factory=list)
    images: list[PromptImage] | None = None
    text_first: bool = False

    def __str__(self) -> str:
        return self.text


class VisionChatFormat(ChatFormat):
    """:class:`ChatFormat` over a VLM's chat template: contents are lists of parts, a user message with
    images is rendered with its image parts first and encoded through the processor."""

    def __init__(self, processor: VisionProcessor, store: ImageStore):
        self.vision = processor
        self.store = store
        self._pieces: dict[tuple[int, bool], tuple[str, str]] = {}
        super().__init__(processor.tokenizer, processor.chat_template)

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return super().render([{**m, "content": _parts(m["content"])} for m in messages], add_generation_prompt)

    def head_messages(self, system: str, user: Any) -> list[dict[str, Any]]:
        if self.has_system_role:
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        merged = UserMessage(f"{system}\n\n{user.text}" if system else user.text, user.prepared, user.source_sizes,
                             user.images, user.text_first)
        return [{"role": "user", "content": merged}]

    def start_ids(self, system: str, user: UserMessage) -> list[int]:
        return self._encode_user(self.render(self.head_messages(system, user), add_generation_prompt=True), user)

    def continuation_ids(self, completion_ids: list[int], user: UserMessage) -> list[int]:
        prefix, suffix = self._user_pieces(len(user.prepared), user.text_first)
        return self._encode_user(self.closing_text(completion_ids) + prefix + user.text + suffix, user)

    def _user_pieces(self, images: int, text_first: bool) -> tuple[str, str]:
        """The text around a user message's text when it holds ``images`` images (placeholders
        included), as the template renders it after an assistant turn."""
        if (images, text_first) not in self._pieces:
            base = [{"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]
            before = self.render(base, add_generation_prompt=False)
            probe = UserMessage(_MARK, [None] * images, text_first=text_first)
            after = self.render(base + [{"role": "user", "content": probe}], add_generation_prompt=True)
            prefix, suffix = after[len(before):].split(_MARK)
            self._pieces[images, text_first] = prefix, suffix
        return self._pieces[images, text_first]

    def _encode_user(self, text: str, user: UserMessage) -> list[int]:
        ids, units = self.vision.encode(text, user.prepared)
        if user.images is None:
            user.images = [self.vision.prompt_image(self.store, image, unit, size)
                           for image, unit, size in zip(user.prepared, units, user.source_sizes)]
        return ids


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message content as the list of parts VLM templates expect."""
    if isinstance(content, UserMessage):
        images = [{"type": "image"} for _ in content.prepared]
        text = [{"type": "text", "text": content.text}]
        return text + images if content.text_first else images + text
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


class VisionLLMAgent(LLMAgent):
    """See the module docstring.  ``processor`` defaults to the backend's (a
    :class:`~envgym.agents.backends.vision_backend.VisionTransformersBackend`); chat-only backends need
    none.  ``axtree``: also put the observation's accessibility tree into the user message."""

    name = "vision-llm"

    def __init__(self, backend: Backend, *, image_store: ImageStore | str | os.PathLike, processor: VisionProcessor | None = None,
                 axtree: bool = False, max_images: int | None = None, **kwargs: Any):
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be >= 1 or None, got {max_images}")
        self.store = image_store if isinstance(image_store, ImageStore) else ImageStore(image_store)
        self.processor = processor if processor is not None else getattr(backend, "processor", None)
        self.axtree = axtree
        self.max_images = max_images
        self._prompt_images: list[PromptImage] = []
        super().__init__(backend, **kwargs)

    def chat_format(self, tokenizer: Any) -> ChatFormat:
        if self.processor is None:
            raise ValueError("a token-in VisionLLMAgent needs the model's VisionProcessor (processor=, or a vision backend)")
        return VisionChatFormat(self.processor, self.store)

    # ------------------------------------------------------------------ hooks
    def user_content(self, observation: dict[str, Any]) -> Any:
        text = super().user_content(observation)
        tree = observation.get("axtree")
        if self.axtree and tree and str(tree) not in text:
            text += "\n\nAccessibility tree:\n" + str(tree)
        data = observation.get("image")
        if not isinstance(data, (bytes, bytearray)):
            return UserMessage(text)
        screenshot = decode_image(bytes(data))
        prepared = self.processor.prepare(screenshot) if self.processor is not None else screenshot
        return UserMessage(text, [prepared], [screenshot.size])

    def prepare(self, observation: dict[str, Any], info: dict[str, Any] | None = None) -> GenerationRequest:
        request = super().prepare(observation, info)
        pending = self._pending
        assert pending is not None
        if self.format is None:  # chat-only: the messages of LLMAgent._messages
            first = 0 if self.window is None else max(0, len(self.records) - self.window)
            users = [record.user for record in self.records[first:]] + [pending.user]
            self._prompt_images = [self._chat_image(u) for u in users if u.prepared]
            return request
        users = [record.user for record in self.records[self._context_start:]] + [pending.user]
        self._prompt_images = [image for user in users for image in (user.images or [])]
        found = self.processor.count_images(request.prompt_ids)
        if found != len(self._prompt_images):
            raise RuntimeError(f"the prompt holds {found} image blocks for {len(self._prompt_images)} images")
        request.images = list(self._prompt_images)
        return request

    def finish(self, generation: Generation) -> Decision:
        decision = super().finish(generation)
        decision.images = [dict(image.ref) for image in self._prompt_images]
        return decision

    def _next_prompt_ids(self, user: Any) -> tuple[list[int], bool]:
        ids, rebuilt = super()._next_prompt_ids(user)
        if self.max_images is None or self._context_images(user) <= self.max_images:
            return ids, rebuilt
        start = self._context_start
        while start < len(self.records) and self._context_images(user, start) > self.max_images:
            start += 1
        return self._rebuild(user, start), True

    def _context_images(self, user: Any, start: int | None = None) -> int:
        first = self._context_start if start is None else start
        return sum(len(r.user.prepared) for r in self.records[first:]) + len(user.prepared)

    # ------------------------------------------------------------------ chat-only servers
    def _messages(self, user: Any) -> list[dict[str, Any]]:
        messages = super()._messages(user)
        for message in messages:
            content = message["content"]
            if isinstance(content, UserMessage):
                message["content"] = [*(_data_url_part(image) for image in content.prepared),
                                      {"type": "text", "text": content.text}]
        return messages

    def _chat_image(self, user: UserMessage) -> PromptImage:
        """The ref of a screenshot sent as a data URL (stored for reports; not trainable)."""
        image = user.prepared[-1]
        ref = {"id": self.store.put(png_bytes(image)), "size": list(image.size), "source_size": list(user.source_sizes[-1])}
        return PromptImage(ref, {}, image)


def _data_url_part(image: Any) -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}
