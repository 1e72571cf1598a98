"""Text environments as gymnasium envs, their registration and their task suites.

Importing this package registers mulligan's envs with gymnasium (data only: entry points are
imported when an env is made), so ``import mulligan`` is enough for ``gymnasium.make``. What an
env must provide is written in :mod:`mulligan.envs.contract` (and docs/envs.md); other envs come
in through :func:`register_env`, plugins, import paths and gymnasium ids
(:mod:`mulligan.envs.registration`). The catalogue functions below are what the CLI and the
runner use: :func:`list_envs`, :func:`get_suite`, :func:`make_env`. This package never imports
llm, agents, runner or training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

from mulligan.envs.registration import (
    EnvEntry,
    env_class_metadata,
    import_plugins,
    load_plugins,
    lookup,
    register_env,
    registered,
    resolve,
)
from mulligan.envs.seeded import SeedSuite, SeedTasks
from mulligan.envs.suites import IndexedSuite, Suite, default_split, parse_task_id, suggest
from mulligan.errors import ConfigError, MulliganError

register_env(
    "mulligan/Household-v0", "mulligan.envs.household.env:HouseholdEnv", origin="mulligan",
    description="ALFWorld-style text household: six task types, generated from the task id, 50-step cap.",
    suites={"household": "mulligan.envs.household.suites:HouseholdSuite"},
)
register_env(
    "mulligan/Code-v0", "mulligan.envs.code.env:CodeEnv", origin="mulligan",
    description="Write a Python function; run, test and submit it in a sandbox (Docker by default). "
    "Suites: builtin, humaneval, or the path of an MBPP-style .jsonl file.",
    suites={"builtin": "mulligan.envs.code.suites:builtin_suite",
            "humaneval": "mulligan.envs.code.suites:humaneval_suite"},
    suite_loader="mulligan.envs.code.suites:load_suite",
)
register_env(
    "mulligan/Gui-v0", "mulligan.envs.gui.env:GuiEnv", origin="mulligan",
    description="Simulated phone apps (settings, mail, shop, notes) as an accessibility tree (and screenshots); "
    "delete, send and pay cannot be undone; 30-step cap.",
    suites={"gui": "mulligan.envs.gui.suites:GuiSuite"},
)
register_env(
    "mulligan/MiniWoB-v0", "mulligan.envs.adapters.miniwob:MiniWoBEnv", origin="mulligan",
    description="MiniWoB++ tasks in real Chromium (the miniwob package) through the GUI action grammar; "
    "suites by task name (click-button, click-test, enter-text, ... or any miniwob task name).",
    suites={"click-button": "mulligan.envs.adapters.miniwob:click_button_suite",
            "click-test": "mulligan.envs.adapters.miniwob:click_test_suite",
            "enter-text": "mulligan.envs.adapters.miniwob:enter_text_suite"},
    suite_loader="mulligan.envs.adapters.miniwob:load_suite",
)
register_env(
    "mulligan/ScienceWorld-v0", "mulligan.envs.adapters.scienceworld:ScienceWorldEnv", origin="mulligan",
    description="ScienceWorld (the scienceworld package, Java): 30 science task types with their train/dev/test "
    "variations, score as reward, gold action sequences as the expert. Suites: scienceworld (all task types) "
    "or one task type by name (boil, melt, ...).",
    suites={"scienceworld": "mulligan.envs.adapters.scienceworld:all_tasks_suite"},
    suite_loader="mulligan.envs.adapters.scienceworld:load_suite",
)
register_env(
    "mulligan/TextWorld-v0", "mulligan.envs.adapters.textworld:TextWorldEnv", origin="mulligan",
    description="TextWorld games (.z8/.ulx with their .json) from a folder whose subfolders are the splits; "
    "`mulligan textworld make DIR` generates them locally. Suite: the folder's path (default $MULLIGAN_HOME/"
    "textworld/games).",
    suites={"games": "mulligan.envs.adapters.textworld:default_suite"},
    suite_loader="mulligan.envs.adapters.textworld:load_suite",
)
register_env(
    "mulligan/ALFWorld-v0", "mulligan.envs.adapters.alfworld:AlfworldEnv", origin="mulligan",
    description="ALFWorld's own engine (the alfworld package) over .tw-pddl games: the official data in "
    "$ALFWORLD_DATA (get it with `alfworld-download` on a machine with internet, then copy it), or household "
    "tasks written as ALFWorld games. Suite: a data folder's path (default $ALFWORLD_DATA/json_2.1.1).",
    suites={"alfworld": "mulligan.envs.adapters.alfworld:default_suite"},
    suite_loader="mulligan.envs.adapters.alfworld:load_suite",
)


@dataclass(frozen=True)
class SuiteInfo:
    """A suite as listed in the catalogue: its name and splits (``error`` when it cannot load here)."""

    name: str
    splits: list[str]
    default_split: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class EnvInfo:
    """A catalogue entry.

    Attributes:
        id: The gymnasium id, e.g. ``"mulligan/Household-v0"``.
        description: One line.
        suites: The env's suites; the first is the default.
        origin: ``mulligan``, ``plugin <package>``, ``import path``, ``gymnasium``, ...
    """

    id: str
    description: str
    suites: list[SuiteInfo] = field(default_factory=list)
    origin: str = ""


def _suite_info(env_id: str, name: str | None) -> SuiteInfo:
    try:
        suite = get_suite(env_id, name)
    except MulliganError as e:
        return SuiteInfo(name or "-", [], None, str(e))
    return SuiteInfo(suite.name, list(suite.splits), default_split(suite))


def list_envs() -> list[EnvInfo]:
    """The registered environments (mulligan's and plugins'), with their suites and splits.

    Suites are loaded to read their splits; one that cannot load here (a missing package or
    data) is listed with its error instead.
    """
    return [
        EnvInfo(e.id, e.description, [_suite_info(e.id, name) for name in e.suites or [None]], e.origin)
        for e in registered().values()
    ]


def get_suite(env_id: str, name: str | None = None) -> Suite:
    """The task suite of an environment.

    Args:
        env_id: A registered id, an import path or a gymnasium id (see :func:`lookup`).
        name: The suite name; None gives the env's default suite. Envs with a suite loader also
            take other names (the code env: the path of an MBPP-style ``.jsonl`` file). An env
            without suites has one, ``seeds``.

    Raises:
        ConfigError: Unknown env id or suite name (with a suggestion).
    """
    entry = lookup(env_id)
    if not entry.suites and not entry.suite_loader:
        if name not in (None, "seeds"):
            raise ConfigError(f"{env_id} has no suites: it runs on seeds as tasks (suite 'seeds', split 'seed')")
        return SeedSuite(env_id)
    name = name or next(iter(entry.suites), None)
    if name in entry.suites:
        source = entry.suites[name]
        return resolve(source, "suite")() if isinstance(source, str) or _is_factory(source) else source
    if entry.suite_loader and name:
        return resolve(entry.suite_loader, "suite loader")(name)
    raise ConfigError(f"unknown suite {name!r} of {env_id}.{suggest(str(name), list(entry.suites))}"
                      f" Suites: {', '.join(entry.suites)}")


def _is_factory(source: Any) -> bool:
    return callable(source) and not hasattr(source, "task_ids")


def suite_default_split(env_id: str, suite: str | None = None) -> str:
    """The split a run uses when none is given: the suite's ``default_split``."""
    return default_split(get_suite(env_id, suite))


