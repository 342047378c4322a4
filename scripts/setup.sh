#!/usr/bin/env bash
# Set up tunesmith in ./.venv: PyTorch first (the CPU wheel on CPU machines, so pip
# does not pull several GB of CUDA packages), then the package and its test tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # torch==2.13.0 is the CPU wheel here; elsewhere any torch>=2.2 will do.
    "${PIP[@]}" torch==2.13.0 || "${PIP[@]}" "torch>=2.2"
fi
"${PIP[@]}" -e ".[dev]"
.venv/bin/tunesmith --version
