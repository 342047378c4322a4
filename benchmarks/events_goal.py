"""Measure the goal of the note-event issue: sample melodies and look for the "one repeated note" failure.

    tunesmith train --corpus chorales --transpose C --minutes 10 --out runs/chorales ...
    python benchmarks/events_goal.py runs/chorales -n 50 --temperature 1.0 --seed 1

Each sampled piece is decoded to its MusicXML file (as `tunesmith sample` writes
it) and read back with music21; per melody it reports the notes, the distinct
pitches and distinct durations it uses, and the share of its most frequent
pitch. A melody "collapses" when one pitch is more than half of its notes. The
corpus pieces (transposed the same way) are measured alike for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections import Counter


def figures(notes: list[tuple[int, float]]) -> dict:
    pitches = Counter(p for p, _ in notes)
    return {"notes": len(notes), "pitches": len(pitches), "durations": len({d for _, d in notes}),
            "top_share": (pitches.most_common(1)[0][1] / len(notes)) if notes else 1.0}


def notes_of_xml(text: str) -> list[tuple[int, float]]:
    from music21 import converter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(text, format="musicxml")
    return [(n.pitches[-1].midi, float(n.quarterLength)) for n in score.flatten().notes]


def summary(rows: list[dict]) -> dict:
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    return {"pieces": len(rows), "median_notes": med("notes"), "median_pitches": med("pitches"),
            "median_durations": med("durations"), "median_top_share": round(med("top_share"), 3),
            "collapsed": sum(r["top_share"] > 0.5 for r in rows),
            "collapsed_share": round(sum(r["top_share"] > 0.5 for r in rows) / len(rows), 3)}


def main() -> int:
    from tunesmith import bundle, corpus, sample

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=1000)
    ap.add_argument("--corpus", help="also measure this corpus (e.g. chorales) with the run's reader settings")
    args = ap.parse_args()

    loaded = bundle.load(args.model)
    started = time.perf_counter()
    pieces = sample.generate(loaded.model, loaded.codec, n=args.n, temperature=args.temperature,
                             max_length=args.max_length, seed=args.seed)
    seconds = time.perf_counter() - started
    rows = [figures(notes_of_xml(loaded.codec.finish(p.text, i + 1))) for i, p in enumerate(pieces)]
    result = {"model": str(loaded.path), "val_bits": loaded.card.get("val_bits"), "step": loaded.card.get("step"),
              "temperature": args.temperature, "seed": args.seed, "sampling_seconds": round(seconds, 2),
              "ended_by_model": sum(p.ended for p in pieces), "samples": summary(rows)}
    if args.corpus:
        card = loaded.card
        real = corpus.load(args.corpus, codec="events", transpose=card.get("transpose"), show_progress=False)
        real_rows = [figures([(p[-1], d) for p, _, d in piece.meta["events"]["events"] if p])
                     for piece in real.pieces]
        result["corpus"] = summary(real_rows)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
