#!/usr/bin/env bash
# Set up tunesmith in ./.venv: PyTorch first (the CPU wheel on CPU machines, so pip
# does not pull several GB of CUDA packages), then the package and its test tools.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools from Debian: abc2midi cross-checks ABC in `tunesmith check`;
# FluidSynth and a General MIDI soundfont make WAV audio in `tunesmith render`.
# Chromium and its driver run the web app's browser test (tests/test_web.py).
# Without root or apt-get this is skipped, and tunesmith says what is missing.
missing=()
command -v abc2midi >/dev/null || missing+=(abcmidi)
command -v fluidsynth >/dev/null || missing+=(fluidsynth)
[ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || [ -e /usr/share/sounds/sf2/default-GM.sf2 ] || missing+=(fluid-soundfont-gm)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
            || echo "setup: could not install ${missing[*]} with apt-get; continuing without" >&2
    else
        echo "setup: please install the Debian packages: ${missing[*]}" >&2
    fi
fi

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
