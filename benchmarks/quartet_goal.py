"""The quartet goal of the polyphony issue: raw samples per composer, checked, copy-guarded, and
compared with each composer's own quartets.

    python benchmarks/quartet_goal.py quartet -n 50
    python benchmarks/quartet_goal.py runs/quartet/best -n 50 --temperature 0.9 --write-card

For each style (composer) of the model it samples -n pieces with nothing filtered (no check, no copy
guard: `compose --any`, with the card's other settings, e.g. --bars), writes them as MusicXML and
reports: how many pass `tunesmith check`; copies of the top line (`judge`, against every quartet of
the corpus) and of the whole texture (`judge --voices`: more than four bars of all voices shared with
a corpus movement, in any key); and likeness: for the first violin's pitch classes, intervals and note
lengths, the overlap (1 = the same histogram) of the samples with each composer's quartets. A model
whose styles mean something is closest to its own composer on that diagonal. --write-card stores the
figures in the model's card.json ("judged_styles").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

LIKENESS = ("pitch_class", "interval", "note_length")


def composer_files(style: str) -> list[str]:
    from tunesmith.corpus import _files_of

    files, styles, _ = _files_of("quartets")
    return [str(f) for f, s in zip(files, styles) if s == style]


def overlaps(generated: list, corpus: list) -> dict:
    from tunesmith.evaluate import stats

    histograms = stats.compare(generated, corpus)["histograms"]
    return {name: round(histograms[name]["overlap"], 3) for name in LIKENESS if name in histograms}


def main() -> int:
    from tunesmith import bundle, compose, sample
    from tunesmith.atomic import write_text
    from tunesmith.evaluate import voices
    from tunesmith.evaluate.judge import corpus_melodies, judge
    from tunesmith.notation import scores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model name or folder")
    ap.add_argument("--models", action="append", default=[], metavar="DIR")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--temperature", type=float, help="sampling temperature (default: the card's)")
    ap.add_argument("--out", default="runs/quartet-goal")
    ap.add_argument("--write-card", action="store_true")
    args = ap.parse_args()

    loaded = bundle.load(args.model, models=args.models)
    settings = compose.card_defaults(loaded.card)
    if args.temperature is not None:
        settings = replace(settings, temperature=args.temperature)
    styles = loaded.codec.styles
    if not styles:
        raise SystemExit("the model has no styles (composers)")
    every = [f for s in styles for f in composer_files(s)]
    melodies = {s: [notes for _, notes in corpus_melodies(composer_files(s), show_progress=False)] for s in styles}
    report = {"command": "python benchmarks/quartet_goal.py " + " ".join(sys.argv[1:]),
              "settings": {"temperature": settings.temperature, "bars": settings.bars,
                           "voice_leading": settings.voice_leading}, "styles": {}}
    for style in styles:
        started = time.perf_counter()
        options = replace(settings, n=args.n, seed=args.seed, style=style, valid_only=False, max_copy="off")
        outcome = compose.run(loaded, options)
        folder = Path(args.out) / Path(loaded.path).name / style
        paths = sample.write(outcome.pieces, loaded.codec, folder, stem=style)
        seconds = time.perf_counter() - started
        judged = judge([str(p) for p in paths], every, show_progress=False).summary
        texture = voices.compare(paths, every, show_progress=False)
        read, _ = scores.read_melodies(paths, show_progress=False)
        generated = [notes for items in read.values() for _, notes in items]
        row = {"pieces": judged["pieces"], "valid": judged["valid"], "copies": judged["copies"],
               "max_longest_copy": judged["max_longest_copy"], "texture_copies": texture["texture_copies"],
               "longest_shared_steps": max((r["longest_shared_steps"] for r in texture["pieces"]), default=0),
               "parallels_per_100_moves": texture["samples"]["parallels_per_100_moves"],
               "corpus_parallels_per_100_moves": texture["corpus"]["parallels_per_100_moves"],
               "likeness": {other: overlaps(generated, melodies[other]) for other in styles},
               "seconds": round(seconds, 1)}
        report["styles"][style] = row
        print(f"{style}: {json.dumps(row)}", flush=True)
    print("\nlikeness (mean overlap of pitch-class, interval and note-length histograms; rows: samples, "
          "columns: composer's quartets)")
    print("  samples of  " + "".join(f"{s:>11}" for s in styles))
    for style in styles:
        cells = [sum(v.values()) / len(v) for v in (report["styles"][style]["likeness"][o] for o in styles)]
        print(f"  {style:<11} " + "".join(f"{c:>11.3f}" for c in cells))
    if args.write_card:
        card = dict(loaded.card)
        card["judged_styles"] = report
        write_text(Path(loaded.path) / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        print(f"card written: {Path(loaded.path) / 'card.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
