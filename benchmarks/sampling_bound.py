"""Where batched sampling's time goes, and the ceiling on batched vs one at a time it implies.

    python benchmarks/sampling_bound.py           # the shipped folk model, 100 tunes; about a minute
    python benchmarks/sampling_bound.py --smoke   # seconds; what CI runs

Both sides run through the sampler (`sample.generate`) as in `speed.py` (the
folk model, primer X:1, temperature 1.0; the batch with seed 7, single tunes
with seeds 100, 101, …), taking turns for --repeat rounds on the same
machine, with the model's step (`Stepper`: matrix products, gates, cell
updates) timed where it runs, so each run splits into
- steps: the model's arithmetic for the rows still being written then;
- the rest: picking tokens, stopping finished rows, bookkeeping.
Medians over rounds. It prints both sides' splits, the batch's time in steps
with at most a tenth of its rows (the tail, where the longest tunes go on
nearly alone), and the batched / one-at-a-time ratio measured and as it
would be if the batch cost only its steps. The latter is a ceiling for this
machine and model short of faster arithmetic: a batch cannot take less time
than its steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith import bundle  # noqa: E402
from tunesmith.nets.lstm import LSTMModel, ModelConfig  # noqa: E402
from tunesmith.sample import generate  # noqa: E402


class TimedSteps:
    """Wraps a model's `stepper` so that every step call records (rows, seconds)."""

    def __init__(self, model: LSTMModel):
        self.original, self.calls = model.stepper, []
        model.stepper = self.stepper   # an instance attribute: this model only

    def stepper(self, *args, **kwargs):
        inner, calls = self.original(*args, **kwargs), self.calls

        class Timed:
            def keep(self, rows):
                inner.keep(rows)

            def __call__(self, ids):
                started = time.perf_counter()
                logits = inner(ids)
                calls.append((ids.numel(), time.perf_counter() - started))
                return logits
        return Timed()

    def take(self) -> list[tuple[int, float]]:
        calls, self.calls = self.calls, []
        return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="folk", help="a model name or folder (default: the shipped folk model)")
    parser.add_argument("-n", type=int, default=100, help="tunes in the batch")
    parser.add_argument("--max-length", type=int, default=3000)
    parser.add_argument("--sequential", type=int, default=10, help="tunes sampled one at a time per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each side once per round")
    parser.add_argument("--smoke", action="store_true", help="an untrained tiny model, 10 short tunes: seconds")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.smoke:
        from tunesmith.codecs import CharCodec
        from tunesmith.corpus import Piece
        codec = CharCodec.fit([Piece(f"tune {i}", text, "abc") for i, text in
                               enumerate(["X:1\nK:D\nABcd|efga|\n", "X:2\nK:G\nGABc|dBAG|\n"])])
        model = LSTMModel(ModelConfig(codec.vocab_size, layers=2, hidden=32, embed=16)).eval()
        args.n, args.max_length, args.sequential, args.repeat = 10, 60, 2, 2
        what = "untrained 2x32"
    else:
        loaded = bundle.load(args.model)
        model, codec, what = loaded.model.eval(), loaded.codec, str(loaded.path)
    if args.n < 10 or args.sequential < 1 or args.repeat < 1:
        parser.error("-n must be at least 10, --sequential and --repeat at least 1")
    # the model's own steps, without the format's grammar (benchmarks/speed.py measures that)
    options = dict(temperature=1.0, primer="X:1\n", max_length=args.max_length, precision="auto", constrain=False)
    timed = TimedSteps(model)
    generate(model, codec, n=args.n, seed=0, **options)   # warm-up
    timed.take()

    batch, single = [], []
    for r in range(args.repeat):
        started = time.perf_counter()
        pieces = generate(model, codec, n=args.n, seed=7, **options)
        wall = time.perf_counter() - started
        calls = timed.take()
        steps = sum(s for _, s in calls)
        tail = sum(s for rows, s in calls if rows <= args.n // 10)
        tokens = sum(rows for rows, _ in calls) + args.n   # each row's last step yields its end-of-piece
        batch.append(dict(wall=wall, steps=steps, tail=tail, tokens=tokens, count=len(calls),
                          longest=max(len(p.ids) for p in pieces)))
        started = time.perf_counter()
        for i in range(args.sequential):
            generate(model, codec, n=1, seed=100 + r * args.sequential + i, **options)
        wall = time.perf_counter() - started
        calls = timed.take()
        tokens = len(calls) + args.sequential
        single.append(dict(per_token=wall / tokens, step=sum(s for _, s in calls) / len(calls)))

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    wall, steps, tail, tokens = med(batch, "wall"), med(batch, "steps"), med(batch, "tail"), batch[0]["tokens"]
    per_token, one_step = med(single, "per_token"), med(single, "step")
    sequential = per_token * tokens   # the batch's tokens at one-at-a-time speed
    print(f"model: {what}; primer X:1, temperature 1.0; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"medians of {args.repeat} rounds")
    print(f"batch: {args.n} tunes, {tokens:,} tokens in {batch[0]['count']} steps; the longest tune "
          f"{batch[0]['longest']} tokens (primer included)")
    print(f"{'measure':<60} {'seconds':>9}")
    print(f"{'the batch (wall)':<60} {wall:>9.3f}")
    print(f"{'  its steps':<60} {steps:>9.3f}")
    print(f"{'  of which steps with at most a tenth of the rows':<60} {tail:>9.3f}")
    print(f"{'  the rest (picking, stopping, bookkeeping)':<60} {wall - steps:>9.3f}")
    print(f"{'one at a time, a token (wall; ' + str(args.sequential) + ' tunes a round)':<60} {per_token:>9.6f}")
    print(f"{'  its step':<60} {one_step:>9.6f}")
    print(f"{'the batch tokens one at a time':<60} {sequential:>9.3f}")
    print(f"ratio batched / one at a time: {sequential / wall:.1f} measured; "
          f"{sequential / steps:.1f} if the batch cost only its steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
