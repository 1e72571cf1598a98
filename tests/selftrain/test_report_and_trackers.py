"""The loop's views: the HTML report after every iteration, and --report-to with the offline trackers."""

from __future__ import annotations

import json
import re
import sqlite3
import sys

from test_selftrain_loop import policy, smoke
from typer.testing import CliRunner

import mulligan.training.selftrain as loop
from mulligan.cli import app
from mulligan.report.page import unpack
from mulligan.training.selftrain import selftrain


def labels(report) -> list[str]:
    main = unpack(re.search(r'id="mulligan-main">([^<]+)<', report.read_text()).group(1))
    return [run["label"] for run in main["runs"]]


def scalars(folder):
    """``{tag: [steps]}`` of the TensorBoard event files under ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for run in sorted({events.parent for events in folder.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(run))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend(e.step for e in acc.Scalars(tag))
    return out


def trackio_rows(folder) -> list[tuple[str, int, dict]]:
    with sqlite3.connect(folder / "mulligan.db") as db:
        return [(run, step, json.loads(m)) for run, step, m in db.execute("select run_name, step, metrics from metrics")]


def use_trackio_dir(monkeypatch, folder) -> None:
    """Trackio reads ``TRACKIO_DIR`` once, on import; TRL's GRPO trainer imports it, so an earlier test may
    have fixed it already: the loaded modules' copies are pointed at ``folder`` too."""
    monkeypatch.setenv("TRACKIO_DIR", str(folder))
    for name, module in list(sys.modules.items()):
        if name.startswith("trackio") and hasattr(module, "TRACKIO_DIR"):
            monkeypatch.setattr(module, "TRACKIO_DIR", folder)


def test_each_iteration_leaves_a_report_and_logs_to_tensorboard_and_trackio(tmp_path, tiny_checkpoint, monkeypatch):
    use_trackio_dir(monkeypatch, tmp_path / "trackio")
    config = smoke(tmp_path, "star", tiny_checkpoint, iterations=1, eval_tasks=2, eval_bootstrap=True,
                   report_to=["tensorboard", "trackio"])
    out = tmp_path / "star"
    seen = []
    hook = loop.after_iteration

    def spy(*args):
        hook(*args)
        seen.append(labels(out / "report.html"))

    monkeypatch.setattr(loop, "after_iteration", spy)
    records = selftrain(config, llm_factory=policy)
    assert seen == [["iter-0"], ["iter-0", "iter-1"]]

    loop_scalars = scalars(out / "tensorboard")
    assert loop_scalars["selftrain/success"] == [0, 1] and loop_scalars["selftrain/rows"] == [1]
    trained = scalars(out / "iter-1" / "model" / "runs")
    assert len(trained["train/train_loss"]) == 1

    rows = trackio_rows(tmp_path / "trackio")
    loop_rows = [(step, m["selftrain/success"]) for run, step, m in rows if run == "star"]
    assert loop_rows == [(r["iteration"], r["success"]) for r in records]
    assert any(run == "star/iter-1" and "train/epoch" in m for run, _, m in rows)

    selftrain(config, resume=True, llm_factory=policy)  # nothing new: nothing logged twice
    assert len(trackio_rows(tmp_path / "trackio")) == len(rows)
    assert scalars(out / "tensorboard")["selftrain/success"] == [0, 1]


def test_an_unknown_tracker_is_named_before_anything_runs(tmp_path):
    result = CliRunner().invoke(app, ["train", str(tmp_path / "rows.jsonl"), "--model", "default", "--out",
                                      str(tmp_path / "m"), "--report-to", "tensorbord"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "unknown tracker 'tensorbord'" in said and "Did you mean 'tensorboard'" in said
