"""A run directory: ``config.yaml``, ``trajectories.jsonl``, ``summary.json``.

Trajectories are appended whole as each episode finishes; a torn last line left by a killed
run is cut off on resume, so no episode is lost (it is rerun) or duplicated. One run writes a
directory at a time: it holds an exclusive lock on ``run.lock`` while it runs. Episodes that
ended in a provider error are moved to ``retried.jsonl`` when a resume runs them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from mulligan.errors import CorruptFileError, RunError
from mulligan.records import Trajectory, append_jsonl, read_jsonl, repair_jsonl

SYNC_INTERVAL_S = 1.0
"""At most this long between fsyncs of trajectories.jsonl (a killed process loses nothing
either way; this bounds what a power loss can take)."""

RESUME_KEYS = (
    "env", "split", "suite", "tasks", "start", "task_seed", "agent", "model", "seed", "max_steps", "env_options",
    "agent_options",
    "memory", "memory_options",
)
"""Config fields that must match for ``--resume`` to continue a run: everything that changes what
the run means (not ``concurrency`` or ``out``)."""


class RunDir:
    """Files of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / "config.yaml"
        self.trajectories_path = self.path / "trajectories.jsonl"
        self.summary_path = self.path / "summary.json"
        self.retried_path = self.path / "retried.jsonl"
        self.lock_path = self.path / "run.lock"
        self._last_sync = 0.0

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's exclusive lock while a run writes it.

        Raises:
            RunError: Another process is writing this directory (its pid is named).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "?"
                raise RunError(f"{self.path} is being written by another run (pid {holder}); wait for it to "
                               "finish or choose another --out") from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                f.seek(0)
                f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)

    def load_config(self) -> dict[str, Any]:
        """The saved ``config.yaml``.

        Raises:
            RunError: There is none. CorruptFileError: It is not readable YAML of a mapping.
        """
        if not self.config_path.exists():
            raise RunError(f"{self.path} is not a run directory (no config.yaml)")
        try:
            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise CorruptFileError(f"{self.config_path}: not text (byte {e.start} is not UTF-8)") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise CorruptFileError(f"{self.config_path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        except OSError as e:
            raise CorruptFileError(f"{self.config_path}: cannot read it ({e.strerror or e})") from None
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise CorruptFileError(f"{self.config_path}: not a run config (a YAML mapping)")
        return config

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(self.config_path)

    def check_resumable(self, config: dict[str, Any], defaults: dict[str, Any] | None = None) -> None:
        """Raise RunError when ``config`` differs from the saved one in a field that matters.

        ``defaults`` fill fields the saved config left empty (a run saved before they were recorded).
        """
        saved = {k: v for k, v in self.load_config().items() if v is not None}
        saved = {**(defaults or {}), **saved}
        diffs = [f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in RESUME_KEYS if saved.get(k) != config.get(k)]
        if diffs:
            raise RunError(f"cannot resume {self.path}: the config changed ({'; '.join(diffs)})")

    def trajectories(self) -> list[Trajectory]:
        return read_jsonl(self.trajectories_path, Trajectory)

    def repair(self) -> int:
        """Cut a torn last line; returns the bytes dropped."""
        return repair_jsonl(self.trajectories_path)

    def append(self, trajectories: list[Trajectory]) -> None:
        now = time.monotonic()
        sync = now - self._last_sync >= SYNC_INTERVAL_S
        append_jsonl(self.trajectories_path, trajectories, fsync=sync)
        if sync:
            self._last_sync = now

    def set_aside(self, trajectories: list[Trajectory]) -> int:
        """Move ``trajectories`` from ``trajectories.jsonl`` to ``retried.jsonl`` (their tasks run again).

        The moved lines are appended to ``retried.jsonl`` (fsynced) before the trajectory file is
        replaced, so a kill in between leaves them in both, never in neither.
        """
        ids = {t.id for t in trajectories}
        if not ids:
            return 0
        append_jsonl(self.retried_path, trajectories)
        kept = [t for t in self.trajectories() if t.id not in ids]
        tmp = self.trajectories_path.with_suffix(".jsonl.tmp")
        tmp.unlink(missing_ok=True)
        append_jsonl(tmp, kept)
        tmp.replace(self.trajectories_path)
        return len(ids)

    def load_summary(self) -> dict[str, Any]:
        if not self.summary_path.exists():
            return {}
        try:
            summary = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CorruptFileError(f"{self.summary_path}: not readable JSON ({e})") from None
        return summary if isinstance(summary, dict) else {}

    def write_summary(self, summary: dict[str, Any]) -> None:
        tmp = self.summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(self.summary_path)
