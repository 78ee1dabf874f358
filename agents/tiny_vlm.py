"""Tiny from-config vision-language models with locally built processors: the VLM test policies and
the from-scratch policy of the pixel task.

:func:`build_tiny_vlm` writes a Hugging Face model directory for one of three hub families, with
random (seeded) weights, the project's byte-level BPE tokenizer plus the family's special tokens,
the family's image processor and its hub chat template — so :func:`envgym.agents.vision.load_vision_policy`
loads it through exactly the path a hub checkpoint takes (``AutoModelForImageTextToText`` +
``AutoProcessor``):

============  ======================================  =====================================================
family        model class (hub examples)              processor, placeholders per image
============  ======================================  =====================================================
``idefics3``  ``Idefics3ForConditionalGeneration``    ``Idefics3Processor``: ``<fake_token_around_image>
              (SmolVLM-256M/500M/2B-Instruct)         <global-img>`` + ``<image>`` x ``image_seq_len`` +
                                                      ``<fake_token_around_image>``; with splitting, one
                                                      block per tile too
``qwen2_vl``  ``Qwen2VLForConditionalGeneration``     ``<|vision_start|>`` + ``<|image_pad|>`` x (h·w/merge²)
              (Qwen2-VL-2B/7B-Instruct)               + ``<|vision_end|>``: the count follows the image size
``llava``     ``LlavaForConditionalGeneration``       ``LlavaProcessor``: ``<image>`` x (side/patch)²
              (llava-1.5-7b-hf)
============  ======================================  =====================================================

Builds are cached by a hash of the configuration (like :mod:`envgym.agents.tiny_policy`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envgym.agents.tiny_policy import (
    BUILDER_VERSION,
    STAMP_FILE,
    _config_key,
    build_tokenizer,
    built,
    default_cache_dir,
    envgym_corpus,
)

FAMILIES = ("idefics3", "qwen2_vl", "llava")

#: SmolVLM-Instruct's template: one ``<|im_start|>``, then ``Role: text<end_of_utterance>`` per message
#: (``Role:`` without the space when the content starts with an image).
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
#: Qwen2-VL-Instruct's template: ChatML, a default system message, each image as
#: ``<|vision_start|><|image_pad|><|vision_end|>``.
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: llava-1.5-hf's template: ``USER: <image>\ntext ASSISTANT: text `` — no end-of-turn token at all.
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_SPECIAL = {
    "idefics3": ["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>"],
    "qwen2_vl": ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
    "llava": ["<image>", "</s>"],
}
_EOS = {"idefics3": "<end_of_utterance>", "qwen2_vl": "<|im_end|>", "llava": "</s>"}
_TEMPLATES = {"idefics3": IDEFICS3_TEMPLATE, "qwen2_vl": QWEN2_VL_TEMPLATE, "llava": LLAVA_TEMPLATE}


def vlm_tokenizer(family: str, corpus: list[str], vocab_size: int, extra_tokens: list[str]) -> Any:
    """The BPE tokenizer of :func:`envgym.agents.tiny_policy.build_tokenizer` plus ``family``'s special
    tokens (and ``extra_tokens``, e.g. coordinate tokens), its eos and its chat template."""
    tokenizer = build_tokenizer(corpus, vocab_size=vocab_size)
    tokenizer.add_special_tokens({"additional_special_tokens": _SPECIAL[family]})
    if extra_tokens:
        tokenizer.add_tokens(list(extra_tokens))
    tokenizer.eos_token = _EOS[family]
    tokenizer.chat_template = _TEMPLATES[family]
    return tokenizer


def build_tiny_vlm(
    family: str = "idefics3",
    path: str | os.PathLike | None = None,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    vision_hidden_size: int = 32,
    vision_layers: int = 1,
    vision_heads: int = 2,
    image_size: int = 56,
    patch_size: int | None = None,
    scale_factor: int = 2,
    image_splitting: bool = False,
    min_pixels: int = 28 * 28 * 4,
    max_pixels: int = 28 * 28 * 64,
    vocab_size: int = 1024,
    vocab_corpus: list[str] | None = None,
    extra_tokens: list[str] | None = None,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Build (or reuse) a tiny VLM of ``family`` at ``path`` (default: the cache, by config hash).

    ``image_size``: the vision encoder's input side (idefics3, llava), cut into ``patch_size`` patches
    (default 14 when it divides the side, else 8); ``scale_factor``: idefics3's pixel shuffle — each
    image token concatenates ``scale_factor²`` neighbouring patches (SmolVLM uses 4; with
    ``image_size / patch_size == scale_factor`` the whole image is one token whose features list every
    patch in order); ``image_splitting``: idefics3 also cuts large images into ``image_size`` tiles
    (placeholder counts then follow the image size);
    ``min_pixels``/``max_pixels``: qwen2_vl's dynamic-resolution bounds.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown VLM family {family!r}; known: {', '.join(FAMILIES)}")
    options = {
        "family": family, "hidden_size": hidden_size, "layers": layers, "heads": heads,
        "vision_hidden_size": vision_hidden_size, "vision_layers": vision_layers, "vision_heads": vision_heads,
        "image_size": image_size, "patch_size": patch_size, "scale_factor": scale_factor,
        "image_splitting": image_splitting, "min_pixels": min_pixels,
        "max_pixels": max_pixels, "vocab_size": vocab_size, "extra_tokens": list(extra_tokens or []), "seed": seed,
    }
    key = _config_key({"vlm": options}, vocab_corpus)
    target = Path(path) if path is not None else default_cache_dir().parent / "tiny_vlms" / key
    if not force and built(target, key):
        return target
    import torch

    tokenizer = vlm_tokenizer(family, vocab_corpus if vocab_corpus is not None else envgym_corpus(),
                              vocab_size, list(extra_tokens or []))
    config, parts = _BUILDERS[family](tokenizer, options)
    from transformers import AutoModelForImageTextToText

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    for part in parts:
        part.save_pretrained(target)
    (target / STAMP_FILE).write_text(json.dumps({"key": key, "config": options, "builder": BUILDER_VERSION}, indent=1))
    return target


def _text_config(tokenizer: Any, o: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer), "hidden_size": o["hidden_size"], "intermediate_size": 2 * o["hidden_size"],
        "num_hidden_layers": o["layers"], "num_attention_heads": o["heads"], "num_key_value_heads": o["heads"],
        "max_position_embeddings": 8192, "tie_word_embeddings": True,
        "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None, **extra,
    }


def _idefics3(tokenizer: Any, o: dict[str, Any]) -> tuple[Any, list[Any]]:
    from transformers import Idefics3Config, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    patch, scale = _patch(o), o["scale_factor"]
    if (o["image_size"] // patch) % scale:
        raise ValueError(f"idefics3: image_size / patch_size ({o['image_size']}/{patch}) must be a multiple of scale_factor {scale}")
    config = Idefics3Config(
        text_config={"model_type": "llama", **_text_config(tokenizer, o)},
        vision_config={"hidden_size": o["vision_hidden_size"], "intermediate_size": 2 * o["vision_hidden_size"],
                       "num_hidden_layers": o["vision_layers"], "num_attention_heads": o["vision_heads"],
                       "image_size": o["image_size"], "patch_size": patch},
        scale_factor=scale, image_token_id=tokenizer.convert_tokens_to_ids("<image>"), tie_word_embeddings=True,
    )
    side = {"longest_edge": o["image_size"]}
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=o["image_splitting"], max_image_size=side,
        size={"longest_edge": o["image_size"] * (4 if o["image_splitting"] else 1)})
    seq_len = (o["image_size"] // patch) ** 2 // scale ** 2
    return config, [Idefics3Processor(image_processor, tokenizer, image_seq_len=seq_len, chat_template=IDEFICS3_TEMPLATE)]


def _patch(o: dict[str, Any]) -> int:
    return o["patch_size"] or (14 if o["image_size"] % 14 == 0 else 8)


def _qwen2_vl(tokenizer: Any, o: dict[str, Any]) -> tuple[Any, list[Any]]:
    from transformers import Qwen2VLConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    head_dim = o["hidden_size"] // o["heads"]
    half = head_dim // 2
    section = [half - 2 * (half // 3), half // 3, half // 3]  # temporal, height, width rotary frequencies
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen2VLConfig(
        text_config=_text_config(tokenizer, o, rope_parameters={"rope_type": "default", "mrope_section": section,
                                                                "rope_theta": 10000.0}),
        vision_config={"depth": o["vision_layers"], "embed_dim": o["vision_hidden_size"], "hidden_size": o["hidden_size"],
                       "num_heads": o["vision_heads"], "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        tie_word_embeddings=True, **ids,
    )
    image_processor = Qwen2VLImageProcessorPil(min_pixels=o["min_pixels"], max_pixels=o["max_pixels"])
    # transformers 5 cannot build Qwen2VLProcessor without torchvision (its video processor needs it):
    # the directory holds the image processor and the tokenizer (with the chat template), as on the hub
    return config, [image_processor, tokenizer]


def _llava(tokenizer: Any, o: dict[str, Any]) -> tuple[Any, list[Any]]:
    from transformers import LlavaConfig, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    patch = _patch(o)
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": o["vision_hidden_size"],
                       "intermediate_size": 2 * o["vision_hidden_size"], "num_hidden_layers": o["vision_layers"] + 1,
                       "num_attention_heads": o["vision_heads"], "image_size": o["image_size"], "patch_size": patch,
                       "projection_dim": o["vision_hidden_size"]},
        text_config={"model_type": "llama", **_text_config(tokenizer, o)},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default", tie_word_embeddings=True,
    )
    side = o["image_size"]
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    processor = LlavaProcessor(image_processor, tokenizer, patch_size=patch, vision_feature_select_strategy="default",
                               image_token="<image>", num_additional_image_tokens=1, chat_template=LLAVA_TEMPLATE)
    return config, [processor]


_BUILDERS = {"idefics3": _idefics3, "qwen2_vl": _qwen2_vl, "llava": _llava}
