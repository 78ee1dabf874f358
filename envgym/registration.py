"""The environment registry: ``register``, ``make``, ``spec``, ``list_envs``.

Ids look like ``envgym/Maze-v0`` (``namespace/Name-vVersion``).  Entry points are ``"module:attr"``
strings, imported only when an env is made, so registering is free and ``import envgym`` stays fast.

Third-party packages register their envs through the ``envgym.envs`` entry-point group::

    # pyproject.toml of a plugin package
    [project.entry-points."envgym.envs"]
    my_envs = "my_package.envgym_plugin:register_envs"   # a function that calls envgym.register
    # or: my_envs = "my_package.envs"                     # a module that registers on import

Plugins load on the first lookup in every process, so subprocesses (multiprocessing ``spawn``,
env servers, containers) see them without any import in user code.  Every envgym env is also
registered with Gymnasium, so ``gymnasium.make("envgym/Maze-v0")`` works after ``import envgym``.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envgym.errors import UnknownEnvError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "envgym.envs"
_ID_PATTERN = re.compile(r"^(?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.:-]+?)(?:-v(?P<version>\d+))?$")


@dataclass
class EnvSpec:
    """How to build one registered env.

    ``entry_point``: ``"module:Class"`` or a callable returning an :class:`envgym.Env`.
    ``kwargs``: default constructor arguments (``make(id, **overrides)`` overrides them).
    ``image``: where ``runtime="container"`` gets the env's image: an envgym recipe name under
    ``containers/`` (for a plugin env, envgym adds an overlay that installs the plugin's
    distribution), a recipe directory shipped in the plugin, or a prebuilt tag — see
    :mod:`envgym.containers.plugin_images`.
    ``synthesis``: ``"module:attr"`` of the env's task-synthesis adapter class (a subclass of
    :class:`envgym.synth.adapters.GenericAdapter`); ``None``: synthesis uses the generic adapter.
    """

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    max_turns: int | None = None
    image: str = "base"
    extras: tuple[str, ...] = ()  # pip extras the env needs, e.g. ("web",)
    synthesis: str | None = None

    def load(self) -> Callable[..., Any]:
        """The env class (or factory) behind ``entry_point``."""
        if callable(self.entry_point):
            return self.entry_point
        return self._resolve(self.entry_point)

    def load_synthesis(self) -> Any:
        """The synthesis adapter class named by ``synthesis``, or ``None``."""
        return self._resolve(self.synthesis) if self.synthesis else None

    def _resolve(self, target: str) -> Any:
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            extras = f" (pip install 'envgym[{','.join(self.extras)}]')" if self.extras else ""
            raise ImportError(f"cannot load env {self.id!r} from {target!r}: {exc}{extras}") from exc
        obj: Any = module
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj

    def make(self, **kwargs: Any) -> Any:
        merged = {**self.kwargs, **kwargs}
        if self.max_turns is not None:
            merged.setdefault("max_turns", self.max_turns)
        env = self.load()(**merged)
        _attach_gym_spec(env, self, merged)
        return env


_REGISTRY: dict[str, EnvSpec] = {}
_LOCK = threading.RLock()
_PLUGINS_LOADED = False


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    *,
    kwargs: dict[str, Any] | None = None,
    description: str = "",
    tags: tuple[str, ...] | list[str] = (),
    max_turns: int | None = None,
    image: str = "base",
    extras: tuple[str, ...] | list[str] = (),
    synthesis: str | None = None,
    override: bool = False,
) -> EnvSpec:
    """Register an env under ``id``.  Re-registering the same id needs ``override=True``."""
    if not _ID_PATTERN.match(id):
        raise ValueError(f"malformed env id {id!r}; expected 'namespace/Name-v0'")
    spec = EnvSpec(
        id=id,
        entry_point=entry_point,
        kwargs=dict(kwargs or {}),
        description=description,
        tags=tuple(tags),
        max_turns=max_turns,
        image=image,
        extras=tuple(extras),
        synthesis=synthesis,
    )
    with _LOCK:
        existing = _REGISTRY.get(id)
        if existing is not None and not override:
            if existing.entry_point == spec.entry_point:
                return existing  # idempotent: a module imported twice registers twice
            raise ValueError(f"env id {id!r} is already registered to {existing.entry_point!r}")
        _REGISTRY[id] = spec
    _register_with_gymnasium(spec)
    return spec


def spec(id: str) -> EnvSpec:
    """The :class:`EnvSpec` registered under ``id``; raises :class:`UnknownEnvError` with suggestions."""
    _load_plugins()
    with _LOCK:
        found = _REGISTRY.get(id)
        known = list(_REGISTRY)
    if found is not None:
        return found
    close = difflib.get_close_matches(id, known, n=3, cutoff=0.5)
    if not close:  # match on the bare name too: "maze" -> "envgym/Maze-v0"
        lowered = id.lower()
        close = [k for k in known if lowered in k.lower()][:3]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvError(f"No environment registered as {id!r}.{hint} Run `envgym list` to see all ids.")


def make(id: str, *, runtime: str = "local", **kwargs: Any) -> Any:
    """Build the env registered as ``id``.

    ``runtime="local"`` (default) constructs it in this process.  ``runtime="remote"`` connects to an
    env server (``url=...``); ``runtime="container"`` starts one in a container.  All three return a
    ``gymnasium.Env`` with the same behaviour.
    """
    env_spec = spec(id)
    if runtime == "local":
        return env_spec.make(**kwargs)
    if runtime == "remote":
        from envgym.remote.client import make_remote

        return make_remote(env_spec, **kwargs)
    if runtime == "container":
        from envgym.containers.runtime import make_container_env

        return make_container_env(env_spec, **kwargs)
    raise ValueError(f"runtime must be 'local', 'remote' or 'container', got {runtime!r}")


def list_envs() -> list[EnvSpec]:
    """All registered specs, sorted by id (plugins included)."""
    _load_plugins()
    with _LOCK:
        return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    with _LOCK:
        if _PLUGINS_LOADED:
            return
        _PLUGINS_LOADED = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                if callable(loaded):
                    loaded()
            except Exception as exc:  # a broken plugin must not break every other env
                logger.warning("envgym plugin %r failed to load: %s", entry.name, exc)


def _register_with_gymnasium(env_spec: EnvSpec) -> None:
    import gymnasium

    if env_spec.id in gymnasium.registry:
        del gymnasium.registry[env_spec.id]
    gymnasium.register(
        id=env_spec.id,
        entry_point=env_spec.entry_point,
        kwargs=dict(env_spec.kwargs),
        disable_env_checker=True,
        order_enforce=False,
    )


def _attach_gym_spec(env: Any, env_spec: EnvSpec, kwargs: dict[str, Any]) -> None:
    """Give the env a Gymnasium spec, so ``env.spec.make()`` (used by ``check_env``) rebuilds it."""
    import gymnasium

    try:
        gym_spec = gymnasium.spec(env_spec.id)
    except gymnasium.error.Error:
        return
    unwrapped = getattr(env, "unwrapped", env)
    try:
        unwrapped.spec = gym_spec.copy() if hasattr(gym_spec, "copy") else gym_spec
        unwrapped.spec.kwargs = dict(kwargs)
    except AttributeError:
        pass
