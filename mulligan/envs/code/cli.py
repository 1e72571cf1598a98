"""``mulligan sandbox ...``: build the sandbox image, run a file in a sandbox, remove leftovers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from mulligan.errors import MulliganError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The code sandbox: build, run, clean.")


def _fail(e: Exception) -> None:
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


@app.command()
def build(
    image: Optional[str] = typer.Option(None, help="Image name:tag (default: mulligan's sandbox image)."),
    method: str = typer.Option("auto", help="auto, dockerfile (needs a registry) or debootstrap (offline)."),
    mirror: Optional[str] = typer.Option(None, help="Debian mirror for debootstrap (default: the host's apt mirror)."),
    force: bool = typer.Option(False, help="Rebuild an existing image."),
) -> None:
    """Build the sandbox image (Debian + python3 + an unprivileged user)."""
    from mulligan.envs.code.sandbox.containers import DEFAULT_IMAGE
    from mulligan.envs.code.sandbox.image import build_image

    if method not in ("auto", "dockerfile", "debootstrap"):
        _fail(MulliganError(f"unknown method {method!r}; use auto, dockerfile or debootstrap"))
    name = image or DEFAULT_IMAGE
    try:
        how = build_image(name, method=method, mirror=mirror, force=force, log=lambda line: typer.echo(line, err=True))
    except MulliganError as e:
        _fail(e)
    typer.echo(f"{name}: {'already built' if how == 'exists' else 'built with ' + how}")


@app.command()
def run(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A Python file to run."),
    backend: Optional[str] = typer.Option(None, help="docker or local (default: $MULLIGAN_SANDBOX, else docker)."),
    stdin: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="File fed to standard input."),
    timeout: Optional[float] = typer.Option(None, help="Wall-clock limit in seconds (default 10)."),
) -> None:
    """Run FILE in a sandbox and print the result as JSON."""
    from mulligan.envs.code.sandbox import default_backend, make_sandbox

    name = backend or default_backend()
    try:
        sandbox = make_sandbox(name, warm=0) if name == "docker" else make_sandbox(name)
        session = sandbox.session()
        try:
            result = session.run(
                ["python3", file.name], files={file.name: file.read_text()},
                stdin=stdin.read_text() if stdin else "", wall_s=timeout,
            )
        finally:
            session.close()
            sandbox.close()
    except MulliganError as e:
        _fail(e)
    typer.echo(json.dumps(result.model_dump(), indent=2))


@app.command()
def clean(
    all_: bool = typer.Option(False, "--all", help="Also remove containers of processes that still run."),
) -> None:
    """Remove sandbox containers left by processes that are gone."""
    from mulligan.envs.code.sandbox.containers import connect, reap_stale

    try:
        removed = reap_stale(connect(), everything=all_)
    except MulliganError as e:
        _fail(e)
    typer.echo(f"removed {len(removed)} sandbox container(s)")