def max_concurrency(env_id: str) -> int | None:
    """The env's hint of how many instances may run at once (``metadata["max_concurrency"]``)."""
    hint = env_class_metadata(env_id).get("max_concurrency")
    return int(hint) if hint else None


def make_env(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Make an environment by id.

    Goes through :func:`gymnasium.make`, so the env carries its ``spec`` and the order-enforcing
    wrapper (``step`` before ``reset`` is an error), with the passive env checker disabled: agents
    send arbitrary strings, which the env answers by design. ``env.unwrapped`` is the env itself
    (for the household expert: ``env.unwrapped.expert_action()``). Envs without suites are wrapped
    in :class:`SeedTasks`, so ``reset(options={"task": "seed-3"})`` works on them too.

    Args:
        env_id: A registered id, an import path (``"pkg.module:GameEnv"``) or a gymnasium id.
        **kwargs: Passed to the env's constructor (household: ``max_steps``, ``task``, ``render_mode``).

    Raises:
        ConfigError: Unknown id (with a "Did you mean ...?"), arguments the env does not take, or
            an env whose spaces are not text.
    """
    entry = lookup(env_id)
    try:
        env = gymnasium.make(entry.gym_id, disable_env_checker=True, **kwargs)
    except TypeError as e:
        raise ConfigError(f"bad arguments for {env_id}: {e}") from e
    if entry.origin != "mulligan":
        _check_text_spaces(env)
    if not entry.suites and not entry.suite_loader:
        env = SeedTasks(env)
    return env


def _check_text_spaces(env: gymnasium.Env) -> None:
    for name in ("observation_space", "action_space"):
        space = getattr(env, name, None)
        if not isinstance(space, gymnasium.spaces.Text):
            env.close()
            raise ConfigError(f"{env.spec.id if env.spec else env}: its {name} is {space!r}; mulligan runs text envs "
                              "(gymnasium.spaces.Text observations and actions)")


__all__ = [
    "EnvEntry", "EnvInfo", "IndexedSuite", "SuiteInfo", "Suite", "get_suite", "import_plugins", "list_envs",
    "default_split", "load_plugins", "make_env", "max_concurrency", "parse_task_id", "register_env",
    "suite_default_split",
]
