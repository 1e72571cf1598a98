"""The HTML run report and trajectory viewer (``mulligan report``, ``mulligan view``).

``write_report([run_dir, ...], "report.html")`` renders runs as one self-contained page: their
figures side by side, the task-by-task differences, and every episode turn by turn with its first
error and recovery marked. :mod:`mulligan.report.server` serves the same page live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mulligan.errors import RunError
from mulligan.report.page import Payload, build, write
from mulligan.report.runs import RunReader, expand, selftrain_metrics


@dataclass(frozen=True)
class ReportResult:
    """What :func:`write_report` wrote.

    Attributes:
        out: The HTML file.
        runs: Runs shown.
        episodes: Trajectories shown, over all runs.
        bytes: Size of the file.
        problems: Lines left out (file:line and why).
    """

    out: Path
    runs: int
    episodes: int
    bytes: int
    problems: tuple[str, ...]


def load(paths: Sequence[str | Path], *, title: str | None = None) -> Payload:
    """Read the runs ``paths`` name (run directories, trajectory files, self-training folders).

    Raises:
        RunError: A path that is not a run, or names no run at all.
    """
    paths = [Path(p) for p in paths]
    readers = [RunReader(label, path) for label, path in expand(paths)]
    if not readers:
        raise RunError(f"no run to report in {', '.join(map(str, paths))} (a self-training folder before its first "
                       "evaluation?)")
    for reader in readers:
        reader.poll()
    return build(readers, title=title or _title(paths), selftrain=selftrain_metrics(paths))


def _title(paths: Sequence[Path]) -> str:
    return " vs ".join(p.name or str(p) for p in paths)


def default_out(paths: Sequence[str | Path]) -> Path:
    """``RUN_DIR/report.html`` for one run directory or self-training folder, else ``report.html`` here."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0]) / "report.html"
    return Path("report.html")


def write_report(paths: Sequence[str | Path], out: str | Path | None = None, *, title: str | None = None) -> ReportResult:
    """Render the runs ``paths`` name into one HTML file (default :func:`default_out`)."""
    payload = load(paths, title=title)
    out = Path(out) if out is not None else default_out(paths)
    size = write(payload, out)
    return ReportResult(out, len(payload.readers), len(payload.main["rows"]), size, tuple(payload.main["problems"]))


__all__ = ["ReportResult", "default_out", "load", "write_report"]
