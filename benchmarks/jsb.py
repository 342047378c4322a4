"""The JSB chorales benchmark in one command: train a grid model on the train split of the roll
(quarter-note steps, 88 keys, no onsets) with the project's own `train`, then score every
checkpoint on the valid split with its own `evaluate`, in nats per frame (time step).

    python benchmarks/jsb.py --minutes 30 --out runs/jsb30
    python benchmarks/jsb.py --out runs/jsb30 --skip-training     # score a run again

Training uses every chorale of the train split and watches the valid split (`--valid-split valid`).
Two models are scored: the best checkpoint (chosen on the valid split), and the last one, the end of
the training, whose choice saw no valid figure; the published figures report the test split.
The figure is the negative log-likelihood of each step's pitches and its step token, summed and
averaged over frames: exact, since the tokens of a step come in one order (highest first) and the
roll and its tokens are one to one. Beside it, the same under the grammar (each step renormalised
over the tokens that keep that order), which is also a distribution over rolls, and the model as an
ensemble of itself in --average-keys keys (each step's probabilities averaged over the chorale as
written and moved +1, -1, +2, ... semitones; again an exact likelihood, see evaluate/keys.py). Published (test
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
AVERAGE_KEYS = 11    # as written and the 10 shifts of --augment 10 (±5 semitones): the keys it trained in
SHAPE = dict(architecture="lstm", layers=2, hidden=256, dropout=0.4, lr=0.002, augment=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/jsb", help="run folder")
    ap.add_argument("--minutes", type=float, default=30.0, help="training time (default 30)")
    ap.add_argument("--data", default=str(DATA), help="the roll JSON file (train and valid splits)")
    ap.add_argument("--skip-training", action="store_true", help="only score the run's checkpoints")
    ap.add_argument("--seed", type=int, default=1, help="training seed (default 1)")
    ap.add_argument("--every", type=int, default=1, help="score every Nth checkpoint for the curve")
    ap.add_argument("--average-keys", type=int, default=AVERAGE_KEYS,
                    help=f"also score the best and the last checkpoint averaged over this many keys (evaluate "
                         f"--average-keys; 0: not; default {AVERAGE_KEYS})")
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
                          valid_split="valid", minutes=args.minutes, eval_every=500, seed=args.seed, **shape),
              overwrite=True)
        print(f"trained {time.perf_counter() - started:.0f} s")
    run = Path(args.out)
    checkpoints = sorted((run / "checkpoints").iterdir())[::-1][::args.every][::-1]
    curve = []
    for point in checkpoints:
        result = evaluate(str(point), [args.data], split="valid", show_progress=False)
        curve.append((int(point.name.split("-")[1]), result.nats_per_frame))
        print(f"step {curve[-1][0]:6d}: {curve[-1][1]:.4f} nats per frame (valid)")
    report = {"train_minutes": None, "shape": None}
    for name in ("best", "last"):    # best: chosen on the valid split; last: the end of the training
        result = evaluate(str(run / name), [args.data], split="valid", show_progress=False,
                          constrained=name == "best", average_keys=args.average_keys)
        card = json.loads((run / name / "card.json").read_text())
        entry = {"step": card.get("step"), "nats_per_frame": round(result.nats_per_frame, 4),
                 "bits_per_token": round(result.bits_per_token, 4)}
        if result.constrained is not None:
            entry["nats_per_frame_under_grammar"] = round(
                result.constrained.per_unit(result.constrained.bits) * math.log(2), 4)
        if result.averaged is not None:
            entry[f"nats_per_frame_averaged_over_{args.average_keys}_keys"] = round(
                result.averaged["nats_per_frame"], 4)
        report[name] = entry
        report["valid_frames"] = result.units
        if name == "last":
            model = json.loads((run / name / "config.json").read_text()).get("model", {})
            report.update(train_minutes=card.get("train_minutes"),
                          shape=f"{model.get('layers')}x{model.get('hidden')}, dropout {model.get('dropout')}")
    report["curve"] = curve
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
