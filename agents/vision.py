"""Image inputs of vision-language policies, exact by construction.

A screenshot reaches a VLM in three steps, and each is done once, at rollout time:

1. **prepare** — the agent resizes the screenshot to the model's own geometry (the size the model's
   image processor would have resized it to: Qwen2-VL's ``smart_resize`` within
   ``min_pixels..max_pixels``, Idefics3's square ``max_image_size`` — or its tile grid when it splits —
   LLaVA's crop square) with the processor's resampling filter.  That image is what the model sees;
   it is stored losslessly (PNG) in the content-addressed :class:`envgym.image_store.ImageStore`.
2. **encode** — the model's processor turns the chat text and the prepared images into token ids
   (each image placeholder expanded to the processor's count) and pixel tensors, with resizing
   switched off (``do_resize=False``; Idefics3's fixed-size resize is then the identity).
3. **record** — the turn keeps, per image, a ref ``{"id", "settings", "pixels", "size",
   "source_size"}``: the stored file, the key of the processor settings (class, its full config and
   the call's keyword arguments, stored in the image store too), a digest of the pixel tensors and the
   sizes before and after step 1.

The learner rebuilds each image's tensors from the stored PNG with the recorded settings — no
template is rendered, no image resized, no text tokenised — and :meth:`VisionProcessor.load`
checks the digest, so a learner whose inputs differ from the rollout's by one bit fails loudly
instead of training on something else.

Families (by ``model.config.model_type``): ``idefics3`` (SmolVLM), ``qwen2_vl`` / ``qwen2_5_vl``,
``llava``.  transformers 5 cannot build ``Qwen2VLProcessor`` without torchvision (its video
processor needs it); envgym then drives Qwen2-VL's image processor and tokenizer itself, expanding
each ``<|image_pad|>`` to ``grid_t·grid_h·grid_w / merge²`` tokens (the processor's own rule).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from envgym.image_store import ImageStore, settings_key


@dataclass(frozen=True)
class PromptImage:
    """One image of a prompt, in the order of its placeholders: the stored ref, the processed tensors
    (``unit``: this image's share of the model's image inputs) and the prepared PIL image."""

    ref: dict[str, Any]
    unit: dict[str, Any]
    image: Any = None
    call: dict[str, Any] = field(default_factory=dict)  # the processor call that made ``unit`` (vLLM redoes it)

    @property
    def key(self) -> tuple[str, str]:
        return self.ref["id"], self.ref.get("settings", "")


def tensor_digest(unit: dict[str, Any]) -> str:
    """16 hex digits of the sha256 of an image's tensors (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name in sorted(unit):
        tensor = unit[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def decode_image(data: bytes) -> Any:
    """PNG/JPEG bytes -> an RGB PIL image."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


# ---------------------------------------------------------------------- families
class _Family:
    """What differs between VLM families: geometry, resize switches, placeholders, batching."""

    name = ""
    resize_off: dict[str, Any] = {"do_resize": False}
    placeholder_tokens: tuple[str, ...] = ()  # special tokens only the processor may place

    def __init__(self, image_processor: Any, tokenizer: Any, config: Any):
        self.ip = image_processor
        self.tokenizer = tokenizer
        self.config = config

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        raise NotImplementedError

    def split(self, out: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """The processor's batched image outputs -> one unit per image."""
        raise NotImplementedError

    def collate(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """Units of each row's images (in placeholder order) -> the model's image keyword arguments."""
        raise NotImplementedError

    def count_images(self, ids: list[int]) -> int:
        raise NotImplementedError

    def positions(self, model: Any, input_ids: Any, attention: Any, inputs: dict[str, Any]) -> tuple[Any, Any] | None:
        """``(position_ids, per-row delta)`` when the family computes its own positions, else ``None``."""
        return None


class _Idefics3(_Family):
    name = "idefics3"
    placeholder_tokens = ("<image>", "<fake_token_around_image>", "<global-img>",
                          *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)))

    def __init__(self, image_processor: Any, tokenizer: Any, config: Any):
        super().__init__(image_processor, tokenizer, config)
        self.side = int(image_processor.max_image_size["longest_edge"])
        self.global_id = tokenizer.convert_tokens_to_ids("<global-img>")

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        if not self.ip.do_image_splitting:
            return self.side, self.side
        longest = int(self.ip.size["longest_edge"])  # the tile grid the processor would resize to
        scale = min(1.0, longest / max(width, height))
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        return -(-w // self.side) * self.side, -(-h // self.side) * self.side

    def split(self, out: dict[str, Any], count: int) -> list[dict[str, Any]]:
        pixels, mask = out["pixel_values"][0], out["pixel_attention_mask"][0]  # [N sub-images, ...]
        if count == 1:
            return [{"pixel_values": pixels, "pixel_attention_mask": mask}]
        per = pixels.shape[0] // count  # every image of one prepared size has the same number of tiles
        return [{"pixel_values": pixels[i * per:(i + 1) * per], "pixel_attention_mask": mask[i * per:(i + 1) * per]}
                for i in range(count)]

    def collate(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        import torch

        stacks = [(torch.cat([u["pixel_values"] for u in row]), torch.cat([u["pixel_attention_mask"] for u in row]))
                  if row else None for row in rows]
        shape = next(s for s in stacks if s is not None)[0].shape[1:]
        most = max(s[0].shape[0] if s is not None else 0 for s in stacks)
        pixels = torch.zeros((len(rows), most, *shape), dtype=torch.float32)
        mask = torch.zeros((len(rows), most, *shape[1:]), dtype=torch.long)
        for r, stack in enumerate(stacks):  # all-zero padding images are dropped by the model
            if stack is not None:
                pixels[r, : stack[0].shape[0]] = stack[0]
                mask[r, : stack[1].shape[0]] = stack[1]
        return {"pixel_values": pixels, "pixel_attention_mask": mask}

    def count_images(self, ids: list[int]) -> int:
        return sum(1 for t in ids if t == self.global_id)


class _Qwen2VL(_Family):
    name = "qwen2_vl"
    placeholder_tokens = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")

    def __init__(self, image_processor: Any, tokenizer: Any, config: Any):
        super().__init__(image_processor, tokenizer, config)
        self.pad_id = int(config.image_token_id)
        self.start_id = int(config.vision_start_token_id)
        self.merge = int(image_processor.merge_size)

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        factor = self.ip.patch_size * self.merge
        h, w = smart_resize(height, width, factor=factor, min_pixels=self.ip.size["shortest_edge"],
                            max_pixels=self.ip.size["longest_edge"])
        return w, h

    def split(self, out: dict[str, Any], count: int) -> list[dict[str, Any]]:
        grids = out["image_grid_thw"]
        sizes = [int(g.prod()) for g in grids]
        pieces = out["pixel_values"].split(sizes)
        return [{"pixel_values": p, "image_grid_thw": grids[i : i + 1]} for i, p in enumerate(pieces)]

    def collate(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        import torch

        units = [u for row in rows for u in row]
        return {"pixel_values": torch.cat([u["pixel_values"] for u in units]),
                "image_grid_thw": torch.cat([u["image_grid_thw"] for u in units])}

    def count_images(self, ids: list[int]) -> int:
        return sum(1 for t in ids if t == self.start_id)

    def expand(self, text: str, units: list[dict[str, Any]]) -> str:
        """The processor's placeholder rule: the i-th ``<|image_pad|>`` becomes
        ``grid_t·grid_h·grid_w / merge²`` of them."""
        pad = "<|image_pad|>"
        pieces = text.split(pad)
        if len(pieces) - 1 != len(units):
            raise ValueError(f"{len(pieces) - 1} image placeholders in the text for {len(units)} images")
        out = pieces[0]
        for unit, piece in zip(units, pieces[1:]):
            out += pad * (int(unit["image_grid_thw"].prod()) // self.merge ** 2) + piece
        return out

    def positions(self, model: Any, input_ids: Any, attention: Any, inputs: dict[str, Any]) -> tuple[Any, Any] | None:
        """M-RoPE positions from the model's own ``get_rope_index`` (text 1-D, image tokens by
        (t, h, w)); the delta continues them for generated text: ``pos = 1-D position + delta``."""
        core = model if hasattr(model, "get_rope_index") else model.model
        types = (input_ids == self.pad_id).int()
        return core.get_rope_index(input_ids, mm_token_type_ids=types, image_grid_thw=inputs["image_grid_thw"],
                                   attention_mask=attention)


class _Llava(_Family):
    name = "llava"
    placeholder_tokens = ("<image>",)
    resize_off = {"do_resize": False, "do_center_crop": False}

    def __init__(self, image_processor: Any, tokenizer: Any, config: Any):
        super().__init__(image_processor, tokenizer, config)
        self.image_id = int(config.image_token_index)

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        crop = self.ip.crop_size
        return int(crop["width"]), int(crop["height"])

    def split(self, out: dict[str, Any], count: int) -> list[dict[str, Any]]:
        return [{"pixel_values": out["pixel_values"][i : i + 1]} for i in range(count)]

    def collate(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        import torch

        return {"pixel_values": torch.cat([u["pixel_values"] for row in rows for u in row])}

    def count_images(self, ids: list[int]) -> int:
        runs, previous = 0, None
        for t in ids:
            runs += t == self.image_id and previous != self.image_id
            previous = t
        return runs


_FAMILIES = {"idefics3": _Idefics3, "qwen2_vl": _Qwen2VL, "qwen2_5_vl": _Qwen2VL, "llava": _Llava}


# ---------------------------------------------------------------------- the processor
class VisionProcessor:
    """A VLM's processor (or, for Qwen2-VL without torchvision, its image processor + tokenizer) plus
    the family rules above.  ``settings`` are what :meth:`encode` and :meth:`load` run with."""

    def __init__(self, processor: Any, model_config: Any, *, image_processor: Any = None, tokenizer: Any = None):
        model_type = getattr(model_config, "model_type", None)
        if model_type not in _FAMILIES:
            raise ValueError(f"no vision support for model type {model_type!r}; supported: {', '.join(sorted(_FAMILIES))}")
        self.processor = processor
        self.image_processor = image_processor if image_processor is not None else processor.image_processor
        self.tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.chat_template = getattr(processor, "chat_template", None) or self.tokenizer.chat_template
        self.family = _FAMILIES[model_type](self.image_processor, self.tokenizer, model_config)
        self.call_kwargs = dict(self.family.resize_off)
        self.settings = {
            "family": self.family.name,
            "processor": type(processor).__name__ if processor is not None else None,
            "image_processor_class": type(self.image_processor).__name__,
            "image_processor": _json_safe(self.image_processor.to_dict()),
            "call": dict(self.call_kwargs),
            "resample": int(self.image_processor.resample),
        }
        self.settings_key = settings_key(self.settings)
        self._loaded: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._rebuilt: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ as the policy's "tokenizer"
    @property
    def pad_token_id(self) -> int | None:
        return self.tokenizer.pad_token_id

    @property
    def eos_token_id(self) -> Any:
        return self.tokenizer.eos_token_id

    def decode(self, ids: list[int], **kwargs: Any) -> str:
        return self.tokenizer.decode(ids, **kwargs)

    def save_pretrained(self, path: Any) -> None:
        """Write the processor (or its parts) beside a saved model, as ``from_pretrained`` reads it."""
        for part in (self.processor,) if self.processor is not None else (self.image_processor, self.tokenizer):
            part.save_pretrained(path)

    # ------------------------------------------------------------------ rollout side
    def prepare(self, image: Any) -> Any:
        """``image`` (PIL, any size) resized to the model's geometry with the processor's filter."""
        image = image.convert("RGB")
        size = self.family.target_size(*image.size)
        return image if image.size == size else image.resize(size, resample=self.settings["resample"])

    def encode(self, text: str, images: list[Any]) -> tuple[list[int], list[dict[str, Any]]]:
        """Token ids of ``text`` (its image placeholders expanded) and one tensor unit per prepared
        image; no special tokens are added (the text is a piece of a conversation)."""
        if not images:
            return list(self.tokenizer.encode(text, add_special_tokens=False)), []
        if self.processor is None:  # Qwen2-VL without a processor object
            units = self.family.split(self._image_outputs(self.image_processor, images), len(images))
            expanded = self.family.expand(text, units)
            return list(self.tokenizer.encode(expanded, add_special_tokens=False)), units
        out = self.processor(text=[text], images=[list(images)], add_special_tokens=False, return_tensors="pt",
                             **self.call_kwargs)
        return out["input_ids"][0].tolist(), self.family.split(out, len(images))

    def prompt_image(self, store: ImageStore, image: Any, unit: dict[str, Any], source_size: tuple[int, int]) -> PromptImage:
        """Store a prepared image and its settings; the :class:`PromptImage` a request carries."""
        ref = {"id": store.put(png_bytes(image)), "settings": store.put_settings(self.settings),
               "pixels": tensor_digest(unit), "size": list(image.size), "source_size": list(source_size)}
        return PromptImage(ref, unit, image, dict(self.call_kwargs))

    def count_images(self, ids: list[int]) -> int:
        """How many image blocks ``ids`` holds (what a turn's list of refs must match)."""
        return self.family.count_images(ids)

    @property
    def placeholder_ids(self) -> list[int]:
        """The ids of the family's image placeholder tokens that this tokenizer has (never sampled)."""
        vocab = self.tokenizer.get_vocab()
        return sorted({vocab[token] for token in self.family.placeholder_tokens if token in vocab})

    # ------------------------------------------------------------------ learner side
    def load(self, store: ImageStore, ref: dict[str, Any]) -> dict[str, Any]:
        """The tensor unit of a recorded image: the stored PNG through the recorded settings, checked
        against the recorded digest (cached by id + settings)."""
        key = (ref["id"], ref["settings"])
        with self._lock:
            unit = self._loaded.get(key)
            if unit is not None:
                self._loaded.move_to_end(key)
                return unit
        image = decode_image(store.get(ref["id"]))
        if list(image.size) != list(ref["size"]):
            raise ValueError(f"image {ref['id']}: stored size {image.size} is not the recorded {ref['size']}")
        settings_id = ref["settings"]
        processor = self._processor_for(store, settings_id)
        call = store.get_settings(settings_id)["call"] if processor is not self.image_processor else self.call_kwargs
        unit = self.family.split(self._image_outputs(processor, [image], call), 1)[0]
        if tensor_digest(unit) != ref["pixels"]:
            raise ValueError(f"image {ref['id']}: the learner's pixel tensors differ from the rollout's "
                             f"(digest {tensor_digest(unit)} != {ref['pixels']}); refusing to train on them")
        with self._lock:
            self._remember(key, unit)
        return unit

    def collate(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """Model keyword arguments for a batch whose row ``r`` holds the units ``rows[r]``; ``{}``
        when no row has an image."""
        return self.family.collate(rows) if any(rows) else {}

    def positions(self, model: Any, input_ids: Any, attention: Any, inputs: dict[str, Any]) -> tuple[Any, Any] | None:
        return self.family.positions(model, input_ids, attention, inputs) if inputs else None

    # ------------------------------------------------------------------ helpers
    def _image_outputs(self, image_processor: Any, images: list[Any], call: dict[str, Any] | None = None) -> dict[str, Any]:
        kwargs = dict(self.call_kwargs if call is None else call)
        if self.family.name == "idefics3":
            return image_processor(images=[list(images)], return_tensors="pt", **kwargs)
        return image_processor(images=list(images), return_tensors="pt", **kwargs)

    def _processor_for(self, store: ImageStore, settings_id: str) -> Any:
        """This processor's image processor when it made ``settings_id``, else one rebuilt from the
        recorded settings (same class, same configuration)."""
        if settings_id == self.settings_key:
            return self.image_processor
        with self._lock:
            rebuilt = self._rebuilt.get(settings_id)
        if rebuilt is None:
            import transformers

            settings = store.get_settings(settings_id)
            cls = getattr(transformers, settings["image_processor_class"])
            rebuilt = cls.from_dict(dict(settings["image_processor"]))
            with self._lock:
                self._rebuilt[settings_id] = rebuilt
        return rebuilt

    def _remember(self, key: tuple[str, str], unit: dict[str, Any], limit: int = 4096) -> None:
        self._loaded[key] = unit
        self._loaded.move_to_end(key)
        while len(self._loaded) > limit:
            self._loaded.popitem(last=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def is_vision_model(path: Any) -> bool:
    """Whether the model directory (or hub id) holds a vision-language model (its config has a
    ``vision_config``)."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(str(path)), "vision_config", None) is not None


def load_vision_policy(path: Any, device: str = "cpu", dtype: Any = None) -> tuple[Any, VisionProcessor]:
    """``(model, VisionProcessor)`` from a directory or hub id, through ``AutoModelForImageTextToText``
    and ``AutoProcessor`` (float32 on CPU unless ``dtype``)."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    from envgym.agents.tiny_policy import require_model_dir

    require_model_dir(path)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is None and str(device).startswith("cpu"):
        dtype = torch.float32
    model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype if dtype is not None else "auto")
    model.to(device)
    model.eval()
    try:
        processor = AutoProcessor.from_pretrained(str(path))
    except ImportError:  # Qwen2VLProcessor without torchvision: the parts, driven by VisionProcessor
        return model, VisionProcessor(None, model.config, image_processor=AutoImageProcessor.from_pretrained(str(path)),
                                      tokenizer=AutoTokenizer.from_pretrained(str(path)))
    return model, VisionProcessor(processor, model.config)
