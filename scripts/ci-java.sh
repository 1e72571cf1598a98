#!/usr/bin/env bash
# Install what the ScienceWorld tests need: a Java runtime (Debian's openjdk-17-jre-headless,
# idempotent), and the env packages (scienceworld, textworld, alfworld: mulligan's `envs` extra)
# into the project's virtualenv if they are missing. Usage: scripts/ci-java.sh [VENV]
set -euo pipefail

VENV="${1:-.venv}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if command -v java >/dev/null 2>&1; then
    echo "java already installed"
else
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless
fi
java -version 2>&1 | head -1

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c "import scienceworld, textworld, alfworld, fast_downward" 2>/dev/null; then
    # Fast Downward (textworld[pddl], ALFWorld's engine) builds from source and calls `python`.
    PATH="$(cd "$VENV/bin" && pwd):$PATH" "$VENV/bin/pip" install -q "scienceworld>=1.2" "textworld[pddl]>=1.6" "alfworld>=0.4"
fi
