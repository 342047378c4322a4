"""Add the texture copy guard (evaluate/texture.py) to a grid model trained before training wrote it.

    .venv/bin/python scripts/texture_index.py src/tunesmith/models/chorale --corpus chorales

Reads the corpus as the model's codec reads it (`Codec.reading`), hashes its
runs of every voice the way training does, and writes texture_index.safetensors
into the model folder. Models trained now get the file from `tunesmith train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunesmith import TunesmithError, bundle, corpus
from tunesmith.train.runfolder import texture_guard


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model folder (bundle)")
    ap.add_argument("--corpus", nargs="+", required=True, help="the corpus the model was trained on")
    args = ap.parse_args()
    try:
        loaded = bundle.load(args.model)
        read = corpus.load(args.corpus, options=loaded.codec.reading())
        guard = texture_guard(read)
        if guard is None:
            raise TunesmithError(f"{args.model} has no voices on a time grid: no texture guard to make")
        print(guard.save(Path(loaded.path)))
    except TunesmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
