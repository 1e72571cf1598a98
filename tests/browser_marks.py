"""The ``browser`` marker's rule: a test that needs Chromium skips on a laptop without it, and fails in CI."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI") == "true"


def browser_test(missing: str | None):
    """A decorator marking a test ``browser``; skipped when ``missing`` says what is missing, except in CI."""
    def mark(test):
        return pytest.mark.browser(pytest.mark.skipif(bool(missing) and not IN_CI, reason=str(missing))(test))

    return mark
