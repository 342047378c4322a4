"""How many tunes of a corpus `check` calls valid, how many render to each format, and the
time per tune for each format (one format at a time, so the times do not mix).

    python benchmarks/render_goal.py ../shared/data/nottingham-abc/*.abc --out /tmp/render-goal
    python benchmarks/render_goal.py ../shared/data/nottingham-abc/xmas.abc --formats midi,svg
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from tunesmith import check, render


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--formats", default="midi,musicxml,svg,wav")
    ap.add_argument("--out", default="/tmp/tunesmith-render-goal")
    args = ap.parse_args()

    pieces = sum(len(render.pieces_of(f)) for f in args.files)
    t0 = time.perf_counter()
    reports = check.check(args.files)
    check_s = time.perf_counter() - t0
    reasons = Counter(r.split(":")[0] if r.startswith(("music21", "abc2midi")) else r.split(" ", 1)[1]
                      for rep in reports for r in rep.reasons)
    result = {"pieces": pieces, "check": {"valid": sum(r.valid for r in reports), "of": len(reports),
                                          "seconds_per_piece": round(check_s / max(len(reports), 1), 3),
                                          "reasons": dict(reasons.most_common())}}
    for fmt in render.parse_formats(args.formats):
        t0 = time.perf_counter()
        results = render.render(args.files, [fmt], f"{args.out}/{fmt}")
        seconds = time.perf_counter() - t0
        errors = Counter(r.errors[fmt].split(":")[0] for r in results if fmt in r.errors)
        result[fmt] = {"rendered": sum(fmt in r.outputs for r in results), "of": len(results),
                       "seconds_per_piece": round(seconds / max(len(results), 1), 3),
                       "errors": dict(errors.most_common(5))}
        print(fmt, json.dumps(result[fmt]), file=sys.stderr)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
