"""CPU training step: the model's by-layer path with its own dropout masks vs nn.LSTM's dropout.

    python benchmarks/cpu_dropout.py              # the default model's shape, about a minute on 2 cores
    python benchmarks/cpu_dropout.py --smoke      # seconds; what CI runs

On a CPU, `LSTMModel` trains one LSTM layer at a time and draws its dropout
masks with `tunesmith.model.dropout_mask` (four elements from each 64-bit
random draw) instead of letting nn.LSTM and nn.Dropout draw them with
`bernoulli_`, one element at a time. Both sides here are full training steps
(forward, cross-entropy, backward, gradient clipping, fused Adam) of two copies
of the same model on the same batch: "this" calls the model, "baseline" calls
its nn.LSTM and nn.Dropout directly, as the model did before. The sides run in
blocks of --steps steps, interleaved (ABBA) so that both see the same machine;
the ratio is the median over blocks of baseline time / this time, with a 95%
bootstrap interval over blocks. It also times one mask of the step's shape
both ways.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith.nets.lstm import LSTMModel, ModelConfig, dropout_mask  # noqa: E402


def nn_lstm_forward(model: LSTMModel, ids: torch.Tensor, state):
    """The model as it trained before the by-layer path (and still does on CUDA): nn.LSTM's own
    dropout, then nn.Dropout."""
    out, state = model.lstm(model.embed(ids), state)
    return model.head(model.drop(out)), state


def steps(model, forward, opt, ids, targets, state, count: int):
    started = time.perf_counter()
    for _ in range(count):
        logits, state = forward(model, ids, state)
        state = (state[0].detach(), state[1].detach())
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - started, state


def mask_ms(shape: torch.Size, p: float, repeat: int = 20) -> tuple[float, float]:
    def timed(make):
        make()
        started = time.perf_counter()
        for _ in range(repeat):
            make()
        return (time.perf_counter() - started) / repeat * 1e3
    return (timed(lambda: dropout_mask(shape, p)),
            timed(lambda: torch.empty(shape).bernoulli_(1 - p).div_(1 - p)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=90, help="about the folk model's vocabulary")
    parser.add_argument("--blocks", type=int, default=24, help="pairs of blocks (each side once per pair)")
    parser.add_argument("--steps", type=int, default=3, help="training steps per block")
    parser.add_argument("--smoke", action="store_true", help="a tiny shape and a few blocks: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.layers, args.hidden, args.embed, args.batch_size, args.seq_len = 2, 32, 16, 4, 32
        args.blocks, args.steps = 4, 1
    if args.blocks < 2 or args.steps < 1:
        parser.error("--blocks must be at least 2 and --steps at least 1")
    config = ModelConfig(vocab_size=args.vocab, layers=args.layers, hidden=args.hidden, embed=args.embed,
                         dropout=args.dropout)   # checks the ranges

    torch.manual_seed(0)
    this = LSTMModel(config).train()
    baseline = copy.deepcopy(this)
    opts = {side: torch.optim.Adam(m.parameters(), lr=3e-3, fused=True) for side, m in
            (("this", this), ("baseline", baseline))}
    ids = torch.randint(0, args.vocab, (args.batch_size, args.seq_len))
    targets = torch.randint(0, args.vocab, (args.batch_size, args.seq_len))
    sides = {"this": (this, lambda m, x, s: m(x, s)), "baseline": (baseline, nn_lstm_forward)}
    states = {"this": None, "baseline": None}
    seconds = {"this": [], "baseline": []}

    def block(side, record=True):
        model, forward = sides[side]
        took, states[side] = steps(model, forward, opts[side], ids, targets, states[side], args.steps)
        if record:
            seconds[side].append(took)

    block("this", False)
    block("baseline", False)   # warm-up
    for pair in range(args.blocks):
        for side in (("this", "baseline") if pair % 2 == 0 else ("baseline", "this")):
            block(side)
    ratios = [b / t for b, t in zip(seconds["baseline"], seconds["this"])]
    rng = random.Random(0)
    boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    tokens = args.batch_size * args.seq_len * args.steps
    ours, bernoulli = mask_ms(torch.Size([args.batch_size, args.seq_len, args.hidden]), args.dropout)

    print(f"machine: {torch.get_num_threads()} threads, torch {torch.__version__}; shape {args.layers}×{args.hidden}, "
          f"embed {args.embed}, batch {args.batch_size}×{args.seq_len}, dropout {args.dropout}, "
          f"{args.blocks} blocks of {args.steps} steps a side")
    print(f"{'measure':<52} {'this':>10} {'baseline':>10} {'ratio':>7}")
    print(f"{'training tokens/s: by-layer masks vs nn.LSTM dropout':<52} "
          f"{tokens / statistics.median(seconds['this']):>10,.0f} {tokens / statistics.median(seconds['baseline']):>10,.0f} "
          f"{statistics.median(ratios):>7.3f}")
    print(f"{'  the ratio, 95% by bootstrap over blocks':<52} {'':>10} {'':>10} "
          f"{boot[int(0.025 * len(boot))]:.3f}–{boot[int(0.975 * len(boot)) - 1]:.3f}")
    print(f"{'one mask, ms: dropout_mask vs bernoulli_':<52} {ours:>10.2f} {bernoulli:>10.2f} {bernoulli / ours:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
