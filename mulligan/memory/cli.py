"""``mulligan memory stats|search|export|import|compact``: inspecting and moving a memory directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mulligan.errors import MulliganError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect and move retrieval memories.")
console = Console()

PATH = typer.Argument(..., help="Memory directory (as given to `mulligan run --memory`).")


def _open(path: Path, dense: bool = False):
    from mulligan.memory.store import MemoryStore

    if not (path / "log.jsonl").exists():
        raise MulliganError(f"{path} holds no memory (no log.jsonl)")
    return MemoryStore(path, dense=dense)


def _guard(fn):
    try:
        return fn()
    except MulliganError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)


def _cell(value) -> str:
    """A stats value as a table cell: thousands separators, lists joined, "-" for not loaded."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@app.command()
def stats(path: Path = PATH) -> None:
    """Entries per env, lessons, merges, uses and evictions."""
    s = _guard(lambda: _open(path).stats())
    table = Table(title=f"Memory {path}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in s.items():
        if key == "by_env":
            for env, n in value.items():
                table.add_row(f"  {env}", f"{n:,}")
        elif key != "path":
            table.add_row(key.replace("_", " "), _cell(value))
    console.print(table)


@app.command()
def search(
    path: Path = PATH,
    query: str = typer.Argument(..., help="A task instruction."),
    env: Optional[str] = typer.Option(None, help="Only this env's experiences (default: all)."),
    k: int = typer.Option(5, help="Results."),
    dense: bool = typer.Option(True, help="Hybrid with embeddings (--no-dense: BM25 alone)."),
    steps: bool = typer.Option(False, help="Print each result's key steps."),
) -> None:
    """The experiences retrieval would give a task, with fused scores and per-retriever ranks."""
    results = _guard(lambda: _open(path, dense=dense).search(query, env=env, k=k))
    table = Table(title=f"{query!r} in {path}")
    for col in ("#", "score", "dense", "bm25", "uses/wins", "env", "instruction"):
        table.add_column(col, justify="left" if col in ("env", "instruction") else "right")
    for i, (entry, hit) in enumerate(results, start=1):
        table.add_row(
            str(i), f"{hit.score:.4f}", str(hit.dense_rank or "-"), str(hit.bm25_rank or "-"),
            f"{entry.uses}/{entry.wins}", entry.env, entry.instruction,
        )
    console.print(table)
    if steps:
        for i, (entry, _) in enumerate(results, start=1):
            console.print(f"[bold]{i}. {entry.id}[/bold]")
            for step in entry.steps:
                console.print(f"   {step.action}", markup=False)


@app.command("export")
def export_(path: Path = PATH, out: Path = typer.Argument(..., help="JSONL file to write.")) -> None:
    """Write the live experiences and lessons to a JSONL file (readable by `import`)."""
    n = _guard(lambda: _open(path).export(out))
    console.print(f"exported {n:,} records to {out}")


@app.command("import")
def import_(
    path: Path = PATH,
    file: Path = typer.Argument(..., help="A file written by `mulligan memory export`."),
    dense: bool = typer.Option(True, help="Use embeddings to find near-duplicates (--no-dense: words only)."),
) -> None:
    """Add an exported file's experiences and lessons (near-duplicates merge, capacity applies).

    All or nothing: a bad line imports nothing; records that are not entries or lessons are skipped
    and counted."""
    from mulligan.memory.store import MemoryStore

    def run():
        if not file.exists():
            raise MulliganError(f"{file} does not exist")
        if file.is_dir():
            raise MulliganError(f"{file} is a folder; give the JSONL file `mulligan memory export` wrote")
        store = MemoryStore(path, dense=dense)
        try:
            return store.import_(file)
        finally:
            store.close()

    done = _guard(run)
    console.print(", ".join(f"{k}: {v:,}" for k, v in sorted(done.items())) or "nothing to import")


@app.command()
def compact(path: Path = PATH) -> None:
    """Rewrite the log as the live state (drops evicted entries and counters' history)."""
    saved = _guard(lambda: _open(path).compact())
    console.print(f"compacted {path}: {saved:,} bytes saved")
