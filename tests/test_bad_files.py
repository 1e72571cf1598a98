"""Every bad file gets one line naming the file (and the line), never a traceback; memory import is
all or nothing. The CLI runs in process (typer's runner); ``/proc/self/mem`` is a file that exists
but cannot be read, even by root."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from mulligan.cli import app
from mulligan.memory.entries import Experience, KeyStep, Lesson

UNREADABLE = "/proc/self/mem"


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture
def binary(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"messages": []}\n' + os.urandom(256).replace(b"\n", b"") + b"\xff\n")
    return path


# -- train ---------------------------------------------------------------------------------------


def test_train_on_a_binary_file_names_file_and_line(binary, tmp_path):
    line = one_error_line(invoke("train", str(binary), "--model", "default", "--out", str(tmp_path / "ckpt")))
    assert f"{binary}:1" in line or f"{binary}:2" in line


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: tmp / "missing.jsonl", "no such data file"),
    (lambda tmp: UNREADABLE, "cannot read it"),
])
def test_train_on_what_is_not_a_data_file(tmp_path, make, fragment):
    line = one_error_line(invoke("train", str(make(tmp_path)), "--model", "default", "--out", str(tmp_path / "c")))
    assert fragment in line


def test_train_into_a_file_or_from_a_folder_without_a_model(tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "yo", "train": True}]}) + "\n")
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert "is a file" in one_error_line(invoke("train", str(data), "--model", "default", "--out", str(taken)))
    line = one_error_line(invoke("train", str(data), "--model", str(tmp_path), "--out", str(tmp_path / "c")))
    assert "not a local checkpoint folder" in line


# -- show ----------------------------------------------------------------------------------------


def test_show_with_a_broken_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("env: x\n")
    (run / "trajectories.jsonl").write_bytes(b'{"key": 1}\n' + os.urandom(64).replace(b"\n", b"") + b"\n")
    assert f"{run / 'trajectories.jsonl'}:1" in one_error_line(invoke("show", str(run)))
    (run / "trajectories.jsonl").unlink()
    (run / "trajectories.jsonl").mkdir()
    assert "is a folder" in one_error_line(invoke("show", str(run)))


# -- memory import -------------------------------------------------------------------------------


def entry(i: int) -> dict:
    exp = Experience(env="mulligan/Household-v0", instruction=f"put apple {i} in fridge {i} quickly",
                     steps=[KeyStep(action=f"go to fridge {i}")], task_ids=[f"train-{i}"])
    return {"op": "add", "entry": exp.model_dump(mode="json")}


def write(path, *records) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


@pytest.mark.parametrize("bad, fragment", [
    ([1, 2], "not a memory record"),
    ({"op": "add", "entry": {"env": "x"}}, "bad entry"),
    ({"op": "lesson", "lesson": {"text": "t"}}, "bad lesson"),
    ({"op": "teleport"}, "unknown record kind op='teleport'"),
    ({"no": "op"}, "unknown record kind op=None"),
    ("{not json", "unreadable record"),
])
def test_memory_import_is_all_or_nothing(tmp_path, bad, fragment):
    dump = write(tmp_path / "dump.jsonl", {"op": "meta", "format": "mulligan-memory-1"}, entry(1), entry(2), bad,
                 entry(3))
    mem = tmp_path / "mem"
    line = one_error_line(invoke("memory", "import", str(mem), dump, "--no-dense"))
    assert f"{dump}:4" in line and fragment in line
    assert not (mem / "log.jsonl").exists() or (mem / "log.jsonl").stat().st_size == 0


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: tmp / "missing.jsonl", "does not exist"),
    (lambda tmp: UNREADABLE, "cannot read it"),
])
def test_memory_import_of_what_is_not_an_export(tmp_path, make, fragment):
    assert fragment in one_error_line(invoke("memory", "import", str(tmp_path / "mem"), str(make(tmp_path)),
                                             "--no-dense"))


def test_memory_import_reports_what_it_skipped(tmp_path):
    lesson = Lesson(env="mulligan/Household-v0", task_id="train-1", text="open the fridge first")
    dump = write(tmp_path / "log.jsonl", {"op": "meta", "format": "mulligan-memory-1"}, entry(1),
                 {"op": "use", "ids": ["x"], "won": True}, {"op": "use", "ids": ["y"], "won": False},
                 {"op": "lesson", "lesson": lesson.model_dump(mode="json")}, {"op": "evict", "ids": ["x"]})
    result = invoke("memory", "import", str(tmp_path / "mem"), dump, "--no-dense")
    assert result.exit_code == 0, result.output
    assert "added: 1" in result.output and "lessons: 1" in result.output
    assert "skipped use: 2" in result.output and "skipped evict: 1" in result.output
