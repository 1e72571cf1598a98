"""Checks of the constructor options every text env shares."""

from __future__ import annotations

from typing import Any

from mulligan.errors import ConfigError


def check_env_options(max_steps: Any, render_mode: str | None, render_modes: list[str]) -> None:
    """Validate a step cap and a render mode.

    Raises:
        ConfigError: ``max_steps`` is not a positive integer, or ``render_mode`` is not None and
            not one of ``render_modes``.
    """
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"max_steps must be a positive integer, got {max_steps!r}")
    if render_mode is not None and render_mode not in render_modes:
        raise ConfigError(f"unknown render mode {render_mode!r}; use one of {render_modes}")
