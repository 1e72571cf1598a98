"""Agent options: a config class per agent, with unknown options rejected by name."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from mulligan.agents.base import AgentConfig
from mulligan.errors import ConfigError
from mulligan.registry import did_you_mean

C = TypeVar("C", bound=AgentConfig)


def build_config(config_class: type[C], config: AgentConfig | None, overrides: dict[str, Any]) -> C:
    """``config`` (or the class defaults) with ``overrides`` applied and validated.

    Raises:
        ConfigError: An option the agent does not have (with a close match), or a bad value.
    """
    known = list(config_class.model_fields)
    for key in overrides:
        if key not in config_class.model_fields:
            raise ConfigError(f"unknown agent option {key!r}; known: {', '.join(known)}.{did_you_mean(key, known)}")
    base = config.model_dump() if config is not None else {}
    try:
        return config_class.model_validate({**base, **overrides})
    except ValidationError as e:
        raise ConfigError(f"bad agent options: {e}") from e


def helper_llm(spec: str | None, default: Any) -> Any:
    """The backend of an agent's helper (critic, reflector): the model ``spec`` names, else ``default``."""
    if not spec:
        return default
    from mulligan.llm import make_llm

    return make_llm(spec)
