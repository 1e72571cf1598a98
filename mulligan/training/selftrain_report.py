"""Views of self-training metrics: ``metrics.jsonl``, a rich table and a plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from rich import box
from rich.table import Table

TABLE_WIDTH = 124
"""Columns the table needs to show every cell whole; print it at least this wide."""

COLUMNS = (
    ("method", "method"),
    ("it", "iteration"),
    ("unseen", "success"),
    ("95% interval", "interval"),
    ("recov", "recovery"),
    ("CL", "cl"),
    ("CS", "cs"),
    ("p@1", "pass@1"),
    ("p@k", "pass@k"),
    ("div", "diversity"),
    ("rows", "rows"),
    ("wall", "wall_s"),
)
"""(header, record key) of the table; collection metrics describe the policy that collected
(iteration K's data comes from iteration K-1's checkpoint)."""

PLOTTED = (("success", "unseen success"), ("recovery", "recovery"), ("pass@k", "pass@k (train)"),
           ("diversity", "diversity (train)"))


def interval(success: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate over ``n`` episodes (95% at ``z=1.96``)."""
    if n <= 0:
        return 0.0, 1.0
    centre = (success + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(success * (1 - success) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval_cell(record: dict[str, Any]) -> str:
    if record.get("success") is None or not record.get("eval_tasks"):
        return "-"
    low, high = interval(record["success"], record["eval_tasks"])
    return f"{low:.0%}-{high:.0%}"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("method", "iteration", "rows"):
        return str(value)
    if key == "wall_s":
        return f"{value:.0f}"
    return f"{value:.1%}" if key != "diversity" else f"{value:.2f}"


def metrics_table(records: Sequence[dict[str, Any]], title: str = "Self-training") -> Table:
    """The per-iteration metrics as a table (iteration 0 is the bootstrap policy).

    ``unseen`` is the success of the iteration's checkpoint on the evaluation tasks (with its 95%
    Wilson interval over ``eval_tasks`` episodes: read differences against it) and ``recov`` its
    recovery rate there; CL/CS, ``p@1``/``p@k`` (pass@k) and ``div`` (distinct-action
    diversity) describe the iteration's collection, made by the previous checkpoint; ``wall`` is
    the iteration's seconds.
    """
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for header, key in COLUMNS:
        if key == "method":
            table.add_column(header, no_wrap=True, min_width=9)
        else:
            table.add_column(header, justify="right", no_wrap=True)
    for r in records:
        table.add_row(*(_interval_cell(r) if key == "interval" else _cell(key, r.get(key)) for _, key in COLUMNS))
    return table


def metrics_figure(records: Sequence[dict[str, Any]], plt: Any) -> Any:
    """One panel per plotted metric, one line per method; a method keeps its colour in every panel."""
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4 * len(PLOTTED), 3.2))
    methods = list(dict.fromkeys(r["method"] for r in records))
    colours = {method: f"C{i}" for i, method in enumerate(methods)}
    for ax, (key, label) in zip(axes, PLOTTED):
        for method in methods:
            points = [(r["iteration"], r[key]) for r in records if r["method"] == method and r.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=method, color=colours[method])
        ax.set_title(label)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return fig


def plot_metrics(records: Sequence[dict[str, Any]], path: Path) -> str | None:
    """Plot the metrics over iterations, one line per method, into ``path`` (PNG).

    Returns:
        None when the plot was written, else why not (matplotlib missing: ``pip install "mulligan[plot]"``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 'matplotlib is not installed (pip install "mulligan[plot]"): no plot'
    fig = metrics_figure(records, plt)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def write_metrics(out: Path, records: Sequence[dict[str, Any]]) -> str | None:
    """Write ``out/metrics.jsonl`` (replacing it) and ``out/metrics.png``; returns why there is no plot, if so."""
    tmp = out / "metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(out / "metrics.jsonl")
    return plot_metrics(records, out / "metrics.png")


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact sign test (McNemar's) of ``gained`` against ``lost`` discordant tasks: the
    chance of a split at least this uneven if neither policy were better."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_change(before: dict[str, bool], after: dict[str, bool]) -> tuple[int, int, int]:
    """(tasks both evaluated, won only after, won only before): success compared task by task."""
    common = before.keys() & after.keys()
    return (len(common), sum(after[t] and not before[t] for t in common),
            sum(before[t] and not after[t] for t in common))


def paired_table(bootstrap: dict[str, bool], evaluated: Sequence[tuple[str, int, dict[str, bool]]]) -> Table:
    """Each evaluated policy against the bootstrap on the same tasks: wins gained, wins lost, sign-test p.

    ``bootstrap`` and each policy's outcomes map a task id to whether it was won.
    """
    table = Table(title="Against the bootstrap, task by task (p: two-sided exact sign test)", box=box.SIMPLE)
    for col in ("method", "it", "tasks", "gained", "lost", "net", "p"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, iteration, outcomes in evaluated:
        tasks, gained, lost = paired_change(bootstrap, outcomes)
        table.add_row(method, str(iteration), str(tasks), str(gained), str(lost), f"{gained - lost:+d}",
                      f"{sign_test(gained, lost):.3g}")
    return table
