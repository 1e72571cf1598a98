"""Text environments as gymnasium envs, their registration and their task suites.

Importing this package registers every mulligan env with gymnasium (data only: entry points are
imported when an env is made). The catalogue functions below are what the CLI and the runner use:
:func:`list_envs`, :func:`get_suite`, :func:`make_env`. This package never imports llm, agents,
runner or training.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from mulligan.envs.suites import IndexedSuite, Suite, parse_task_id, suggest
from mulligan.errors import ConfigError


@dataclass(frozen=True)
class _Entry:
    entry_point: str
    description: str
    suites: dict[str, str]
    """Suite name -> ``"module:Class"``; the first is the default."""
    splits: dict[str, list[str]]
    suite_loader: str | None = None
    """``"module:function"`` that loads a suite by a name not in ``suites`` (e.g. a file path)."""


_CATALOGUE: dict[str, _Entry] = {
    "mulligan/Household-v0": _Entry(
        entry_point="mulligan.envs.household.env:HouseholdEnv",
        description="ALFWorld-style text household: six task types, generated from the task id, 50-step cap.",
        suites={"household": "mulligan.envs.household.suites:HouseholdSuite"},
        splits={"household": ["train", "seen", "unseen"]},
    ),
    "mulligan/Code-v0": _Entry(
        entry_point="mulligan.envs.code.env:CodeEnv",
        description="Write a Python function; run, test and submit it in a sandbox (Docker by default). "
        "Suites: builtin, humaneval, or the path of an MBPP-style .jsonl file.",
        suites={"builtin": "mulligan.envs.code.suites:builtin_suite",
                "humaneval": "mulligan.envs.code.suites:humaneval_suite"},
        splits={"builtin": ["train", "test"], "humaneval": ["test"]},
        suite_loader="mulligan.envs.code.suites:load_suite",
    ),
    "mulligan/Gui-v0": _Entry(
        entry_point="mulligan.envs.gui.env:GuiEnv",
        description="Simulated phone apps (settings, mail, shop, notes) as an accessibility tree (and screenshots); "
        "delete, send and pay cannot be undone; 30-step cap.",
        suites={"gui": "mulligan.envs.gui.suites:GuiSuite"},
        splits={"gui": ["train", "seen", "unseen"]},
    ),
    "mulligan/MiniWoB-v0": _Entry(
        entry_point="mulligan.envs.adapters.miniwob:MiniWoBEnv",
        description="MiniWoB++ tasks in real Chromium (the miniwob package) through the GUI action grammar; "
        "suites by task name (click-button, click-test, enter-text, ... or any miniwob task name).",
        suites={"click-button": "mulligan.envs.adapters.miniwob:click_button_suite",
                "click-test": "mulligan.envs.adapters.miniwob:click_test_suite",
                "enter-text": "mulligan.envs.adapters.miniwob:enter_text_suite"},
        splits={"click-button": ["train", "test"], "click-test": ["train", "test"], "enter-text": ["train", "test"]},
        suite_loader="mulligan.envs.adapters.miniwob:load_suite",
    ),
}

for _env_id, _entry in _CATALOGUE.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry.entry_point)


@dataclass(frozen=True)
class SuiteInfo:
    """A suite as listed in the catalogue: its name and splits (the suite itself loads lazily)."""

    name: str
    splits: list[str]


@dataclass(frozen=True)
class EnvInfo:
    """A catalogue entry.

    Attributes:
        id: The gymnasium id, e.g. ``"mulligan/Household-v0"``.
        description: One line.
        suites: The env's suites; the first is the default.
    """

    id: str
    description: str
    suites: list[SuiteInfo] = field(default_factory=list)


def list_envs() -> list[EnvInfo]:
    """The environments mulligan ships, with their suites and splits."""
    return [
        EnvInfo(env_id, e.description, [SuiteInfo(name, list(splits)) for name, splits in e.splits.items()])
        for env_id, e in _CATALOGUE.items()
    ]


def _entry(env_id: str) -> _Entry:
    if env_id not in _CATALOGUE:
        hint = suggest(env_id, list(_CATALOGUE))
        raise ConfigError(f"unknown environment {env_id!r}.{hint} Known: {', '.join(_CATALOGUE)}")
    return _CATALOGUE[env_id]


def get_suite(env_id: str, name: str | None = None) -> Suite:
    """The task suite of an environment.

    Args:
        env_id: A catalogue id.
        name: The suite name; None gives the env's default suite. Envs with a suite loader also
            take other names (the code env: the path of an MBPP-style ``.jsonl`` file).

    Raises:
        ConfigError: Unknown env id or suite name (with a suggestion).
    """
    entry = _entry(env_id)
    name = name or next(iter(entry.suites))
    if name not in entry.suites and entry.suite_loader:
        module, attr = entry.suite_loader.split(":")
        return getattr(importlib.import_module(module), attr)(name)
    if name not in entry.suites:
        raise ConfigError(f"unknown suite {name!r} of {env_id}.{suggest(name, list(entry.suites))}"
                          f" Suites: {', '.join(entry.suites)}")
    module, attr = entry.suites[name].split(":")
    return getattr(importlib.import_module(module), attr)()


def make_env(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Make an environment by id.

    Goes through :func:`gymnasium.make`, so the env carries its ``spec`` and the order-enforcing
    wrapper (``step`` before ``reset`` is an error), with the passive env checker disabled: agents
    send arbitrary strings, which the env answers by design. ``env.unwrapped`` is the env itself
    (for the household expert: ``env.unwrapped.expert_action()``). Ids registered with gymnasium
    by others work too.

    Args:
        env_id: A catalogue id (or any registered gymnasium id).
        **kwargs: Passed to the env's constructor (household: ``max_steps``, ``task``, ``render_mode``).

    Raises:
        ConfigError: Unknown id (with a "Did you mean ...?"), or arguments the env does not take.
    """
    if env_id not in _CATALOGUE and env_id not in gymnasium.registry:
        known = list(_CATALOGUE) + [k for k in gymnasium.registry if k not in _CATALOGUE]
        raise ConfigError(f"unknown environment {env_id!r}.{suggest(env_id, known)}"
                          f" mulligan envs: {', '.join(_CATALOGUE)}")
    try:
        return gymnasium.make(env_id, disable_env_checker=True, **kwargs)
    except TypeError as e:
        raise ConfigError(f"bad arguments for {env_id}: {e}") from e


__all__ = ["EnvInfo", "IndexedSuite", "SuiteInfo", "Suite", "get_suite", "list_envs", "make_env", "parse_task_id"]
