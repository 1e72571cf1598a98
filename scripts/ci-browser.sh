#!/usr/bin/env bash
# Install what the `browser` tests need: Debian's Chromium and chromedriver (idempotent), and the
# miniwob package into the project's virtualenv if it is missing. The report's tests drive this same
# Chromium through Playwright (from the `dev` extra), which never downloads a browser of its own.
# Usage: scripts/ci-browser.sh [VENV]
set -euo pipefail

VENV="${1:-.venv}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium and chromedriver already installed"
else
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi
chromium --version
chromedriver --version

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c "import miniwob, selenium" 2>/dev/null; then
    "$VENV/bin/pip" install -q "miniwob>=1.0" "selenium>=4.10"
fi
