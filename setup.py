"""Package layout only (everything else is in pyproject.toml).

The repository keeps its folders (``envgym/``, ``envs/``, ``agents/``, ``trainers/``) but installs one
import package, ``envgym``: the three layer folders become ``envgym.envs``, ``envgym.agents`` and
``envgym.trainers``.  The package list is computed so that a new sub-package needs no edit here.
"""

import os

from setuptools import find_packages, setup

LAYERS = ("envs", "agents", "trainers")  # folder name == sub-package name under envgym

packages = find_packages(include=["envgym", "envgym.*"])
package_dir = {"envgym": "envgym"}
for layer in LAYERS:
    if not os.path.isdir(layer):  # container images copy only the layers they serve
        continue
    package_dir[f"envgym.{layer}"] = layer
    packages.append(f"envgym.{layer}")
    packages += [f"envgym.{layer}.{sub}" for sub in find_packages(where=layer)]

setup(packages=packages, package_dir=package_dir)
