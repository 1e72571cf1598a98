"""Helpers of the report tests: Chromium for Playwright, and the ``browser`` marker's skip rule."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (scripts/ci-browser.sh installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


MISSING = browser_missing()
IN_CI = os.environ.get("CI") == "true"


def needs_browser(test):
    """Marked ``browser``; skipped when Chromium is missing, except in CI, where the test then fails."""
    return pytest.mark.browser(pytest.mark.skipif(bool(MISSING) and not IN_CI, reason=str(MISSING))(test))
