"""The evaluation issue's goal: judge sampled, copied and held-out tunes against a folk model's corpus.

    python benchmarks/judge_goal.py runs/nottingham --out runs/judge-goal

From the run's own train/validation split it writes the training tunes as the
corpus, 20 training tunes as "copies" and 20 validation tunes as "held-out
human tunes" (the model never trained on them), samples 100 tunes with the
run's best model (temperature 1.0, primer X:1), and judges each set against
the training tunes with `tunesmith judge`'s library call, timing each.
Copies must all be flagged and held-out tunes none.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def main() -> int:
    from tunesmith import bundle, corpus, sample
    from tunesmith.evaluate.judge import judge
    from tunesmith.evaluate.report import write_report

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--out", default="runs/judge-goal")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-copy", type=int, default=None)
    args = ap.parse_args()

    run = json.loads((Path(args.run) / "run.json").read_text())
    loaded_corpus = corpus.load(run["settings"]["corpus"], run["settings"]["format"], show_progress=False)
    by_name = {p.name: p for p in loaded_corpus.pieces}
    train = [by_name[n] for n in run["split"]["train"] if n in by_name]
    valid = [by_name[n] for n in run["split"]["valid"] if n in by_name]
    out = Path(args.out)
    sets = {"corpus": train, "copies": random.Random(args.seed).sample(train, 20),
            "held-out": random.Random(args.seed).sample(valid, 20)}
    for name, pieces in sets.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, piece in enumerate(pieces):
            (folder / f"{name}-{i + 1:04d}.abc").write_text(piece.text)

    model = bundle.load(args.run)
    started = time.perf_counter()
    pieces = sample.generate(model.model, model.codec, n=args.n, temperature=1.0, primer="X:1\n", seed=args.seed)
    sample_s = time.perf_counter() - started
    for old in (out / "samples").glob("*.abc"):
        old.unlink()
    sample.write(pieces, model.codec, out / "samples")

    options = {"max_copy": args.max_copy} if args.max_copy else {}
    results = {"sampling_seconds": round(sample_s, 2)}
    for name in ("samples", "copies", "held-out"):
        files = sorted(str(p) for p in (out / name).glob("*.abc"))
        started = time.perf_counter()
        judged = judge(files, [str(out / "corpus")], show_progress=False, **options)
        seconds = time.perf_counter() - started
        write_report(out / f"report-{name}", judged.comparison, {"summary": judged.summary, "pieces": judged.rows},
                     title=f"{name} vs the training tunes of {args.run}")
        likeness = {k: v["overlap"] for k, v in judged.comparison["histograms"].items()}
        results[name] = {**judged.summary, "wall_seconds": round(seconds, 2), "histogram_overlap": likeness}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
