"""Helpers of the report tests: Chromium for Playwright, and the ``browser`` marker for it."""

from __future__ import annotations

import os

from browser_marks import browser_test

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


needs_browser = browser_test(browser_missing())
"""Marked ``browser``; skipped when Chromium or Playwright is missing, except in CI, where the test then fails."""
