"""``mulligan envs``, ``mulligan check-env`` and ``mulligan textworld make``: the env catalogue from
the command line, the contract checked on any env, and TextWorld games generated locally."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from mulligan.errors import ConfigError, MulliganError

console = Console()
textworld_app = typer.Typer(add_completion=False, no_args_is_help=True, help="TextWorld games: generate suites.")

IMPORT_HELP = "Module to import first, for envs it registers (repeatable)."
ENV_OPTION_HELP = "Env constructor argument KEY=VALUE (repeatable; YAML scalars)."


def _fail(e: Exception) -> None:
    console.print(f"[red]error:[/red] {e}")
    raise typer.Exit(2)


def parse_pairs(pairs: list[str], what: str = "option") -> dict:
    """``["trials=5", "reflector=env"]`` -> ``{"trials": 5, "reflector": "env"}`` (YAML scalars).

    Raises:
        ConfigError: A pair is not ``KEY=VALUE``, or its value is not YAML.
    """
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {pair!r} is not KEY=VALUE")
        try:
            options[key.strip()] = read_scalar(value) if value.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"{what} {pair!r}: not a YAML value ({str(e).splitlines()[0]})") from e
    return options


def read_scalar(text: str) -> Any:
    """A YAML value, where ``1e-4`` is a number, also inside ``{lr: 1e-4}`` (YAML 1.1 wants ``1.0e-4``)."""
    import yaml

    return yaml.load(text, Loader=_option_loader())  # noqa: S506 - a SafeLoader subclass


@functools.cache
def _option_loader() -> type:
    import yaml

    class OptionLoader(yaml.SafeLoader):
        """SafeLoader that also reads YAML 1.2's exponent floats without a dot."""

    OptionLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                       re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                       list("-+0123456789"))
    return OptionLoader


def envs(imports: list[str] = typer.Option([], "--import", help=IMPORT_HELP)) -> None:
    """List environments (mulligan's, plugins', imported ones), their task suites and splits."""
    from mulligan.envs import import_plugins, list_envs
    from mulligan.envs.registration import plugin_errors

    try:
        import_plugins(imports)
    except MulliganError as e:
        _fail(e)
    table = Table(title="Environments")
    for col in ("env", "suite", "splits (default first)", "description"):
        table.add_column(col)
    for info in list_envs():
        for suite in info.suites:
            splits = ([suite.default_split] if suite.default_split else []) + \
                [s for s in suite.splits if s != suite.default_split]
            shown = ", ".join(splits) if not suite.error else f"[yellow]not here: {suite.error}[/yellow]"
            origin = "" if info.origin == "mulligan" else f" ({info.origin})"
            table.add_row(info.id, suite.name, shown, info.description + origin)
    console.print(table)
    for name, error in plugin_errors().items():
        console.print(f"[yellow]plugin {name} failed to load:[/yellow] {error}")


def check_env(
    env: str = typer.Argument(..., help="Env id, import path (package.module:Name) or gymnasium id."),
    task: Optional[str] = typer.Option(None, help="Task id to check with (default: the first of the default split)."),
    suite: Optional[str] = typer.Option(None, help="Suite the default task comes from."),
    env_option: list[str] = typer.Option([], "--env-option", "-e", help=ENV_OPTION_HELP),
    imports: list[str] = typer.Option([], "--import", help=IMPORT_HELP),
    expert: bool = typer.Option(True, help="Play one episode with the env's expert (where it has one)."),
) -> None:
    """Check an env against gymnasium's check_env and mulligan's env contract (docs/envs.md)."""
    from mulligan.envs import default_split, get_suite, import_plugins, make_env
    from mulligan.envs.contract import check_text_env

    try:
        import_plugins(imports)
        kwargs = parse_pairs(env_option, "env option")
        if task is None:
            loaded = get_suite(env, suite)
            task = loaded.task_ids(default_split(loaded), 1)[0]
        if takes_task(env) and "task" not in kwargs:
            kwargs["task"] = task  # gymnasium's check_env resets without options: the env's own default
        report = check_text_env(lambda: make_env(env, **kwargs), task, expert_episode=expert)
    except MulliganError as e:
        _fail(e)
    table = Table(title=f"{env} on {task}")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]FAIL[/red]", c.detail[:100])
    console.print(table)
    console.print("offers: " + "; ".join(f"{k}: {v}" for k, v in report.offers.items()))
    if not report.ok:
        console.print(f"[red]{len(report.failures)} of {len(report.checks)} checks failed[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(report.checks)} checks passed[/green]")


def takes_task(env_id: str) -> bool:
    """Whether the env's constructor takes a default ``task`` (mulligan's envs do)."""
    import inspect

    from mulligan.envs.registration import lookup, resolve

    target = resolve(lookup(env_id).entry_point, "environment")
    init = target.__init__ if isinstance(target, type) else target
    try:
        return "task" in inspect.signature(init).parameters
    except (TypeError, ValueError):
        return False


@textworld_app.command("make")
def textworld_make(
    out: Path = typer.Argument(..., help="Folder of the suite: OUT/<split>/<game>.z8 and .json."),
    challenge: str = typer.Option("tw-simple", help="tw-simple, tw-coin_collector, tw-treasure_hunter, "
                                  "tw-cooking, or custom."),
    level: Optional[str] = typer.Option(None, help="Challenge settings, e.g. 'rewards=dense goal=detailed' "
                                        "(tw-simple), '5' (coin collector/treasure hunter level), "
                                        "'recipe=2 take=1 go=6 cook cut open' (tw-cooking), "
                                        "'world_size=5 nb_objects=10 quest_length=5' (custom)."),
    train: int = typer.Option(20, help="Games in train."),
    valid: int = typer.Option(5, help="Games in valid."),
    test: int = typer.Option(10, help="Games in test."),
    seed: int = typer.Option(0, help="First seed; each game has its own."),
) -> None:
    """Generate TextWorld games with tw-make into disjoint train/valid/test splits (no two the same game)."""
    from mulligan.envs.adapters.textworld_make import make_suite

    try:
        made = make_suite(out, challenge=challenge, level=level or "",
                          sizes={"train": train, "valid": valid, "test": test}, seed=seed,
                          progress=lambda msg: console.print(msg, highlight=False))
    except MulliganError as e:
        _fail(e)
    console.print(f"{sum(made.values())} games in {out}: " + ", ".join(f"{k} {v}" for k, v in made.items()))
    console.print(f"run them: mulligan run mulligan/TextWorld-v0 --suite {out} --agent expert")
