"""Name -> ``"module:Attr"`` lookups with helpful errors, for every plug-in kind.

A registry maps short names to import references; a full import reference (``pkg.module:Name``)
is accepted wherever a registered name is, so users extend mulligan without editing it.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from mulligan.errors import ConfigError
from mulligan.options import did_you_mean

__all__ = ["did_you_mean", "import_ref", "is_import_ref", "resolve"]


def is_import_ref(name: str) -> bool:
    """Whether ``name`` looks like ``pkg.module:Attr`` (a module path, a colon, an attribute)."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr) and all(p.isidentifier() for p in [*module.split("."), *attr.split(".")])


def import_ref(ref: str, what: str) -> Any:
    """Import the object ``"pkg.module:Attr"`` names (``Attr`` may be dotted).

    Raises:
        ConfigError: The module or the attribute does not exist (one line, naming which).
    """
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"cannot import the {what} {ref!r}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"cannot import the {what} {ref!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def resolve(name: str, mapping: Mapping[str, str], what: str) -> Any:
    """Import the object registered under ``name``, or named by a full import reference.

    Raises:
        ConfigError: Unknown name; lists the known ones and suggests a close match.
    """
    if name in mapping:
        return import_ref(mapping[name], what)
    if is_import_ref(name):
        return import_ref(name, what)
    known = sorted(mapping)
    raise ConfigError(
        f"unknown {what} {name!r}; known: {', '.join(known)}, or an import path pkg.module:Name."
        f"{did_you_mean(name, known)}"
    )
