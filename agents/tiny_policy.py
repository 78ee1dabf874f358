"""A tiny from-config causal LM with its own byte-level BPE tokenizer: the CPU default policy.

:func:`build_tiny_policy` writes a Hugging Face model directory (``config.json``, safetensors weights,
``tokenizer.json``, ``tokenizer_config.json`` with a Qwen-style chat template) so that
:func:`load_policy` loads it through exactly the path a real checkpoint takes
(``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``).  The model is a
``Qwen2ForCausalLM`` with random weights (seeded); the tokenizer is byte-level BPE trained on a
synthetic corpus of envgym-like text (maze, household, SQL observations and actions), so every
string round-trips (``decode(encode(s)) == s``) and common env words are single tokens.

Builds are cached by a hash of the configuration: building the same config again only checks the
directory's stamp file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
STAMP_FILE = "envgym_tiny_policy.json"
BUILDER_VERSION = 1

#: Qwen-like ChatML template: ``<|im_start|>role\ncontent<|im_end|>\n`` per message.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def default_cache_dir() -> Path:
    """``$ENVGYM_CACHE/tiny_policies`` or ``~/.cache/envgym/tiny_policies``."""
    root = os.environ.get("ENVGYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "envgym")
    return Path(root) / "tiny_policies"


def envgym_corpus(lines: int = 3000, seed: int = 0) -> list[str]:
    """Synthetic text that looks like envgym observations and actions (deterministic)."""
    rng = random.Random(seed)
    dirs = ["north", "south", "east", "west"]
    rooms = ["kitchen", "living room", "bathroom", "bedroom", "hallway", "garage"]
    objects = ["apple", "mug", "knife", "plate", "bowl", "tomato", "lettuce", "book", "key", "cup"]
    places = ["fridge", "countertop", "cabinet", "drawer", "sinkbasin", "microwave", "shelf", "table"]
    tables = ["users", "orders", "products", "employees", "departments"]
    cols = ["id", "name", "age", "price", "salary", "city", "quantity", "total"]
    out: list[str] = []
    for _ in range(lines):
        kind = rng.randrange(8)
        if kind == 0:
            walls = ", ".join(rng.sample(dirs, rng.randint(0, 3))) or "none"
            out.append(
                f"You are at ({rng.randint(0, 9)}, {rng.randint(0, 9)}). Walls: {walls}. "
                f"The goal is at ({rng.randint(0, 9)}, {rng.randint(0, 9)}). Actions: {', '.join(dirs)}."
            )
        elif kind == 1:
            seen = ", ".join(f"a {rng.choice(places)} {rng.randint(1, 3)}" for _ in range(rng.randint(2, 5)))
            out.append(f"You are in the {rng.choice(rooms)}. Looking around, you see {seen}.")
        elif kind == 2:
            o, p = rng.choice(objects), rng.choice(places)
            verb = rng.choice(["take", "put", "clean", "heat", "cool", "open", "go to"])
            out.append(f"{verb} {o} {rng.randint(1, 3)} from {p} {rng.randint(1, 3)}")
            out.append(f"Your task is to: put a clean {o} in {p}.")
        elif kind == 3:
            t, c = rng.choice(tables), rng.sample(cols, 2)
            query = f"SELECT {c[0]}, {c[1]} FROM {t} WHERE {c[1]} > {rng.randint(1, 100)} ORDER BY {c[0]};"
            out.append(f'sql(query="{query}")')
            out.append(json.dumps({"name": "sql", "arguments": {"query": query}}))
        elif kind == 4:
            out.append(f'answer("{rng.randint(0, 1000)}")  click("{rng.randint(0, 99)}")  '
                       f'fill(bid="{rng.randint(0, 99)}", text="{rng.choice(objects)}")')
        elif kind == 5:
            sw = rng.choice(["KEEP", "SWITCH"])
            out.append(
                f"<switch>{sw}</switch><subgoal>find the {rng.choice(objects)}</subgoal>"
                f"<action>{rng.choice(dirs)}</action>"
            )
        elif kind == 6:
            out.append(f"<action>{rng.choice(dirs)}</action> Invalid action: unknown command. "
                       f"Admissible actions: {', '.join(rng.sample(dirs, 3))}")
        else:
            out.append(" ".join(rng.choice(["the", "a", "is", "you", "to", "of", "and", "in", "done",
                                            "reward", "turn", "task", "error", "result", "rows"])
                                for _ in range(rng.randint(5, 15))))
    return out


def _config_key(config: dict[str, Any], corpus: list[str] | None) -> str:
    payload = json.dumps({"config": config, "corpus": corpus, "v": BUILDER_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_tokenizer(corpus: list[str], vocab_size: int = 1024) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ChatML special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_policy(
    path: str | os.PathLike | None = None,
    vocab_corpus: list[str] | None = None,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = None,
    intermediate_size: int | None = None,
    vocab_size: int = 1024,
    max_position_embeddings: int = 8192,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Build (or reuse) a tiny ``Qwen2ForCausalLM`` + tokenizer at ``path``; return the directory.

    ``path=None`` uses ``default_cache_dir()/<config hash>``.  A directory whose stamp matches the
    configuration hash is reused as is (unless ``force``).
    """
    config = {
        "hidden_size": hidden_size, "layers": layers, "heads": heads,
        "kv_heads": kv_heads or heads, "intermediate_size": intermediate_size or 2 * hidden_size,
        "vocab_size": vocab_size, "max_position_embeddings": max_position_embeddings, "seed": seed,
    }
    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} must be divisible by heads {heads}")
    key = _config_key(config, vocab_corpus)
    target = Path(path) if path is not None else default_cache_dir() / key
    if not force and built(target, key):
        return target

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    corpus = vocab_corpus if vocab_corpus is not None else envgym_corpus()
    tokenizer = build_tokenizer(corpus, vocab_size=vocab_size)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=config["kv_heads"],
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids(BOS_TOKEN),
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD_TOKEN),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(model_config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / STAMP_FILE).write_text(json.dumps({"key": key, "config": config}, indent=1))
    return target


