"""Harmonize the soprano of a run's validation chorales and judge the result against Bach's own
harmonization of the same chorales (issue 19's harmonize goal).

    python benchmarks/harmonize_goal.py runs/satb -n 20
    python benchmarks/harmonize_goal.py runs/satb --model chorale --voice-leading strict

For each of the first N validation chorales of the run (run.json's split; transposed copies left
out): its part named Soprano goes through `tunesmith.harmonize` (seed 1..N, temperature 1.0), and
the figures are: melodies kept note for note, the share of the lower voices' notes in their usual
range (A F3–D5, T C3–G4, B E2–C4), and the voice-leading rates of `judge --voices` (parallel
fifths and octaves per 100 voice-leading steps, ...) for the harmonizations and for Bach's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run folder of a model trained with --layout voices on chorales")
    ap.add_argument("-n", type=int, default=20, help="validation chorales (default 20)")
    ap.add_argument("--model", help="the model to harmonize with (default: the run's best): a name such as "
                                    "chorale, or a folder; the run then only gives the validation split")
    ap.add_argument("--voice-leading", choices=("strict", "free"), help="default: the model card's")
    args = ap.parse_args()
    from tunesmith import TunesmithError, bundle, harmonize
    from tunesmith.evaluate import voices
    from tunesmith.notation import grid as g, grid_scores

    run = Path(args.run)
    valid = json.loads((run / "run.json").read_text())["split"]["valid"]
    loaded = bundle.load(args.model or run)
    names = [v for v in valid if "@" not in v]     # no transposed copies, no piece cut where its metre changes
    kept = in_range = lower = 0
    ours, bach = voices.VoiceFigures(), voices.VoiceFigures()
    done, skipped = [], []
    for name in names:
        if len(done) == args.n:
            break
        path = name.split("#")[0]
        melody = grid_scores.melody_of(path, None, loaded.codec.grid)
        try:
            made = harmonize.harmonize(loaded, melody, n=1, temperature=1.0, seed=len(done) + 1,
                                       voice_leading=args.voice_leading)
        except TunesmithError as exc:        # a metre the model never saw: the next chorale instead
            skipped.append(f"{Path(path).name}: {exc}")
            print(f"{Path(path).name}: skipped ({exc})", flush=True)
            continue
        done.append(path)
        kept += made.kept[0]
        piece = loaded.codec.piece_of(made.pieces[0].text)
        figures = voices.figures(piece)
        ours = ours.add(figures)
        for v in range(1, 4):
            low, high = voices.RANGES[4][v]
            onsets = [s[v] for s in piece.steps if g.is_onset(s[v])]
            lower += len(onsets)
            in_range += sum(low <= e <= high for e in onsets)
        original = g.GridPiece.from_json(grid_scores.read_score_file(path, loaded.codec.grid, True)[0])
        bach = bach.add(voices.figures(original))
        print(f"{Path(path).name}: melody {'kept' if made.kept[0] else 'CHANGED'}; parallels per 100 moves "
              f"{figures.rates()['parallels_per_100_moves']}", flush=True)
    print(json.dumps({"melodies": len(done), "skipped": skipped, "kept": kept, "lower_in_range": round(in_range / max(lower, 1), 4),
                      "lower_notes": lower, "harmonized": ours.rates(), "bach_same_chorales": bach.rates()},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
