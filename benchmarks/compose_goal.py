"""The shipped-models issue's goal: judge a model's raw samples and `compose`'s output, time `compose`.

    python benchmarks/compose_goal.py folk --corpus oneills ryans --temperatures 1.0,0.9,0.8
    python benchmarks/compose_goal.py folk --corpus oneills ryans --temperature 0.9 --write-card

For each temperature in --temperatures it samples -n pieces with nothing
filtered (no check, no copy guard) and judges them against the corpus: the
model's own validity share, copies, collapse. Then it composes -n pieces with
`compose`'s settings (the card's, or --temperature over them: check and copy
guard on) and judges those the same way, and times `tunesmith compose` with
no other arguments than the model, in a fresh folder, --repeat times.
--write-card stores the settings and the figures in the model's card.json
(the "compose" and "judged" sections `tunesmith models` and the web app show).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

KEEP = ("pieces", "valid", "valid_share", "copies", "max_copy", "median_longest_copy", "max_longest_copy",
        "collapsed", "mean_top_pitch_share", "capped_share")


def judged(loaded, options, corpus_spec: list[str], folder: Path) -> tuple[dict, float]:
    from tunesmith import compose, sample
    from tunesmith.evaluate.judge import judge

    started = time.perf_counter()
    outcome = compose.run(loaded, options)
    seconds = time.perf_counter() - started
    paths = sample.write(outcome.pieces, loaded.codec, folder, stem="piece")
    summary = judge([str(p) for p in paths], corpus_spec, show_progress=False).summary
    figures = {k: summary[k] for k in KEEP}
    figures.update(sampled=outcome.sampled, rounds=outcome.rounds, seconds=round(seconds, 2), seed=outcome.seed)
    return figures, seconds


def compose_seconds(model: str, models: list[str], repeat: int) -> list[float]:
    exe = Path(sys.executable).with_name("tunesmith")
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [str(exe), "-q", "compose", "--style", model] + [a for m in models for a in ("--models", m)]
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            written = sorted(os.listdir(tmp))
            if done.returncode != 0 or not written:
                raise SystemExit(f"compose failed ({done.returncode}): {done.stderr.strip()}")
    print(f"  wrote {', '.join(written)}")
    return times


def main() -> int:
    from tunesmith import bundle, compose
    from tunesmith.atomic import write_text

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model name or folder")
    ap.add_argument("--corpus", nargs="+", required=True, help="the corpus it was trained on")
    ap.add_argument("--models", action="append", default=[], metavar="DIR")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--temperatures", default="", help="raw samples at these temperatures (comma-separated)")
    ap.add_argument("--temperature", type=float, help="compose's temperature (default: the card's)")
    ap.add_argument("--max-length", type=int, help="compose's --max-length (default: the card's)")
    ap.add_argument("--bars", type=int, help="grid models: compose's --bars (default: the card's)")
    ap.add_argument("--voice-leading", choices=("strict", "free"),
                    help="grid models with voices: compose's --voice-leading (default: the card's)")
    ap.add_argument("--repeat", type=int, default=3, help="timed `tunesmith compose` runs")
    ap.add_argument("--out", default="runs/compose-goal")
    ap.add_argument("--write-card", action="store_true")
    ap.add_argument("--time-only", action="store_true",
                    help="only time `tunesmith compose` (with --write-card: update that figure of the card)")
    args = ap.parse_args()
    if args.time_only:
        loaded = bundle.load(args.model, models=args.models)
        times = compose_seconds(loaded.path.name, args.models, args.repeat)
        print(f"  `tunesmith compose --style {loaded.path.name}`: {', '.join(f'{t:.1f}' for t in times)} s "
              f"(median {statistics.median(times):.1f} s)")
        if args.write_card:
            card = dict(loaded.card)
            card.setdefault("judged", {})["compose_seconds_median"] = round(statistics.median(times), 1)
            write_text(loaded.path / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        return 0

    loaded = bundle.load(args.model, models=args.models)
    name = loaded.path.name
    out = Path(args.out) / name
    settings = compose.card_defaults(loaded.card)
    if args.temperature is not None:
        settings = replace(settings, temperature=args.temperature)
    if args.max_length is not None:
        settings = replace(settings, max_length=args.max_length)
    if args.bars is not None:
        settings = replace(settings, bars=args.bars)
    if args.voice_leading is not None:
        settings = replace(settings, voice_leading=args.voice_leading)
    raw = {}
    for t in [float(x) for x in args.temperatures.split(",") if x]:
        options = replace(settings, n=args.n, seed=args.seed, temperature=t, valid_only=False, max_copy="off")
        raw[str(t)], _ = judged(loaded, options, args.corpus, out / f"raw-{t}")
        print(f"raw T={t}: {json.dumps(raw[str(t)])}", flush=True)
    options = replace(settings, n=args.n, seed=args.seed)
    composed, _ = judged(loaded, options, args.corpus, out / "composed")
    print(f"compose {json.dumps({k: v for k, v in asdict(settings).items() if k in compose.TUNABLE})}:\n"
          f"  {json.dumps(composed)}", flush=True)
    times = compose_seconds(name, args.models, args.repeat)
    print(f"  `tunesmith compose --style {name}`: {', '.join(f'{t:.1f}' for t in times)} s "
          f"(median {statistics.median(times):.1f} s)")
    if args.write_card:
        card = dict(loaded.card)
        card["compose"] = {k: v for k, v in asdict(settings).items() if k in compose.TUNABLE}
        card["judged"] = {
            "command": "python benchmarks/compose_goal.py " + " ".join(sys.argv[1:]),
            "raw": raw, "composed": composed,
            "compose_seconds_median": round(statistics.median(times), 1),
        }
        write_text(loaded.path / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        print(f"card written: {loaded.path / 'card.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
