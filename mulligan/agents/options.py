"""Helpers of agents with helper models (critics, reflectors)."""

from __future__ import annotations

from typing import Any


def helper_llm(spec: str | None, default: Any) -> Any:
    """The backend of an agent's helper (critic, reflector): the model ``spec`` names, else ``default``."""
    if not spec:
        return default
    from mulligan.llm import make_llm

    return make_llm(spec)
