"""The runs a report shows: run directories, trajectory files and self-training folders, read as they grow.

A report never stops at a bad line: a line that does not parse, or is not a trajectory, is left
out and named (file and line) in the report's problems; an unterminated last line is a run still
writing (or killed mid-line) and is read once it is whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mulligan.errors import RunError
from mulligan.records import Trajectory
from mulligan.runner.rundir import RunDir

SELFTRAIN_CONFIG = "selftrain.yaml"
"""The file that marks a self-training folder (``OUT/iter-K/eval`` are its evaluation runs)."""

_ITER = re.compile(r"^iter-(\d+)$")


@dataclass
class RunReader:
    """One run's trajectories, read incrementally: :meth:`poll` parses only what was appended since."""

    label: str
    path: Path
    """The run directory, or the trajectories file given directly."""
    trajectories: list[Trajectory] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    pending_bytes: int = 0
    """Bytes after the last newline: a line still being written (or torn by a killed run)."""
    _offset: int = 0
    _lines: int = 0
    _meta_stamp: tuple = ()

    @property
    def file(self) -> Path:
        return self.path if self.path.suffix == ".jsonl" else RunDir(self.path).trajectories_path

    def poll(self) -> bool:
        """Read what was appended since the last poll; returns whether anything changed."""
        changed = self._poll_meta()
        size = self.file.stat().st_size if self.file.exists() else 0
        if size < self._offset:  # rewritten (a resumed run cut a torn line): read it again
            self.trajectories, self.problems, self._offset, self._lines = [], [], 0, 0
            changed = True
        if size == self._offset:
            return changed
        with open(self.file, "rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        whole = data[: data.rfind(b"\n") + 1]
        self.pending_bytes = len(data) - len(whole)
        for line in whole.splitlines():
            self._lines += 1
            if line.strip():
                self._parse(line)
        self._offset += len(whole)
        return changed or bool(whole)

    def _parse(self, line: bytes) -> None:
        try:
            self.trajectories.append(Trajectory.model_validate_json(line))
        except Exception as e:  # noqa: BLE001 - one bad line is reported, never fatal
            reason = str(e).splitlines()[0][:160]
            self.problems.append(f"{self.file}:{self._lines}: skipped an unreadable line ({type(e).__name__}: {reason})")

    def _poll_meta(self) -> bool:
        if self.path.suffix == ".jsonl":
            return False
        rundir = RunDir(self.path)
        stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (rundir.config_path, rundir.summary_path))
        if stamp == self._meta_stamp:
            return False
        self._meta_stamp = stamp
        try:
            self.config = rundir.load_config() if rundir.config_path.exists() else {}
            self.summary = rundir.load_summary()
        except (OSError, ValueError, yaml.YAMLError) as e:
            self.problems.append(f"{self.path}: unreadable config or summary ({type(e).__name__})")
        return True


def is_selftrain(path: Path) -> bool:
    return (path / SELFTRAIN_CONFIG).is_file()


def iteration_dirs(folder: Path) -> list[tuple[int, Path]]:
    """``(K, OUT/iter-K)`` of a self-training folder, by K."""
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _ITER.match(p.name))]
    return sorted(found)


def expand(paths: list[Path]) -> list[tuple[str, Path]]:
    """(label, path) of every run the given paths name, in order.

    A self-training folder stands for its evaluation runs (``iter-K/eval``, labelled ``iter-K``);
    a run directory or a ``.jsonl`` file for itself, labelled by its name (made unique).

    Raises:
        RunError: A path that is none of these.
    """
    runs: list[tuple[str, Path]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir() and is_selftrain(path):
            prefix = f"{path.name}/" if len(paths) > 1 else ""
            runs += [(f"{prefix}iter-{k}", p / "eval") for k, p in iteration_dirs(path) if (p / "eval").is_dir()]
        elif path.is_file() and path.suffix == ".jsonl":
            runs.append((path.stem if path.stem != "trajectories" else path.parent.name, path))
        elif path.is_dir() and (RunDir(path).config_path.exists() or RunDir(path).trajectories_path.exists()):
            runs.append((path.name, path))
        elif not path.exists():
            raise RunError(f"{path} does not exist")
        else:
            raise RunError(f"{path} is not a run directory (no config.yaml or trajectories.jsonl), "
                           "a trajectories .jsonl file or a self-training folder")
    return _unique_labels(runs)


def _unique_labels(runs: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    seen: dict[str, int] = {}
    out = []
    for label, path in runs:
        seen[label] = seen.get(label, 0) + 1
        out.append((label if seen[label] == 1 else f"{label} ({seen[label]})", path))
    return out


def selftrain_metrics(paths: list[Path]) -> list[dict[str, Any]]:
    """The per-iteration metrics (``iter-K/metrics.json``) of the self-training folders among ``paths``."""
    records = []
    for path in paths:
        path = Path(path)
        if not (path.is_dir() and is_selftrain(path)):
            continue
        for _, folder in iteration_dirs(path):
            file = folder / "metrics.json"
            try:
                records.append(json.loads(file.read_text()))
            except (OSError, ValueError):
                continue  # an iteration still running has none yet
    return records
