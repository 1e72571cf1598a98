"""`mulligan report` on real runs: the figures, the marks of each episode, bad input, growing files."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.records import Trajectory
from mulligan.report import load, write_report
from mulligan.report.page import CHUNK, unpack
from mulligan.report.runs import RunReader
from mulligan.runner.metrics import summarize
from mulligan.runner.rundir import RunDir


def page_data(html: str):
    main = unpack(re.search(r'id="mulligan-main">([^<]+)<', html).group(1))
    chunks = {m.group(1): unpack(m.group(2)) for m in re.finditer(r'id="chunk-(\d+-\d+)">([^<]+)<', html)}
    return main, chunks


def detail_of(payload, run, task, trial=0):
    trajs = payload.readers[run].trajectories
    i = next(i for i, t in enumerate(trajs) if t.task_id == task and t.trial == trial)
    return payload.chunk(run, i // CHUNK)[i % CHUNK]


def test_the_page_holds_every_episode_and_the_runs_own_figures(report_runs, tmp_path):
    names = ["expert", "reflexion", "critic"]
    result = write_report([report_runs[n] for n in names], tmp_path / "r.html")
    html = result.out.read_text()
    main, chunks = page_data(html)
    assert [run["label"] for run in main["runs"]] == names
    for r, name in enumerate(names):
        trajs = RunDir(report_runs[name]).trajectories()
        s = main["runs"][r]["summary"]
        assert s["success_rate"] == summarize(trajs)["success_rate"]
        assert s["finished"] and s["wall_s"] == RunDir(report_runs[name]).load_summary()["wall_s"]
        assert sum(g["tasks"] for g in s["by_type"].values()) == s["episodes"]
        assert sum(s["steps_hist"]["counts"]) == len(trajs)
        assert sum(s["first_error_hist"]["counts"]) == s["with_error"]
        rows = [row for row in main["rows"] if row["r"] == r]
        assert [row["task"] for row in rows] == [t.task_id for t in trajs]
        shown = [d["id"] for k in range(-(-len(trajs) // CHUNK)) for d in chunks[f"{r}-{k}"]]
        assert shown == [t.id for t in trajs]
    expert = main["runs"][0]["summary"]
    assert 0 < expert["successes"] < expert["episodes"] and expert["recovered"] > 0
    assert set(expert["by_type"]) >= {"pick_and_place"} and "-" not in expert["by_type"]
    assert main["compare"]["tasks"][:6] == [f"unseen-{i}" for i in range(6)]
    assert result.episodes == len(main["rows"]) and not result.problems


def test_the_page_needs_no_network(report_runs, tmp_path):
    html = write_report([report_runs["critic"]], tmp_path / "r.html").out.read_text()
    assert "default-src 'none'" in html
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "http://" not in html.replace('"http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_a_retry_won_after_a_lesson_is_a_recovery_with_the_lesson_shown(report_runs):
    payload = load([report_runs["reflexion"]])
    first, retry = detail_of(payload, 0, "unseen-4", 0), detail_of(payload, 0, "unseen-4", 1)
    assert not first["success"] and retry["success"] and retry["parent_id"] == first["id"]
    assert retry["marks"]["recovered"] and retry["marks"]["first_error"] is None
    (lesson,) = retry["reflections"]
    assert lesson["reflector"] == "env" and "open bed 1" in lesson["text"]
    assert any(m.get("kind") == "memory" for m in retry["messages"])
    failed = [row for row in payload.main["rows"] if row["task"] == "unseen-0"]
    assert [row["trial"] for row in failed] == [0, 1, 2] and not any(row["rec"] for row in failed)


def test_a_critic_catch_marks_the_first_error_and_its_recovery(report_runs):
    payload = load([report_runs["critic"]])
    d = detail_of(payload, 0, "unseen-4")
    assert d["success"] and d["marks"]["errors"][0] == ["proposal rejected"]
    assert d["marks"]["first_error"] == 0 and d["marks"]["recovery"] == 0 and d["marks"]["recovered"]
    (rejected,) = d["steps"][0]["info"]["rejected"]
    assert rejected["action"] == "open bed 1" and rejected["critique"]["verdict"] == "bad"
    assert d["steps"][0]["critique"]["verdict"] == "good"


def test_noisy_expert_slips_are_errors_out_of_training_and_memory_shows(report_runs):
    payload = load([report_runs["expert"]])
    details = payload.chunk(0, 0)
    won = [d for d in details if d["success"] and d["marks"]["first_error"] is not None]
    assert won, "the noisy expert recovers from some slips"
    for d in won:
        fe, rec = d["marks"]["first_error"], d["marks"]["recovery"]
        assert fe <= rec and d["marks"]["errors"][rec] == []
    slips = [(d, j) for d in details for j, s in enumerate(d["steps"]) if s["info"].get("perturbed")]
    assert slips and all(d["marks"]["train"][j] is False for d, j in slips)
    assert any(d.get("retrieved") for d in details)


def test_bad_lines_are_named_and_the_rest_is_shown(run_copy, tmp_path):
    run = run_copy("critic")
    file = RunDir(run).trajectories_path
    lines = file.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"not": "a trajectory"}\n'
    file.write_bytes(b"".join(lines) + b'{"format": "mulligan-1", "id": "torn')
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert f"{file}:3: skipped an unreadable line" in result.output
    main, _ = page_data((tmp_path / "r.html").read_text())
    assert len(main["rows"]) == len(lines) - 1 and len(main["problems"]) == 1
    assert main["runs"][0]["pending"]


def test_a_path_that_is_no_run_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "is not a run directory" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_the_default_page_lands_in_the_run_directory(run_copy):
    run = run_copy("reflexion")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report.html").is_file() and "17 episodes" in result.output


def test_the_reader_takes_whole_lines_only_and_rereads_a_rewritten_file(report_runs, tmp_path):
    lines = RunDir(report_runs["reflexion"]).trajectories_path.read_bytes().splitlines(keepends=True)
    file = tmp_path / "t.jsonl"
    file.write_bytes(lines[0] + lines[1] + lines[2][:50])
    reader = RunReader("t", file)
    assert reader.poll() and len(reader.trajectories) == 2 and reader.pending_bytes == 50
    assert not reader.poll()
    with open(file, "ab") as f:
        f.write(lines[2][50:] + lines[3])
    assert reader.poll() and [t.id for t in reader.trajectories] == [
        Trajectory.model_validate(json.loads(line)).id for line in lines[:4]]
    file.write_bytes(lines[5])
    assert reader.poll() and len(reader.trajectories) == 1 and not reader.problems
