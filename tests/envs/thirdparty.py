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
HOUSEHOLD_TASKS = [f"train-{i}" for i in range(12)] + [f"unseen-{i}" for i in range(6)]
"""Household tasks written as ALFWorld games for the tests."""

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
