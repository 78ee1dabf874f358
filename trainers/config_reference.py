"""The trainer's configuration reference, generated from the config models: every key, its type, its
default and what it means.  ``envgym train --help-config`` prints it; ``docs/config.md`` holds it, and
``tests/test_train_explains.py`` keeps the two equal (regenerate with
``python -m envgym.trainers.config_reference > docs/config.md``).

A key's meaning is its ``Field(description=...)`` in :mod:`envgym.trainers.config`, else the entry in
:data:`MEANINGS` (the test fails for a key that has neither, and for a stale entry here).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from envgym.trainers.config import TrainConfig

#: Meanings of keys whose field has no description.
MEANINGS: dict[str, str] = {
    "run.name": "the run's name (curve title, summary)",
    "run.out_dir": "the run directory: config, metrics, TensorBoard, episodes, checkpoints, curve, summary; "
                   "an existing one is resumed (run.resume)",
    "run.seed": "seeds Python, NumPy, torch, task sampling and episode seeds",
    "run.resume": "auto: continue from the run directory's latest checkpoint; never: start over",
    "run.progress": "show the live progress line",
    "run.tensorboard": "write TensorBoard scalars (training metrics and eval success) under tensorboard/",
    "run.plot": "write curve.png at the end",
    "mode": "sync: rollouts and learning in lockstep (deterministic); async: rollouts run ahead by up to "
            "rollout.max_staleness versions",
    "envs[].id": "registered env id",
    "envs[].name": "a name for this entry (to train on one env id twice with different settings); default: the id",
    "envs[].runtime": "where the env runs: in-process, an env server (url), or its container",
    "envs[].url": "env server URL for runtime remote",
    "envs[].kwargs": "env constructor arguments",
    "envs[].task_file": "a JSONL task file to train on instead of the env's own tasks",
    "envs[].weight": "relative sampling weight of this env's tasks",
    "envs[].latency.median_s": "median extra delay per step (lognormal)",
    "envs[].latency.sigma": "lognormal sigma of the delay",
    "envs[].latency.reset_s": "extra delay per reset",
    "policy.lora.r": "LoRA rank",
    "policy.lora.alpha": "LoRA scaling α",
    "policy.lora.dropout": "LoRA dropout",
    "policy.lora.target_modules": "modules that get adapters",
    "policy.tiny": "architecture of the tiny from-config policy (policy.source tiny)",
    "policy.device": "cpu, cuda, cuda:1, …",
    "policy.gradient_checkpointing": "recompute activations in the backward pass (less memory, slower)",
    "agent.kind": "choice: one of the admissible actions (constrained decoding); llm: free text (function calls, "
                  "JSON or tags); hierarchical: HiPER subgoal + action agent",
    "agent.system_prompt": "system prompt of llm / hierarchical agents (None: the agent's default)",
    "agent.temperature": "sampling temperature of rollouts",
    "agent.max_new_tokens": "tokens generated per turn",
    "agent.window": "llm agent memory: past turns kept in the prompt (0: none, None: all)",
    "agent.action_format": "how the llm agent writes actions: auto, function, json or tagged",
    "rollout.backend": "what generates during rollouts: transformers (in-process) or vllm (GPU, weights pushed in place)",
    "rollout.vllm": "extra vLLM engine arguments",
    "algo.gigpo_episode_stats": "GiGPO episode-level normalisation over trajectories or over rows",
    "loss.kind": "ppo (token ratios) or gspo (sequence ratios)",
    "loss.agg": "how token losses become one number",
    "loss.kl_coef": "weight of the KL penalty to the initial policy (0: none, no reference model)",
    "loss.entropy_coef": "weight of the entropy bonus",
    "loss.objective": "decoupled: ratio to the proximal policy with capped weights π_prox/π_behav for stale data; "
                      "auto: decoupled when the batch holds stale rows",
    "loss.is_level": "importance weights per token or per sequence",
    "loss.is_mode": "truncate weights at is_cap, or mask rows above it",
    "loss.value_coef": "weight of the value loss (estimators with a critic)",
    "optim.lr": "Adam learning rate",
    "optim.lr_schedule": "constant, or linear/cosine decay to lr · lr_final_ratio",
    "optim.betas": "Adam betas",
    "optim.weight_decay": "AdamW weight decay",
    "optim.grad_clip": "clip the gradient norm to this",
    "optim.epochs": "passes over each batch",
    "optim.minibatches": "optimiser steps per pass",
    "data.drop_uniform_groups": "resample groups whose episodes all got the same return (no signal)",
    "data.replay_successes": "put a banked earlier success of the task into a group that has none",
    "data.replay_weight": "weight of a replayed success: one, or an importance weight",
    "data.success_bank_size": "successes kept per task for replay",
    "data.seed_with_oracle": "bank the oracle's episodes as successes before training (a signal from step 1)",
    "data.adaptive_tasks": "sample tasks the policy is learning more often",
    "data.min_task_weight": "floor of an adaptive task weight",
    "data.step_filter_rho": "keep this fraction of rows by the step filter (1: all)",
    "eval.episodes_per_task": "eval episodes per task (fixed seeds); 0: no evaluation",
    "eval.temperature": "sampling temperature during evaluation",
    "cluster.backend": "local: everything in this process; ray: learner, rollout backend and env workers as Ray actors",
    "cluster.namespace": "Ray namespace of the run's actors",
    "cluster.env_actors.num_cpus": "CPUs an env actor asks for",
    "cluster.env_actors.env": "the env entry (name or id) this placement is for",
    "cluster.env_actors.envs_per_actor": "envs one env actor runs",
    "cluster.env_overrides[].num_cpus": "CPUs this env's actors ask for",
    "cluster.env_overrides[].env": "the env entry (name or id) this override is for",
    "cluster.env_overrides[].envs_per_actor": "envs one of this env's actors runs",
    "cluster.learner.num_cpus": "CPUs the learner actor asks for",
    "cluster.rollout.num_cpus": "CPUs the rollout actor asks for",
}

HEADER = """# Trainer configuration reference

