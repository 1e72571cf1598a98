"""``--report-to``: experiment trackers (TensorBoard, Trackio, Weights & Biases, MLflow).

Where TRL trains, its own ``report_to`` logs the training loss and learning rate (the tracker
names are TRL's). The self-training loop adds each iteration's metrics (success, recovery, pass@k,
rows, stage times) at step = iteration, as ``selftrain/<name>``. Each write opens the tracker's run,
logs and closes it, so it never overlaps the run the trainer opens, and ``OUT/trackers.json``
remembers what was logged, so a resumed loop does not log an iteration twice.

Where the data goes: TensorBoard under ``OUT/tensorboard/`` (the trainer's under the checkpoint's
``runs/``), Trackio in its local database (``TRACKIO_DIR``, default ``~/.cache/huggingface/trackio``),
Weights & Biases and MLflow wherever they are configured (``WANDB_MODE=offline``, ``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from mulligan.errors import ConfigError, DependencyNotInstalled
from mulligan.registry import did_you_mean

PROJECT = "mulligan"
"""The project (Trackio, W&B) or experiment (MLflow) every run is logged under."""

TRACKERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "report"),
    "trackio": ("trackio", "report"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
}
"""Tracker name -> (the package it needs, the mulligan extra that installs it)."""


def check_report_to(names: Iterable[str]) -> list[str]:
    """The tracker names of ``--report-to`` (repeated or comma-separated), checked and deduplicated.

    Raises:
        ConfigError: An unknown name.
        DependencyNotInstalled: A tracker whose package is missing.
    """
    out: list[str] = []
    for name in (n.strip() for item in names for n in item.split(",")):
        if not name or name == "none":
            continue
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker {name!r} for --report-to; use {', '.join(TRACKERS)}."
                              f"{did_you_mean(name, list(TRACKERS))}")
        package, extra = TRACKERS[name]
        if importlib.util.find_spec(package) is None:
            raise DependencyNotInstalled(package, extra, why=f"--report-to {name}")
        if name not in out:
            out.append(name)
    return out


def numeric(record: dict[str, Any], prefix: str = "selftrain/") -> dict[str, float]:
    """The numbers of a metrics record, flattened (``stage_wall_s/train``); booleans as 0/1, the rest left out."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(numeric(value, f"{prefix}{key}/"))
        elif isinstance(value, (bool, int, float)):
            out[f"{prefix}{key}"] = float(value)
    return out


def _tensorboard(out: Path, run_name: str, metrics: dict[str, float], step: int, state: dict[str, Any]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(out / "tensorboard" / "loop")) as writer:
        for key, value in metrics.items():
            writer.add_scalar(key, value, step)


def _trackio(out: Path, run_name: str, metrics: dict[str, float], step: int, state: dict[str, Any]) -> None:
    import trackio

    with contextlib.redirect_stdout(io.StringIO()):  # its banner would cut through the loop's progress
        trackio.init(project=PROJECT, name=run_name, resume="allow")
        trackio.log(metrics, step=step)
        trackio.finish()


def _wandb(out: Path, run_name: str, metrics: dict[str, float], step: int, state: dict[str, Any]) -> None:
    import wandb

    run_id = state.setdefault("wandb_id", uuid.uuid4().hex[:12])
    run = wandb.init(project=PROJECT, name=run_name, id=run_id, resume="allow", dir=str(out))
    run.log(metrics, step=step)
    run.finish()


def _mlflow(out: Path, run_name: str, metrics: dict[str, float], step: int, state: dict[str, Any]) -> None:
    import mlflow

    mlflow.set_experiment(PROJECT)
    with mlflow.start_run(run_id=state.get("mlflow_id"), run_name=run_name) as run:
        state["mlflow_id"] = run.info.run_id
        mlflow.log_metrics(metrics, step=step)


LOGGERS: dict[str, Callable[[Path, str, dict[str, float], int, dict[str, Any]], None]] = {
    "tensorboard": _tensorboard, "trackio": _trackio, "wandb": _wandb, "mlflow": _mlflow,
}


def log_iteration(names: Iterable[str], out: Path, record: dict[str, Any], *, run_name: str) -> list[str]:
    """Log one iteration's metrics ``record`` to each tracker that has not logged it yet.

    Args:
        names: Trackers (checked by :func:`check_report_to`).
        out: The loop's folder (holds ``trackers.json`` and TensorBoard's files).
        record: The iteration's metrics (``iteration`` is the step).
        run_name: The tracker run's name.

    Returns:
        The trackers written to now.
    """
    path = out / "trackers.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    step = int(record["iteration"])
    metrics = numeric(record)
    written = []
    for name in names:
        logged = state.setdefault("logged", {}).setdefault(name, [])
        if step in logged:
            continue
        LOGGERS[name](out, run_name, metrics, step, state)
        logged.append(step)
        written.append(name)
        path.write_text(json.dumps(state, indent=2))
    return written
