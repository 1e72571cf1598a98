"""Open registration of environments: :func:`register_env`, plugins, import paths, gymnasium ids.

An env reaches mulligan in one of four ways, all resolved by :func:`lookup`:

* ``register_env("me/Game-v0", "my_pkg.game:GameEnv", suites={...})``, from any code that runs
  first (the package's own envs, a module named by ``--import``, a plugin);
* a plugin: an entry point of the ``mulligan.envs`` group in an installed package, loaded the
  first time the catalogue is consulted. Its value is a callable that registers envs (called with
  no arguments) or a module (imported); an entry point whose *name* is an env id
  (``"me/Game-v0" = "my_pkg.game:GameEnv"``) registers that env lazily, without importing it;
* an import path, ``"my_pkg.game:GameEnv"`` (a ``gymnasium.Env`` class or a factory returning one);
* any id registered with gymnasium whose spaces are text.

Envs registered without suites run on seeds as tasks (:mod:`mulligan.envs.seeded`). Registering
stores data only; entry points are imported when an env is made or a suite is loaded.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

import gymnasium

from mulligan.envs.suites import suggest
from mulligan.errors import ConfigError
from mulligan.registry import import_ref

PLUGIN_GROUP = "mulligan.envs"
"""The entry-point group plugins register envs under."""

SuiteSource = Union[str, Callable[[], Any], Any]
"""A suite as given to :func:`register_env`: ``"module:factory"``, a factory, or a suite object."""

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment.

    Attributes:
        id: The gymnasium id.
        entry_point: ``"module:Attr"`` (an env class or a factory) or the callable itself.
        description: One line for ``mulligan envs``.
        suites: Suite name -> source; the first is the default. Empty: seeds as tasks.
        suite_loader: ``"module:function"`` (or a function) that loads a suite by a name not in
            ``suites`` (a file or folder path).
        origin: Where the registration came from: ``mulligan``, ``plugin <name>``, ``import path``,
            ``gymnasium`` or the registering module.
    """

    id: str
    entry_point: str | Callable[..., Any]
    description: str = ""
    suites: Mapping[str, SuiteSource] = field(default_factory=dict)
    suite_loader: str | Callable[[str], Any] | None = None
    origin: str = ""

    @property
    def gym_id(self) -> str:
        """The id in gymnasium's registry: ``gymnasium.make`` reads a colon as "import this module
        first", so an import path ``pkg.game:GameEnv`` is registered as ``pkg.game.GameEnv``."""
        return self.id.replace(":", ".")


_REGISTRY: dict[str, EnvEntry] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_plugins_loaded = False
_lock = threading.RLock()