def built(target: Path, key: str) -> bool:
    """Whether ``target`` holds a build whose stamp names configuration ``key``."""
    try:
        return json.loads((target / STAMP_FILE).read_text()).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def require_model_dir(path_or_hf_id: str | os.PathLike) -> None:
    """Fail clearly when a local path (absolute, ``./``, ``~`` or existing) is not a model directory;
    anything else is left to the hub lookup."""
    from envgym.errors import UsageError

    text = str(path_or_hf_id)
    path = Path(text).expanduser()
    if not (path.is_absolute() or text.startswith((".", "~")) or path.exists()):
        return
    if not path.is_dir():
        raise UsageError(f"no model directory at {text}: pass a Hugging Face model directory or a hub id")
    if not (path / "config.json").is_file():
        raise UsageError(f"{text} is not a model directory (it has no config.json): pass a directory written by "
                         "save_pretrained (config.json, weights, tokenizer files) or a hub id")


def load_policy(path_or_hf_id: str | os.PathLike, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a directory or hub id, the way any real checkpoint loads.

    ``dtype``: a ``torch.dtype``, a name (``"float32"``, ``"bfloat16"``) or ``None`` (float32 on CPU,
    the checkpoint's dtype elsewhere).
    """
    require_model_dir(path_or_hf_id)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is None and str(device).startswith("cpu"):
        dtype = torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(path_or_hf_id))
    kwargs = {"dtype": dtype} if dtype is not None else {"dtype": "auto"}
    model = AutoModelForCausalLM.from_pretrained(str(path_or_hf_id), **kwargs)
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def tiny_policy(device: str = "cpu", **config: Any) -> tuple[Any, Any]:
    """Build (cached) and load the tiny policy: ``(model, tokenizer)``."""
    return load_policy(build_tiny_policy(**config), device=device)
