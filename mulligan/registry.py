"""Name -> ``"module:Attr"`` lookups with helpful errors, for every plug-in kind."""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Mapping

from mulligan.errors import ConfigError


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' Did you mean X?' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def resolve(name: str, mapping: Mapping[str, str], what: str) -> Any:
    """Import the object registered under ``name``, or named by a full import path ``"pkg.module:Attr"``.

    Raises:
        ConfigError: Unknown name; lists the known ones and suggests a close match.
    """
    if name not in mapping and ":" in name:
        module_name, attr = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"cannot import {what} {name!r}: {e}") from e
    if name not in mapping:
        known = sorted(mapping)
        raise ConfigError(f"unknown {what} {name!r}; known: {', '.join(known)}.{did_you_mean(name, known)}")
    module_name, attr = mapping[name].split(":")
    return getattr(importlib.import_module(module_name), attr)
