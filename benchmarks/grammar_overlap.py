"""Would a worker thread hide the grammar's time behind the model's? A batch's model steps and its
grammar's steps, one after the other against side by side.

    python benchmarks/grammar_overlap.py            # the shipped folk model, 100 tunes; about a minute
    python benchmarks/grammar_overlap.py --smoke    # seconds; what CI runs

A constrained batch (the folk model, primer X:1, temperature 1.0, seed 1, tunes up to 600
characters) is sampled once and its steps recorded: the tokens each step drew and the rows that
stayed. The batch is then replayed for --repeat rounds, each with a fresh grammar store:
- serial: per step the grammar checks and takes the tokens (`permits`, `advance`), then the model
  steps on them, as `sample.generate` does;
- overlapped: the model's step runs in a worker thread (its own torch threads, --worker-threads)
  while the main thread does the grammar's work, and the two meet before the next step. This is
  the best case of a speculative sampler, which would step the model on the drawn tokens before
  the grammar has judged them: the replay never redoes a refused row's step.
Medians over rounds, the sides taking turns; the ratio overlapped / serial below 1 means the
thread would pay.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith import bundle  # noqa: E402
from tunesmith.codecs.constraint import GrammarConstraint  # noqa: E402
from tunesmith.nets import expand_rows  # noqa: E402
from tunesmith.sample import generate  # noqa: E402


def record(model, codec, n: int, max_length: int) -> list[tuple[str, list]]:
    """The batch's grammar calls in order: ("advance", tokens) and ("keep", rows kept)."""
    events: list[tuple[str, list]] = []
    advance, keep = GrammarConstraint.advance, GrammarConstraint.keep
    GrammarConstraint.advance = lambda self, tokens: (events.append(("advance", tokens.tolist())),
                                                      advance(self, tokens))[1]
    GrammarConstraint.keep = lambda self, rows: (events.append(("keep", rows.tolist())), keep(self, rows))[1]
    try:
        generate(model, codec, n=n, seed=1, temperature=1.0, primer="X:1\n", max_length=max_length)
    finally:
        GrammarConstraint.advance, GrammarConstraint.keep = advance, keep
    return events


def replay(model, codec, events, n: int, pool: ThreadPoolExecutor | None) -> float:
    """Seconds for the recorded batch: grammar and model steps, in one thread or side by side."""
    getattr(codec, "_grammar_caches", {}).clear()
    rule = codec.constraint()
    prime = codec.encode_primer("X:1\n").tolist()
    rule.start(n, prime)
    _, state = model(torch.as_tensor(prime)[None, :])
    step = model.stepper(expand_rows(state, n), "auto", 1.0)
    started = time.perf_counter()
    for kind, value in events:
        if kind == "keep":
            mask = torch.tensor(value)
            rule.keep(mask)
            step.keep(mask)
            continue
        tokens = torch.tensor(value)
        if pool is None:
            rule.permits(tokens)
            rule.advance(tokens)
            step(tokens)
        else:
            future = pool.submit(step, tokens)
            rule.permits(tokens)
            rule.advance(tokens)
            future.result()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="folk")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker-threads", type=int, default=1, help="torch threads of the worker (default 1)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="the interpreter's thread switch interval in seconds during the overlapped side")
    parser.add_argument("--smoke", action="store_true", help="a few tunes, one round (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.max_length, args.repeat = 4, 120, 1
    torch.set_grad_enabled(False)
    loaded = bundle.load(args.model, "cpu")
    model, codec = loaded.model.eval(), loaded.codec
    events = record(model, codec, args.n, args.max_length)
    steps = sum(kind == "advance" for kind, _ in events)
    pool = ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(args.worker_threads,))
    default_interval = sys.getswitchinterval()
    replay(model, codec, events, args.n, None)   # warm-up: the reader's own caches of lengths and notes
    serial, overlapped = [], []
    for _ in range(args.repeat):
        serial.append(replay(model, codec, events, args.n, None))
        if args.switch_interval:
            sys.setswitchinterval(args.switch_interval)
        try:
            overlapped.append(replay(model, codec, events, args.n, pool))
        finally:
            sys.setswitchinterval(default_interval)
    pool.shutdown()
    s, o = statistics.median(serial), statistics.median(overlapped)
    print(f"model {args.model}: {args.n} tunes, {steps} steps; torch {torch.get_num_threads()} threads in the main "
          f"thread, {args.worker_threads} in the worker; switch interval "
          f"{args.switch_interval or default_interval} s; medians of {args.repeat}")
    print(f"serial (grammar, then the model's step): {s:.3f} s")
    print(f"overlapped (the model's step in a worker thread): {o:.3f} s")
    print(f"ratio overlapped / serial: {o / s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
