"""The JSB chorales benchmark in one command: train a grid model on the train split of the roll
(quarter-note steps, 88 keys, no onsets) with the project's own `train`, then score every
checkpoint on the valid split with its own `evaluate`, in nats per frame (time step).

    python benchmarks/jsb.py --minutes 30 --out runs/jsb30
    python benchmarks/jsb.py --out runs/jsb30 --skip-training     # score a run again

Training uses every chorale of the train split and chooses its best checkpoint on the valid split
(`--valid-split valid`, the protocol of the published figures, which report the test split).
The figure is the negative log-likelihood of each step's pitches and its step token, summed and
averaged over frames: exact, since the tokens of a step come in one order (highest first) and the
roll and its tokens are one to one. Beside it, the same under the grammar (each step renormalised
over the tokens that keep that order), which is also a distribution over rolls. Published (test
split): LSTM 8.45, GRU 8.43, TCN 8.10 (Bai et al. 2018), RNN-NADE 5.19 (Boulanger-Lewandowski
et al. 2012). The data: ../shared/data/jsb-chorales (skipped cleanly when absent).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "jsb-chorales" / "jsb-chorales-quarter.json"
SHAPE = dict(architecture="lstm", layers=2, hidden=256, dropout=0.3, lr=0.002, augment=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/jsb", help="run folder")
    ap.add_argument("--minutes", type=float, default=30.0, help="training time (default 30)")
    ap.add_argument("--data", default=str(DATA), help="the roll JSON file (train and valid splits)")
    ap.add_argument("--skip-training", action="store_true", help="only score the run's checkpoints")
    ap.add_argument("--every", type=int, default=1, help="score every Nth checkpoint for the curve")
    for name, value in SHAPE.items():
        ap.add_argument(f"--{name}", type=type(value), default=value, help=f"(default {value})")
    args = ap.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: {args.data} is absent")
        return 0
    from tunesmith.evaluate.likelihood import evaluate
    from tunesmith.train import TrainConfig, train

    if not args.skip_training:
        started = time.perf_counter()
        shape = {name: getattr(args, name) for name in SHAPE}
        train(TrainConfig(corpus=[args.data], out=args.out, codec="grid", grid="1/4", onsets=False, split="train",
                          valid_split="valid", minutes=args.minutes, eval_every=500, **shape), overwrite=True)
        print(f"trained {time.perf_counter() - started:.0f} s")
    run = Path(args.out)
    checkpoints = sorted((run / "checkpoints").iterdir())[::-1][::args.every][::-1]
    curve = []
    for point in checkpoints:
        result = evaluate(str(point), [args.data], split="valid", show_progress=False)
        curve.append((int(point.name.split("-")[1]), result.nats_per_frame))
        print(f"step {curve[-1][0]:6d}: {curve[-1][1]:.4f} nats per frame (valid)")
    best = evaluate(str(run / "best"), [args.data], split="valid", show_progress=False, constrained=True)
    under = best.constrained.per_unit(best.constrained.bits) * math.log(2)
    card = json.loads((run / "best" / "card.json").read_text())
    config = json.loads((run / "best" / "config.json").read_text())
    print(json.dumps({"best_step": card.get("step"), "train_minutes": card.get("train_minutes"),
                      "shape": f"{config.get('layers')}x{config.get('hidden')}",
                      "valid_frames": best.units, "nats_per_frame": round(best.nats_per_frame, 4),
                      "nats_per_frame_under_grammar": round(under, 4),
                      "bits_per_token": round(best.bits_per_token, 4), "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
