"""Human-readable views of runs: the summary table and episode transcripts."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mulligan.records import Trajectory


def summary_table(summary: dict[str, Any], title: str = "Results") -> Table:
    """The table printed at the end of a run and by ``mulligan show``."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("env", summary.get("env", "")),
        ("split", summary.get("split", "")),
        ("agent", summary.get("agent", "")),
        ("model", summary.get("model") or "-"),
        ("episodes", str(summary.get("episodes", 0))),
        ("success rate", f"{summary.get('success_rate', 0.0):.1%} ({summary.get('successes', 0)})"),
        ("avg steps", f"{summary.get('avg_steps', 0.0):.2f}"),
        ("invalid action rate", f"{summary.get('invalid_action_rate', 0.0):.1%}"),
        ("tokens", f"{summary.get('tokens', {}).get('total', 0):,}"),
        ("errors", str(summary.get("errors", 0))),
        ("wall time", f"{summary.get('wall_s', 0.0):.1f} s"),
        ("episodes/s", f"{summary.get('episodes_per_s', 0.0):.2f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    reasons = summary.get("end_reasons") or {}
    if reasons:
        table.add_row("end reasons", ", ".join(f"{k}: {v}" for k, v in reasons.items()))
    return table


def progress_bar(console: Console | None = None) -> Progress:
    """A progress bar with the success rate so far (field ``success``)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("success {task.fields[success]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@contextlib.contextmanager
def episode_progress(total: int | None, label: str, *, enabled: bool = True,
                     console: Console | None = None) -> Iterator[Callable[..., None]]:
    """A :func:`progress_bar` for one run; yields the runner's ``on_episode`` hook that advances it."""
    if not enabled:
        yield lambda *_: None
        return
    with progress_bar(console or Console(stderr=True)) as progress:
        bar = progress.add_task(label, total=total or None, success="-")

        def on_episode(traj: Trajectory, done: int, total: int, successes: int) -> None:
            progress.update(bar, completed=done, total=total, success=f"{successes / max(done, 1):.1%}")

        yield on_episode


def print_transcript(console: Console, traj: Trajectory) -> None:
    """Print one episode's messages, marking what the model said."""
    status = "[green]won[/green]" if traj.success else f"[red]{traj.end_reason or 'failed'}[/red]"
    console.rule(f"{traj.task_id}  trial {traj.trial}  {status}  ({traj.num_steps} steps)")
    for m in traj.messages:
        style = {"assistant": "bold cyan", "system": "dim", "user": "", "tool": ""}.get(m.role, "")
        content = m.content
        if m.tool_calls:
            content += "".join(f"\n[tool call] {c.name}({c.arguments})" for c in m.tool_calls)
        console.print(f"[{style}]{m.role}>[/{style}] " if style else f"{m.role}> ", end="")
        console.print(content, markup=False, highlight=False)
    if traj.error:
        console.print(f"[red]error:[/red] {escape(traj.error)}", markup=True)
