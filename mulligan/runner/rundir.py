"""A run directory: ``config.yaml``, ``trajectories.jsonl``, ``summary.json``.

Trajectories are appended whole as each episode finishes; a torn last line left by a killed
run is cut off on resume, so no episode is lost (it is rerun) or duplicated.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from mulligan.errors import RunError
from mulligan.records import Trajectory, append_jsonl, read_jsonl, repair_jsonl

SYNC_INTERVAL_S = 1.0
"""At most this long between fsyncs of trajectories.jsonl (a killed process loses nothing
either way; this bounds what a power loss can take)."""

RESUME_KEYS = ("env", "split", "tasks", "start", "agent", "model", "seed", "max_steps", "agent_options")
"""Config fields that must match for ``--resume`` to continue a run."""


class RunDir:
    """Files of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / "config.yaml"
        self.trajectories_path = self.path / "trajectories.jsonl"
        self.summary_path = self.path / "summary.json"
        self._last_sync = 0.0

    def load_config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            raise RunError(f"{self.path} is not a run directory (no config.yaml)")
        return yaml.safe_load(self.config_path.read_text()) or {}

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(self.config_path)

    def check_resumable(self, config: dict[str, Any]) -> None:
        """Raise RunError when ``config`` differs from the saved one in a field that matters."""
        saved = self.load_config()
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

    def load_summary(self) -> dict[str, Any]:
        if not self.summary_path.exists():
            return {}
        return json.loads(self.summary_path.read_text())

    def write_summary(self, summary: dict[str, Any]) -> None:
        tmp = self.summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(self.summary_path)
