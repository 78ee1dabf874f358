"""Vision-language models behind the backend interface: ``transformers`` VLMs on CPU or CUDA.

:class:`VisionTransformersBackend` is :class:`ChoiceTransformersBackend` (free sampling and
constrained decoding, the same per-request generators and logprob convention) for a model loaded
with ``AutoModelForImageTextToText`` and its processor.  A request's ``images``
(:class:`envgym.agents.vision.PromptImage`, in placeholder order) carry the pixel tensors the agent's
processor made; the backend only batches them:

* the first forward pass of a batch (the prefill) gets the rows' images collated the family's way
  (Qwen2-VL: all images' patches concatenated + their grids; Idefics3: ``[rows, images, 3, H, W]``
  with all-zero padding images; LLaVA: ``[images, 3, H, W]``);
* Qwen2-VL's multimodal rotary positions (M-RoPE) come from the model's own ``get_rope_index`` on
  the left-padded prompt; every later token continues them as ``1-D position + delta`` of its row
  (exactly what the model does when it generates on its own); other families use the 1-D positions;
* later steps run from the KV cache without images;
* free sampling never draws an image placeholder token (``banned_ids``: a sampled ``<image>`` would
  claim an image the next prompt does not have); its logprobs are those of the distribution over the
  other tokens, which the learner recomputes with the same ids masked.

Requests without images run as on a text model.
"""

from __future__ import annotations

from typing import Any

from envgym.agents.backends.choice_backend import ChoiceTransformersBackend


class VisionTransformersBackend(ChoiceTransformersBackend):
    """``VisionTransformersBackend(path_or_model, processor)``: a model directory / hub id (loaded with
    :func:`envgym.agents.vision.load_vision_policy`), or a loaded model with its
    :class:`~envgym.agents.vision.VisionProcessor`."""

    name = "transformers-vision"
    sees_images = True

    def __init__(self, model: Any, processor: Any = None, *, device: str | None = None, dtype: Any = None,
                 max_batch_size: int = 64, policy_version: int = 0):
        from envgym.agents.vision import VisionProcessor, load_vision_policy

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            model, processor = load_vision_policy(model, device=device or "cpu", dtype=dtype)
        if processor is None:
            raise ValueError("VisionTransformersBackend needs the model's processor")
        if not isinstance(processor, VisionProcessor):
            processor = VisionProcessor(processor, model.config)
        self.processor = processor
        self.banned_ids = tuple(processor.placeholder_ids)
        super().__init__(model, processor.tokenizer, device=device, max_batch_size=max_batch_size,
                         policy_version=policy_version)

    def _model_call(self, images: list[list[Any]], input_ids: Any, attention: Any) -> Any:
        if not any(images):
            return self.model
        return _VisionForward(self.model, self.processor, [[image.unit for image in row] for row in images])


class _VisionForward:
    """One batch's model calls: images and positions on the first, position deltas after it."""

    def __init__(self, model: Any, processor: Any, units: list[list[dict[str, Any]]]):
        self.model = model
        self.processor = processor
        self.inputs = {k: v.to(model.device) for k, v in processor.collate(units).items()}
        self.delta: Any = None

    def __call__(self, *, input_ids: Any, attention_mask: Any, position_ids: Any, past_key_values: Any = None,
                 **kwargs: Any) -> Any:
        if past_key_values is None:  # the prefill: the images go in, the family may set the positions
            positions = self.processor.positions(self.model, input_ids, attention_mask, self.inputs)
            if positions is not None:
                position_ids, self.delta = positions
            return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                              **self.inputs, **kwargs)
        if self.delta is not None:
            position_ids = (position_ids + self.delta.to(position_ids.device)).unsqueeze(0).expand(3, -1, -1)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          past_key_values=past_key_values, **kwargs)
