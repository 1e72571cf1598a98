#!/usr/bin/env bash
# CI: a running Docker engine and the sandbox image, for the tests marked `docker`.
# Installs docker.io and debootstrap with apt when missing, starts dockerd in the background and
# waits for it, then builds the image offline (`mulligan sandbox build`: debootstrap + docker import
# when no registry answers). Every step is skipped when already done, so reruns take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
  echo "ci-docker: installing ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! $SUDO docker info >/dev/null 2>&1; then
  echo "ci-docker: starting dockerd (log: /tmp/dockerd.log)"
  $SUDO sh -c 'nohup dockerd >/tmp/dockerd.log 2>&1 &'
  for _ in $(seq 60); do
    $SUDO docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! $SUDO docker info >/dev/null 2>&1; then
    echo "ci-docker: dockerd did not come up:" >&2
    tail -n 40 /tmp/dockerd.log >&2 || true
    exit 1
  fi
fi

make setup
$SUDO .venv/bin/mulligan sandbox build
