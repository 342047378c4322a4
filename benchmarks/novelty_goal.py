"""How many notes in a row does a new human tune share with the rest of its corpus?

This is what the copy guard's default (`--max-copy`) is chosen from: hold out a
share of the tunes, index the rest, and measure each held-out tune's longest
run of consecutive notes (pitch and duration) found in some other tune. Real
new tunes should pass the guard, so the default sits above what they share.

    python benchmarks/novelty_goal.py ../shared/data/nottingham-abc --holdout 0.1 --seed 1
    python benchmarks/novelty_goal.py --synthetic 10000    # index scale: random melodies, 100 queries
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np


def synthetic(count: int, seed: int) -> int:
    from tunesmith.evaluate.novelty import NoveltyIndex

    rng = np.random.default_rng(seed)

    def melody(n: int) -> list[tuple[int, float]]:
        return list(zip(rng.integers(60, 72, n).tolist(), rng.choice([0.5, 1.0, 1.5, 2.0], n).tolist()))

    pieces = [(f"m{i}", melody(int(rng.integers(50, 300)))) for i in range(count)]
    started = time.perf_counter()
    index = NoveltyIndex.from_pieces(pieces)
    index._build(False)
    build_s = time.perf_counter() - started
    queries = [melody(200) for _ in range(50)] + [pieces[i][1][10:60] for i in range(50)]
    started = time.perf_counter()
    lengths = [index.longest_match(q).length for q in queries]
    print(json.dumps({"melodies": count, "notes": index.notes, "index_seconds": round(build_s, 2),
                      "queries": len(queries), "query_seconds": round(time.perf_counter() - started, 3),
                      "copies_found_whole": sum(n == len(q) for n, q in zip(lengths[50:], queries[50:]))}, indent=1))
    return 0


def main() -> int:
    from tunesmith import corpus
    from tunesmith.notation import scores
    from tunesmith.evaluate.novelty import NoveltyIndex

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="*")
    ap.add_argument("--synthetic", type=int, help="instead: this many random melodies of 50-300 notes")
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.synthetic:
        return synthetic(args.synthetic, args.seed)

    _, _, files, _ = corpus.resolve(args.corpus, codec="events")
    started = time.perf_counter()
    result = scores.read_files(files, scores.ReaderSettings("melody"))
    read_s = time.perf_counter() - started
    melodies, seen = [], set()
    for parts in result.files.values():
        for part in parts:
            notes = tuple((p, d) for p, _, d in part.melody())
            if notes and notes not in seen:     # exact duplicates are one tune
                seen.add(notes)
                melodies.append((part.name, list(notes)))
    random.Random(args.seed).shuffle(melodies)
    cut = max(1, int(len(melodies) * args.holdout))
    held, rest = melodies[:cut], melodies[cut:]
    started = time.perf_counter()
    index = NoveltyIndex.from_pieces(rest)
    index._build(False)
    index._build(True)
    build_s = time.perf_counter() - started
    out = {"tunes": len(melodies), "held_out": len(held), "indexed_notes": index.notes,
           "read_seconds": round(read_s, 1), "index_seconds": round(build_s, 2)}
    for mode in (False, True):
        started = time.perf_counter()
        runs = np.array([index.longest_match(notes, intervals=mode).length for _, notes in held])
        key = "transposition_invariant" if mode else "exact"
        out[key] = {"median": float(np.median(runs)), "p90": float(np.percentile(runs, 90)),
                    "p99": float(np.percentile(runs, 99)), "max": int(runs.max()),
                    "share_over": {str(n): round(float((runs > n).mean()), 3) for n in (12, 16, 20, 24, 32)},
                    "seconds_per_tune": round((time.perf_counter() - started) / len(held), 4)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