Generated from `trainers/config.py` by `envgym train --help-config` (do not edit by hand:
`python -m envgym.trainers.config_reference > docs/config.md`). A config is YAML with these
sections; any key can be overridden on the command line as `key.sub=value`
(`envgym train configs/maze_tiny.yaml run.steps=50 envs.0.workers=8`). Unknown keys are errors.
Examples: `configs/maze_tiny.yaml` (the main job), `configs/household_choice.yaml` (a text env with
admissible actions), `configs/sql_tools.yaml` (a tool env), `configs/plugin_lights.yaml` (a plugin env).
"""


def _model_of(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """``(model, how)`` when a field holds a section: ``plain``, ``optional`` (model | None) or ``list``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "plain"
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "list"
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, "optional"
    return None


def type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if origin is tuple:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return json.dumps(value.model_dump() if isinstance(value, BaseModel) else value, ensure_ascii=False)


def sections(model: type[BaseModel] = TrainConfig, prefix: str = "", note: str = "") -> Iterator[tuple[str, str, list]]:
    """``(section key, note, [(key, field), …])`` for ``model`` and, after it, each nested section."""
    leaves, nested = [], []
    for name, field in model.model_fields.items():
        found = _model_of(field.annotation)
        key = f"{prefix}{name}"
        if found is None:
            leaves.append((key, field))
            continue
        sub, how = found
        suffix = "[]" if how == "list" else ""
        sub_note = {"list": "a list: one entry each", "optional": "optional: null (the default) leaves it off",
                    "plain": ""}[how]
        nested.append((sub, f"{key}{suffix}.", sub_note))
    if leaves:
        yield prefix.rstrip(".") or "(top level)", note or (model.__doc__ or "").strip().split("\n")[0], leaves
    for sub, sub_prefix, sub_note in nested:
        yield from sections(sub, sub_prefix, sub_note)


def meaning(key: str, field: Any) -> str:
    return field.description or MEANINGS.get(key, "")


def reference() -> str:
    """The whole reference as Markdown."""
    out = [HEADER]
    for title, note, leaves in sections():
        out.append(f"\n## `{title}`\n")
        if note and not note.startswith(("Base class", "A base class")):
            out.append(f"{note}\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|")
        for key, field in leaves:
            cells = [f"`{key}`", type_name(field.annotation), f"`{_default(field)}`", meaning(key, field)]
            out.append("| " + " | ".join(c.replace("|", "\\|") if i == 3 else c for i, c in enumerate(cells)) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
