"""Measure the goals of the core issue: sample from a trained run and count how many
pieces are usable.

    # ABC: 50 tunes at temperature 1.0 primed with X:1, parsed by music21
    python benchmarks/text_goal.py runs/nottingham -n 50 --temperature 1.0 --primer 'X:1\\n'
    # **kern: share of sampled movements that restore to files music21 parses
    python benchmarks/text_goal.py runs/mozart -n 20 --max-length 6000

A tune counts as valid when music21 parses it into at least one note and it has
M:, L: and K: header lines; a **kern piece when its restored file parses into
at least one note. The validation bits per character are those of the run's
best checkpoint (the card), which training measured on the held-out pieces.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
import time
import warnings

from tunesmith import bundle, sample


def parses(text: str, fmt: str) -> tuple[bool, str]:
    from music21 import converter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(text, format="abc" if fmt == "abc" else "humdrum")
        notes = len(score.recurse().notes)
    except Exception as exc:  # music21 raises many kinds on malformed text
        return False, f"{type(exc).__name__}: {str(exc)[:80]}"
    return (notes > 0), f"{notes} notes"


def has_headers(text: str) -> bool:
    head = text.split("\n")
    return all(any(line.startswith(f) for line in head) for f in ("M:", "L:", "K:"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--primer", default="")
    ap.add_argument("--max-length", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="also write the pieces here")
    args = ap.parse_args()

    loaded = bundle.load(args.model)
    primer = codecs.decode(args.primer, "unicode_escape")
    t0 = time.perf_counter()
    pieces = sample.generate(loaded.model, loaded.codec, n=args.n, temperature=args.temperature,
                             primer=primer, max_length=args.max_length, seed=args.seed)
    seconds = time.perf_counter() - t0
    if args.out:
        sample.write(pieces, loaded.codec, args.out)
    fmt = loaded.codec.format
    valid = 0
    for i, piece in enumerate(pieces, 1):
        text = loaded.codec.finish(piece.text, i)
        ok, why = parses(text, fmt)
        if fmt == "abc" and ok and not has_headers(text):
            ok, why = False, "missing M:, L: or K:"
        valid += ok
        print(f"{i:3d} {'valid' if ok else 'INVALID':7s} ended={piece.ended!s:5s} {len(piece.text):5d} chars  {why}")
    card = loaded.card
    result = {"model": str(loaded.path), "val_bits": card.get("val_bits"), "step": card.get("step"),
              "train_minutes": card.get("train_minutes"), "n": args.n, "valid": valid,
              "valid_share": valid / args.n, "ended": sum(p.ended for p in pieces),
              "sampling_seconds": round(seconds, 2)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
