"""envgym envs for TRL's ``GRPOTrainer(environment_factory=...)`` (``pip install 'envgym[trl]'``)::

    from trl import GRPOConfig, GRPOTrainer
    from envgym.adapters.trl import environment_class

    SQLEnv = environment_class("envgym/SQL-v0")
    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=dataset, environment_factory=SQLEnv)

The class TRL gets has, as TRL asks:

* ``reset(**row)`` — starts an episode from a dataset row: its ``task`` (a task id of the env's task
  set, or a task dict) and ``seed`` columns are used, the others (``prompt``…) ignored; returns the
  first observation's text, which TRL appends to the row's prompt;
* one method per env tool (:func:`envgym.interop.tools.tool_specs`), typed and documented from the
  tool's JSON schema, so TRL renders it as a tool for the model; calling it steps the env and returns
  the observation text (an env without function tools has ``act(action)``);
* ``get_reward()`` — the episode's return (sum of rewards); ``None`` (which TRL leaves out of the
  mean) when the env failed (``info["infra_error"]``), never a reward of 0 for an infrastructure fault.

Instances are picklable (they pickle as ``(env id, kwargs)`` and rebuild their env lazily; an episode
in progress is not carried over), and so is the class.  The env is built on first ``reset``.
"""

from __future__ import annotations

import copyreg
import inspect
import json
from typing import Any, Optional

import envgym
from envgym.errors import ResetNeeded
from envgym.interop.tools import ToolSpec, action_for, tool_specs

RESERVED = frozenset({"reset", "get_reward"})
_JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
_CLASSES: dict[str, type] = {}


class _EnvironmentMeta(type):
    """Metaclass of the generated classes: pickles a class as the call that makes it."""


def _rebuild_class(env_id: str, env_kwargs: dict[str, Any]) -> type:
    return environment_class(env_id, **env_kwargs)


def _reduce_class(cls: type) -> tuple[Any, tuple[Any, ...]]:
    return _rebuild_class, (cls._env_id, dict(cls._env_kwargs))  # type: ignore[attr-defined]


copyreg.pickle(_EnvironmentMeta, _reduce_class)  # type: ignore[arg-type]


class EnvgymEnvironment:
    """Base of the classes :func:`environment_class` makes (see the module docstring)."""

    _env_id: str = ""
    _env_kwargs: dict[str, Any] = {}
    _specs: list[ToolSpec] = []

    def __init__(self) -> None:
        self._env: Any = None
        self._return = 0.0
        self._infra_error: str | None = None
        self._over = False

    def reset(self, **row: Any) -> str:
        """Start an episode on the row's ``task`` (id or dict) and ``seed``; the first observation's text."""
        if self._env is None:
            self._env = envgym.make(self._env_id, **self._env_kwargs)
        task = row.get("task", row.get("task_id"))
        if isinstance(task, str) and task.lstrip().startswith("{"):
            task = json.loads(task)  # a task dict stored as JSON text in a dataset column
        seed = row.get("seed")
        obs, _ = self._env.reset(seed=None if seed is None else int(seed),
                                 options={"task": task} if task is not None else None)
        self._return, self._infra_error, self._over = 0.0, None, False
        return obs.get("text", "")

    def get_reward(self) -> float | None:
        """The episode's return; ``None`` when the env failed (not a reward of 0)."""
        return None if self._infra_error else self._return

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        if self._env is None:
            raise ResetNeeded("reset() the environment before calling its tools")
        if self._over:
            return "The episode is over; no further actions are taken."
        action = action_for(name, {k: v for k, v in arguments.items() if v is not None}, self._specs)
        obs, reward, terminated, truncated, info = self._env.step(action)
        self._return += float(reward)
        self._over = bool(terminated or truncated)
        if info.get("infra_error"):
            self._infra_error = str(info["infra_error"])
        return obs.get("text", "")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _new_instance, (type(self),)

    def __del__(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown, a dead browser: nothing to do
                pass


def _new_instance(cls: type) -> Any:
    return cls()


def environment_class(env_id: str, **env_kwargs: Any) -> type:
    """A class for ``GRPOTrainer(environment_factory=...)`` driving ``env_id`` built with ``env_kwargs``
    (see the module docstring).  The env's tools are read from a probe episode (seed 0)."""
    key = json.dumps([env_id, env_kwargs], sort_keys=True, default=repr)
    if key in _CLASSES:
        return _CLASSES[key]
    env_spec = envgym.spec(env_id)
    probe = envgym.make(env_id, **env_kwargs)
    try:
        obs, _ = probe.reset(seed=0)
        specs = tool_specs(obs, env_spec.description or "")
    finally:
        probe.close()
    namespace: dict[str, Any] = {"_env_id": env_id, "_env_kwargs": dict(env_kwargs), "_specs": specs,
                                 "__doc__": f"{env_id}: {env_spec.description}", "__module__": __name__}
    for spec in specs:
        if spec.name in RESERVED or not spec.name.isidentifier() or spec.name.startswith("_"):
            raise ValueError(f"{env_id}'s tool {spec.name!r} cannot be a method of a TRL environment")
        namespace[spec.name] = _tool_method(spec)
    name = "".join(part for part in env_id.replace("/", "-").replace("_", "-").split("-") if part.isalnum()) + "Environment"
    cls = _EnvironmentMeta(name, (EnvgymEnvironment,), namespace)
    _CLASSES[key] = cls
    return cls


def _tool_method(spec: ToolSpec) -> Any:
    """A method named after the tool, with a signature, type hints and a Google-style docstring made
    from its JSON schema (what ``transformers.utils.get_json_schema`` reads)."""
    properties = spec.input_schema.get("properties") or {}
    required = set(spec.input_schema.get("required") or ())
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    arg_docs = []
    for name in sorted(properties, key=lambda n: n not in required):  # required ones first
        schema = properties[name]
        json_type = schema.get("type") or "string"
        if isinstance(json_type, list):  # ["integer", "null"]: the non-null type
            json_type = next((t for t in json_type if t != "null"), "string")
        kind = _JSON_TYPES.get(json_type, str)
        annotation = kind if name in required else Optional[kind]
        default = inspect.Parameter.empty if name in required else None
        parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation))
        annotations[name] = annotation
        text = schema.get("description") or name.replace("_", " ")
        if schema.get("enum"):
            text += f" (choices: {json.dumps(schema['enum'])})"
        arg_docs.append(f"    {name}: {text}")
    annotations["return"] = str

    def tool(self: EnvgymEnvironment, *args: Any, **kwargs: Any) -> str:
        bound = signature.bind(self, *args, **kwargs)
        return self._call(spec.name, {k: v for k, v in bound.arguments.items() if k != "self"})

    signature = inspect.Signature(parameters, return_annotation=str)
    tool.__signature__ = signature  # type: ignore[attr-defined]
    tool.__annotations__ = annotations
    tool.__name__ = tool.__qualname__ = spec.name
    description = (spec.description or spec.name).strip()
    tool.__doc__ = description + ("\n\nArgs:\n" + "\n".join(arg_docs) if arg_docs else "") + \
        "\n\nReturns:\n    The observation after the action."
    return tool
