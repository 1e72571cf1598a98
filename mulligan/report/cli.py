"""``mulligan report`` and ``mulligan view``: registered on the main CLI by :func:`register`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mulligan.errors import MulliganError

console = Console()


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories, trajectory .jsonl files or self-training folders."),
    out: Optional[Path] = typer.Option(None, help="The HTML file (default: RUN_DIR/report.html for one folder, "
                                                  "else ./report.html)."),
    title: Optional[str] = typer.Option(None, help="Title of the page (default: the runs' names)."),
) -> None:
    """Write one self-contained HTML report of runs: figures side by side and every episode turn by turn."""
    from mulligan.report import write_report

    try:
        with console.status("reading the runs and writing the page"):
            result = write_report(run_dirs, out, title=title)
    except MulliganError as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    for problem in result.problems[:10]:
        console.print(f"[yellow]warning:[/yellow] {problem}", soft_wrap=True, highlight=False)
    console.print(f"{result.out}: {result.runs} run(s), {result.episodes:,} episodes, "
                  f"{result.bytes / 1e6:.1f} MB", highlight=False)


def view(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories, trajectory .jsonl files or self-training folders."),
    port: int = typer.Option(8765, help="Port on 127.0.0.1 (0: any free port)."),
    title: Optional[str] = typer.Option(None, help="Title of the page."),
) -> None:
    """Serve the report on 127.0.0.1 and follow runs that are still writing (Ctrl-C stops)."""
    from mulligan.report.server import make_server

    try:
        server = make_server(run_dirs, port=port, title=title)
    except (MulliganError, OSError) as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    host, bound = server.server_address[:2]
    console.print(f"viewing {', '.join(map(str, run_dirs))} on http://{host}:{bound}/ (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``view`` to the ``mulligan`` command."""
    app.command()(report)
    app.command()(view)