def register_env(
    env_id: str,
    entry_point: str | Callable[..., Any],
    *,
    description: str = "",
    suites: Mapping[str, SuiteSource] | None = None,
    suite_loader: str | Callable[[str], Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    origin: str | None = None,
) -> EnvEntry:
    """Register an environment with mulligan and with gymnasium (data only; nothing is imported).

    Args:
        env_id: A gymnasium id, ``"namespace/Name-vN"``.
        entry_point: ``"module:Attr"`` naming a ``gymnasium.Env`` subclass or a factory that
            returns one, or that class or factory itself.
        description: One line shown by ``mulligan envs``.
        suites: Suite name -> ``"module:factory"``, a factory or a suite object; the first is the
            default. Each suite states its own splits (and ``default_split``). None: the env runs
            on seeds as tasks (split ``seed``, task ``seed-17`` resets with ``seed=17``).
        suite_loader: Loads suites by other names (paths), ``"module:function"`` or a function.
        kwargs: Default constructor arguments (gymnasium's ``kwargs``).
        origin: Where the registration comes from (shown by ``mulligan envs``).

    Returns:
        The entry. Registering the same id again with the same entry point is a no-op.

    Raises:
        ConfigError: A malformed id or entry point, or the id is taken by another entry point.
    """
    try:
        gymnasium.envs.registration.parse_env_id(env_id)
    except gymnasium.error.Error as e:
        raise ConfigError(f"bad environment id {env_id!r}: {e}") from None
    if isinstance(entry_point, str) and not _IMPORT_PATH.fullmatch(entry_point):
        raise ConfigError(f"bad entry point {entry_point!r} for {env_id}: expected 'package.module:Name'")
    entry = EnvEntry(env_id, entry_point, description, dict(suites or {}), suite_loader, origin or "")
    with _lock:
        old = _REGISTRY.get(env_id)
        if old is not None:
            if old.entry_point != entry_point:
                raise ConfigError(f"environment {env_id!r} is already registered with entry point {old.entry_point!r}")
            return old
        _REGISTRY[env_id] = entry
        if entry.gym_id not in gymnasium.registry:
            gymnasium.register(id=entry.gym_id, entry_point=entry_point, kwargs=dict(kwargs or {}))
    return entry


def registered() -> dict[str, EnvEntry]:
    """Every registered env (plugins loaded), by id, in registration order."""
    load_plugins()
    return dict(_REGISTRY)


def plugin_errors() -> dict[str, str]:
    """Plugins that failed to load: entry-point name -> the error (they are skipped, never fatal)."""
    load_plugins()
    return dict(_PLUGIN_ERRORS)


def load_plugins() -> None:
    """Load the ``mulligan.envs`` entry points of installed packages, once per process.

    A plugin that fails is skipped with a warning and listed by :func:`plugin_errors`.
    """
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
            try:
                if "/" in ep.name:
                    register_env(ep.name, ep.value, origin=f"plugin {ep.dist.name if ep.dist else ep.name}")
                    continue
                loaded = ep.load()
                if callable(loaded):
                    loaded()
            except Exception as e:  # noqa: BLE001 - one broken plugin must not break the others
                _PLUGIN_ERRORS[ep.name] = f"{type(e).__name__}: {e}"
                warnings.warn(f"mulligan env plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)


def import_plugins(modules: list[str] | tuple[str, ...]) -> None:
    """Import modules that register envs (``--import MODULE``).

    Raises:
        ConfigError: A module cannot be imported (the message says why).
    """
    for name in modules:
        try:
            _import(name)
        except ImportError as e:
            raise ConfigError(f"--import {name}: {e}") from e


def _cwd_importable() -> None:
    # Like ``python -m``: modules in the current directory are importable (mulligan run game:Env).
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())


def _import(module_name: str) -> Any:
    _cwd_importable()
    return importlib.import_module(module_name)


def lookup(env_id: str) -> EnvEntry:
    """The entry of an env id, registering import paths and text gymnasium ids on first use.

    Raises:
        ConfigError: Unknown id (with a suggestion), or an import path that does not resolve.
    """
    entry = _REGISTRY.get(env_id)
    if entry is not None:
        return entry
    load_plugins()
    if env_id in _REGISTRY:
        return _REGISTRY[env_id]
    if _IMPORT_PATH.fullmatch(env_id):
        target = load_entry_point(env_id, what="environment")
        doc = (getattr(target, "__doc__", None) or "").strip().splitlines()
        return register_env(env_id, env_id, description=doc[0] if doc else "", origin="import path")
    if env_id in gymnasium.registry:
        return register_env(env_id, gymnasium.registry[env_id].entry_point, origin="gymnasium")
    known = list(_REGISTRY)
    raise ConfigError(
        f"unknown environment {env_id!r}.{suggest(env_id, known + list(gymnasium.registry))}"
        f" Registered: {', '.join(known)}. A plugin's env needs its package installed or --import MODULE;"
        " any env class or factory runs as 'package.module:Name'."
    )


def load_entry_point(path: str, what: str) -> Any:
    """Import ``"package.module:Attr"`` (dots after the colon walk attributes).

    Raises:
        ConfigError: The module or attribute does not exist.
    """
    _cwd_importable()
    return import_ref(path, what)


def resolve(source: Any, what: str) -> Any:
    """A ``"module:attr"`` string loaded, anything else as it is."""
    return load_entry_point(source, what) if isinstance(source, str) else source


def env_class_metadata(env_id: str) -> dict[str, Any]:
    """The ``metadata`` of an env's class without making the env ({} for factories)."""
    entry = lookup(env_id)
    target = resolve(entry.entry_point, "environment")
    metadata = getattr(target, "metadata", None) if isinstance(target, type) else None
    return dict(metadata) if isinstance(metadata, dict) else {}
