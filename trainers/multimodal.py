"""The learner's image inputs: each turn re-run on its recorded ids *and* its recorded images.

A row of a vision-language turn carries the refs its agent recorded (``Turn.images``, one per image
block of the prompt, in order).  :class:`ImageInputs` turns the refs of a batch into the model's
keyword arguments: each image is read from the run's content-addressed store and passed through the
recorded processor settings by :meth:`envgym.agents.vision.VisionProcessor.load` — no resize, no
template, no tokenizer; the pixel tensors are checked against the rollout's digest — then collated
the family's way, with Qwen2-VL's M-RoPE positions from the model's ``get_rope_index`` on the
right-padded rows (the same function the rollout called on its left-padded prompt: positions depend
only on each row's own tokens).
"""

from __future__ import annotations

from typing import Any

from envgym.image_store import ImageStore


class ImageInputs:
    """``inputs(model, images, input_ids, attention)`` → the keyword arguments of a forward pass over a
    batch whose row ``r`` holds the image refs ``images[r]`` (``{}`` when no row has one)."""

    def __init__(self, processor: Any, store: ImageStore):
        self.processor = processor
        self.store = store
        self.banned = list(processor.placeholder_ids)  # masked in the learner as in the sampler

    def inputs(self, model: Any, images: list[list[dict[str, Any]]], input_ids: Any, attention: Any) -> dict[str, Any]:
        if not any(images):
            return {}
        self._check_counts(images, input_ids, attention)
        units = [[self.processor.load(self.store, ref) for ref in row] for row in images]
        inputs = {k: v.to(input_ids.device) for k, v in self.processor.collate(units).items()}
        positions = self.processor.positions(model, input_ids, attention, inputs)
        if positions is not None:
            inputs["position_ids"] = positions[0]
        return inputs

    def _check_counts(self, images: list[list[dict[str, Any]]], input_ids: Any, attention: Any) -> None:
        """Every row holds as many image blocks as it has refs (a mismatch is a corrupt record)."""
        for row, refs in enumerate(images):
            ids = input_ids[row][attention[row].bool()].tolist()
            found = self.processor.count_images(ids)
            if found != len(refs):
                raise ValueError(f"a turn's prompt holds {found} image blocks but {len(refs)} image refs were recorded")


def image_key(refs: list[dict[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    """What identifies a row's images (rows with equal ids and equal images run once)."""
    return tuple((ref["id"], ref.get("settings", "")) for ref in refs or [])
