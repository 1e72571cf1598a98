"""The code family: ``mulligan/Code-v0``, its task suites, and the sandboxes code runs in.

Importing this package never imports ``docker``: the Docker backend loads when it is chosen.
"""

from mulligan.envs.code.actions import CodeAction, parse_action, tool_schemas
from mulligan.envs.code.checker import CaseResult, TestReport, run_program, run_tests
from mulligan.envs.code.env import CodeEnv
from mulligan.envs.code.sandbox import ExecResult, Limits, Sandbox, Session, make_sandbox, shared_sandbox
from mulligan.envs.code.suites import (
    ENV_ID,
    CodeSuite,
    builtin_suite,
    find_task,
    humaneval_suite,
    jsonl_suite,
    load_suite,
)
from mulligan.envs.code.tasks import CodeTask, TestCase

__all__ = [
    "ENV_ID",
    "CaseResult",
    "CodeAction",
    "CodeEnv",
    "CodeSuite",
    "CodeTask",
    "ExecResult",
    "Limits",
    "Sandbox",
    "Session",
    "TestCase",
    "TestReport",
    "builtin_suite",
    "find_task",
    "humaneval_suite",
    "jsonl_suite",
    "load_suite",
    "make_sandbox",
    "parse_action",
    "run_program",
    "run_tests",
    "shared_sandbox",
    "tool_schemas",
]
