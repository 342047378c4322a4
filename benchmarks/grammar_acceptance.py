"""The ABC grammar against `tunesmith check` on a whole corpus: the tunes the grammar refuses that pass
`check`, each with the place it refuses (the grammar should refuse only what fails).

    python benchmarks/grammar_acceptance.py ../shared/data/nottingham-abc      # a folder of .abc files
    python benchmarks/grammar_acceptance.py oneills                            # a named corpus (music21's)
    python benchmarks/grammar_acceptance.py ryans --unit-length as-written

The codec is fitted on the corpus itself, as `tunesmith train` fits it (every character kept), so
its grammar knows the corpus's meters, keys and tune types; each tune is then followed symbol by
symbol. Only the refused tunes are checked (music21 and abc2midi, a few per second).
"""

from __future__ import annotations

import argparse
import sys

from tunesmith import corpus
from tunesmith.check import check_texts
from tunesmith.codecs.base import CodecOptions
from tunesmith.codecs.chars import CharCodec
from tunesmith.notation import abc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="a folder, file or named corpus of ABC tunes")
    ap.add_argument("--unit-length", default="1/8", help="as `train` reads them (default 1/8; as-written)")
    ap.add_argument("--show", type=int, default=40, help="refused tunes that pass check to list")
    args = ap.parse_args()
    unit = "" if args.unit_length == "as-written" else args.unit_length
    options = CodecOptions(format="abc", unk_min_count=1, unit_length=args.unit_length)
    pieces = corpus.load([args.corpus], show_progress=False, options=options).pieces
    codec = CharCodec.fit(pieces, options)
    rule = codec.constraint()
    refused = []
    for piece in pieces:
        ids = codec.encode(piece).tolist()
        at = rule.accepts(ids)
        if at is not None:
            refused.append((piece, ids, at))
    reports = check_texts([abc.finish(p.text, 1, "t") for p, _, _ in refused], ".abc", timeout=60)
    passing = [(p, ids, at) for (p, ids, at), r in zip(refused, reports) if r.valid]
    print(f"{args.corpus} (read in {'its own units' if not unit else 'L:' + unit}): {len(pieces)} tunes, "
          f"{len(refused)} refused by the grammar, {len(refused) - len(passing)} of them failing check, "
          f"{len(passing)} passing it")
    for piece, ids, at in passing[:args.show]:
        before = codec.decode(ids[1:at])[-50:]
        print(f"  {piece.name}: {before!r} then {codec.symbols[ids[at]]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
