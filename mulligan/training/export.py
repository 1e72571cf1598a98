"""Export trajectories as training datasets: ``sft``, ``rerest``, ``step``, ``agentr``, ``dpo``.

Rows are TRL conversational rows with per-message ``train`` flags (``dpo``: prompt / chosen /
rejected), one JSON object a line in ``<out>/<format>.jsonl``, with the counts of what was written
in ``<out>/<format>.stats.json``. What each format holds is in DESIGN.md's "Training formats"
table and in the modules that build them: :mod:`~mulligan.training.formats` (sft, rerest, step),
:mod:`~mulligan.training.splices` (agentr), :mod:`~mulligan.training.preferences` (dpo).

``import mulligan.training.export`` stays light: a tokenizer (transformers) is loaded only when
one is asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from mulligan.errors import ConfigError
from mulligan.records import Trajectory, read_jsonl
from mulligan.registry import did_you_mean
from mulligan.training.formats import rerest_rows, sft_rows, step_rows
from mulligan.training.preferences import dpo_rows
from mulligan.training.splices import agentr_rows
from mulligan.training.token_stats import ExportStats, count_rows

FORMATS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "sft": sft_rows,
    "rerest": rerest_rows,
    "step": step_rows,
    "agentr": agentr_rows,
    "dpo": dpo_rows,
}
"""Format name -> row builder ``(trajectories, **options) -> rows``."""


def load_trajectories(paths: Iterable[str | os.PathLike[str]]) -> list[Trajectory]:
    """Trajectories of run directories (their ``trajectories.jsonl``) or JSONL files, each id once.

    Raises:
        ConfigError: A path that is neither.
    """
    out: dict[str, Trajectory] = {}
    for path in map(Path, paths):
        file = path / "trajectories.jsonl" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"{path} is not a run directory (no trajectories.jsonl) or a JSONL file")
        for traj in read_jsonl(file, Trajectory):
            out.setdefault(traj.id, traj)
    return list(out.values())


def build_rows(trajectories: Sequence[Trajectory], fmt: str, **options: Any) -> list[dict[str, Any]]:
    """The rows of format ``fmt`` built from ``trajectories``.

    Args:
        trajectories: Trajectories of any runs.
        fmt: One of :data:`FORMATS`.
        **options: Options of the format's builder (``sources=`` for sft/rerest,
            ``corrections_only=`` for step).

    Raises:
        ConfigError: Unknown format.
    """
    return FORMATS[check_format(fmt)](trajectories, **options)


def check_format(fmt: str) -> str:
    """``fmt`` if it names a format; else a :class:`ConfigError` with the close match."""
    if fmt not in FORMATS:
        hint = did_you_mean(fmt, list(FORMATS))
        raise ConfigError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.{hint}")
    return fmt


def write_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write rows as JSONL, replacing ``path`` only once the whole file is written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def load_tokenizer(path: str | os.PathLike[str] | None) -> tuple[Any, str]:
    """The tokenizer to count with, and a note when there is none.

    ``path`` names a checkpoint; None uses the default policy's tokenizer (the shipped one, or
    ``$MULLIGAN_DEFAULT_POLICY``).
    """
    if path is None:
        from mulligan.training.default_policy import PolicyError, ensure_default_policy

        try:
            path = ensure_default_policy()
        except PolicyError as e:
            return None, f"no tokenizer given and the default policy is unusable ({e}): counts are whitespace words"
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None, 'transformers is not installed (pip install "mulligan[train]"): counts are whitespace words'
    try:
        return AutoTokenizer.from_pretrained(str(path)), ""
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a tokenizer from {path}: {e}") from e


def export(
    paths: Iterable[str | os.PathLike[str]],
    fmt: str,
    out_dir: str | os.PathLike[str],
    *,
    tokenizer: Any = None,
    note: str = "",
    trajectories: Sequence[Trajectory] | None = None,
    **options: Any,
) -> ExportStats:
    """Export the trajectories of ``paths`` as format ``fmt`` into ``out_dir``.

    Args:
        paths: Run directories or trajectory JSONL files.
        fmt: One of :data:`FORMATS`.
        out_dir: Where ``<fmt>.jsonl`` and ``<fmt>.stats.json`` are written.
        tokenizer: A tokenizer with a chat template for exact counts; None counts words.
        note: A remark stored with the counts (why there is no tokenizer, ...).
        trajectories: Already loaded trajectories, used instead of reading ``paths``.
        **options: Options of the format's builder.

    Returns:
        The counts of what was written.
    """
    trajs = list(trajectories) if trajectories is not None else load_trajectories(paths)
    rows = build_rows(trajs, fmt, **options)
    out = Path(out_dir)
    path = write_rows(rows, out / f"{fmt}.jsonl")
    stats = count_rows(rows, fmt, str(path), tokenizer, note=note)
    (out / f"{fmt}.stats.json").write_text(json.dumps(stats.to_dict(), indent=2))
    return stats
