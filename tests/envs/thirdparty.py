"""Gating of tests that need a third-party env package (and, for ScienceWorld, Java).

On a laptop without them the tests skip with the reason; in CI (``CI=true``), where ``.ci/run``
installs them, they run and fail if anything is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

TEXTWORLD_SIZES = {"train": 2, "valid": 1, "test": 3}
"""The generated TextWorld suite the tests share (tests/envs/conftest.py)."""


def _one_task_per_type(split: str) -> list[str]:
    from mulligan.envs.household.rooms import TASK_TYPES
    from mulligan.envs.household.suites import build_world

    found: dict[str, str] = {}
    for i in range(200):
        found.setdefault(build_world(f"{split}-{i}").task.task_type, f"{split}-{i}")
        if len(found) == len(TASK_TYPES):
            break
    return sorted(found.values())


HOUSEHOLD_TASKS = _one_task_per_type("train") + ["unseen-0", "unseen-1"]
"""Household tasks written as ALFWorld games for the tests: one of each type, and two unseen."""

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(*packages: str, java: bool = False) -> str | None:
    """Why the requirements are not met here, or None."""
    absent = [p for p in packages if importlib.util.find_spec(p) is None]
    if absent:
        return f"{', '.join(absent)} not installed (pip install 'mulligan[envs]')"
    if java and shutil.which("java") is None:
        return "java not installed (scripts/ci-java.sh installs openjdk-17-jre-headless)"
    return None


def marks(*packages: str, java: bool = False) -> list:
    """``thirdparty``, and a skip when a requirement is missing, except in CI."""
    reason = missing(*packages, java=java)
    return [pytest.mark.thirdparty, pytest.mark.skipif(bool(reason) and not IN_CI, reason=str(reason))]


def needs(*packages: str, java: bool = False):
    """Decorate a test with :func:`marks`."""

    def mark(test):
        for m in marks(*packages, java=java):
            test = m(test)
        return test

    return mark
