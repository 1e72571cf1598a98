"""Validated options: one way to turn user-given ``KEY=VALUE`` options into a config object.

Agents (``-o``), backends (``?key=value`` in a model spec) and memories (``--memory-option``)
all build their configs here, so an unknown key or a bad value always gets the same kind of
one-line error: which option, what was given, and what it accepts.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from mulligan.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' Did you mean X?' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(str(name), choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_option(key: str, known: list[str], what: str) -> ConfigError:
    """The error for an option ``what`` does not have."""
    return ConfigError(f"unknown {what} option {key!r}.{did_you_mean(key, known)} Options: {', '.join(known)}")


def validation_message(error: ValidationError, what: str, noun: str = "option") -> str:
    """The first problem of a pydantic error as one line: option, value given, what it accepts."""
    what = f"{what} {noun}" if what else noun
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "?"
    message = str(first.get("msg", "invalid")).rstrip(".")
    message = message[:1].lower() + message[1:]
    if first.get("type") == "extra_forbidden":
        return f"unknown {what} {where!r}."
    given = first.get("input")
    shown = f" = {given!r}" if not isinstance(given, (dict, BaseModel)) else ""
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    hint = ""
    expected = (first.get("ctx") or {}).get("expected")
    if isinstance(given, str) and isinstance(expected, str):
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",") if c.strip(" '")]
        hint = did_you_mean(given, choices)
    return f"bad {what} {where!r}{shown}: {message}{tail}.{hint}"


def build_options(config_class: type[M], values: Mapping[str, Any], what: str, base: BaseModel | None = None) -> M:
    """``config_class`` built from ``base`` (or its defaults) with ``values`` applied, validated.

    Args:
        config_class: A pydantic model whose fields are the options.
        values: The options given by the user.
        what: What the options belong to, for messages (``agent 'react'``, ``backend 'litellm'``).
        base: A config whose set fields are the starting point (any pydantic model; its fields
            that ``config_class`` lacks are dropped).

    Raises:
        ConfigError: An unknown option (with a close match and the known ones) or a bad value.
    """
    known = list(config_class.model_fields)
    fields = config_class.model_fields
    # Only what the base config set: another class's defaults must not override this one's.
    merged = {k: v for k, v in (base.model_dump(exclude_unset=True) if base is not None else {}).items()
              if k in fields}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            raise unknown_option(key, known, what)
        if not rest:
            merged[head] = value
            continue
        # ``params.temperature=0.7``: one field of a nested config.
        inner = merged[head] if head in merged else fields[head].get_default(call_default_factory=True)
        if isinstance(inner, BaseModel):
            inner = inner.model_dump()
        if not isinstance(inner, dict):
            raise ConfigError(f"{what} option {head!r} has no fields; give it as {head}=VALUE")
        merged[head] = _set_path({**inner}, rest, value)
    try:
        config = config_class.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(validation_message(e, what)) from None
    return config


def _set_path(tree: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    if rest:
        child = tree.get(head)
        tree[head] = _set_path(dict(child) if isinstance(child, dict) else {}, rest, value)
    else:
        tree[head] = value
    return tree
