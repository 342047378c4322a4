#!/usr/bin/env bash
# Rebuild the models shipped in src/tunesmith/models/ (see src/tunesmith/models/RECIPES.md).
#
#   bash scripts/build_models.sh            # all six
#   bash scripts/build_models.sh chorale    # one
#
# Each is trained by `tunesmith train` on a corpus that comes with music21,
# exported with fp16 weights, then measured by benchmarks/compose_goal.py,
# which writes the compose settings and the judged figures into its card.
# Set TUNESMITH_TRAIN_FLAGS (e.g. "--device cuda --minutes 60") to train
# differently; the flags are appended, so they win.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/tunesmith
PY=.venv/bin/python
MODELS=src/tunesmith/models
EXTRA=${TUNESMITH_TRAIN_FLAGS:-}

build() {   # name, train flags..., then -- and the measuring flags
    local name=$1; shift
    local train=() measure=()
    while [[ $# -gt 0 && $1 != -- ]]; do train+=("$1"); shift; done
    shift
    measure=("$@")
    rm -rf "runs/$name"
    # shellcheck disable=SC2086
    $T train "${train[@]}" --out "runs/$name" $EXTRA
    rm -rf "${MODELS:?}/$name"
    $T export "runs/$name" --out "$MODELS/$name" --half
    $PY benchmarks/compose_goal.py "$name" "${measure[@]}" --write-card
}

want() { [[ $# -eq 0 ]] || [[ " $* " == *" $NAME "* ]]; }

NAME=folk; if want "$@"; then
    build folk --corpus oneills ryans --unit-length as-written --minutes 20 \
        -- --corpus oneills ryans --temperatures 1.0,0.9,0.8,0.7 --temperature 1.0
fi
NAME=chorale; if want "$@"; then
    # four voices on a time grid of eighths (codecs/grid.py), the soprano, alto, tenor and bass each a slot
    build chorale --corpus chorales --codec grid --layout voices --grid 1/8 --augment 5 --layers 2 --hidden 256 \
        --minutes 15 --eval-every 250 \
        -- --corpus chorales --temperatures 1.0 --temperature 1.0 --voice-leading strict
fi
NAME=quartet; if want "$@"; then
    # string quartets, one style per composer, on a grid of sixteenths; pieces of 16 bars
    build quartet --corpus quartets --codec grid --layout voices --grid 1/16 --augment 5 --layers 2 --hidden 256 \
        --minutes 20 --eval-every 250 \
        -- --corpus quartets --temperatures 1.0 --temperature 1.0 --bars 16 --voice-leading free --repeat 3
    $PY benchmarks/quartet_goal.py quartet -n 50 --write-card
fi
NAME=chorale-melody; if want "$@"; then
    build chorale-melody --corpus chorales --transpose C --layers 2 --hidden 256 --dropout 0.5 --steps 2000 \
        --eval-every 100 -- --corpus chorales --temperatures 1.0,0.9,0.8 --temperature 1.0
fi
NAME=essen; if want "$@"; then
    build essen --corpus essen --unit-length as-written --minutes 20 \
        -- --corpus essen --temperatures 1.0,0.9,0.8 --temperature 1.0
fi
NAME=palestrina; if want "$@"; then
    # no copy index: reading 1,300 polyphonic scores through music21 for it takes longer than the training
    build palestrina --corpus palestrina --layers 3 --hidden 256 --minutes 25 --no-copy-index \
        -- --corpus palestrina --temperatures 1.0 --temperature 1.0 --max-length 8000 --repeat 1
fi
