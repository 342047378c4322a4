"""The grammar's own cost, without the model: cold batches' constraint calls recorded once, then
replayed alone, each replay with a fresh grammar store, and their answers compared across versions.

    python benchmarks/grammar_cost.py                              # folk, 3 cold batches of 100 tunes
    python benchmarks/grammar_cost.py --model essen
    python benchmarks/grammar_cost.py --model palestrina --primer "" -n 8 --max-length 8000
    python benchmarks/grammar_cost.py --answers a.json             # writes the answers, or compares with them
    python benchmarks/grammar_cost.py --smoke                      # seconds; what CI runs
    PYTHONPATH=OTHER/src python benchmarks/grammar_cost.py --answers a.json   # another checkout's grammar

The batches are sampled as `tunesmith sample` samples them (seeds 1, 2, 3, temperature 1.0), every
call the sampler makes on its constraint recorded with its arguments. A replay makes the same calls
on a new constraint: the time is the grammar's alone (the machine's noise on a model step is larger
than most changes to the reader), and the answers (the rows each step refused, the tokens a refused
row took) are checked to be the same on every replay. `--answers FILE` keeps them, to compare another
version with: where a change to a grammar alters what the sampler draws, its answers differ.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from tunesmith import bundle
from tunesmith.codecs.constraint import GrammarConstraint
from tunesmith.sample import generate

try:      # the sampler's conditions: the collector paused where this version's sampler pauses it
    from tunesmith.sample import gc_paused
except ImportError:
    from contextlib import nullcontext as gc_paused

CALLS = ("start", "refused", "first_permitted", "advance", "allowed_rows", "permits", "permits_rows", "keep",
         "wind_down", "last_end")
ANSWERS = ("refused", "first_permitted")     # what a step's draws depend on


def record(model, codec, batches: int, n: int, max_length: int, primer: str) -> list[list[tuple[str, list]]]:
    """Each batch's constraint calls in order, arguments copied (the sampler reuses its lists)."""
    calls: list[list[tuple[str, list]]] = []
    saved = {name: getattr(GrammarConstraint, name) for name in CALLS}
    depth = [0]      # (calls a call makes on its own constraint are not the sampler's)

    def wrap(name):
        method = saved[name]

        def recorded(self, *args):
            if depth[0] == 0:
                calls[-1].append((name, [a.clone() if isinstance(a, torch.Tensor) else
                                         list(a) if isinstance(a, list) else a for a in args]))
            depth[0] += 1
            try:
                return method(self, *args)
            finally:
                depth[0] -= 1
        return recorded

    try:
        for name in CALLS:
            setattr(GrammarConstraint, name, wrap(name))
        for seed in range(1, batches + 1):
            getattr(codec, "_grammar_caches", {}).clear()
            calls.append([])
            generate(model, codec, n=n, seed=seed, temperature=1.0, primer=primer, max_length=max_length)
    finally:
        for name, method in saved.items():
            setattr(GrammarConstraint, name, method)
    return calls


def replay(codec, calls: list[list[tuple[str, list]]]) -> list:
    """The batches' calls made again, each batch on a new constraint with a fresh store; the answers."""
    answers = []
    with gc_paused():
        for batch in calls:
            getattr(codec, "_grammar_caches", {}).clear()
            rule = codec.constraint()
            for name, args in batch:
                found = getattr(rule, name)(*args)
                if name in ANSWERS:
                    answers.append(found)
    return answers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="folk")
    ap.add_argument("--primer", default="X:1\n")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--max-length", type=int, default=600)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--answers", help="a JSON file: written where it is missing, else compared")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.max_length, args.batches, args.repeat = 4, 120, 1, 2
    loaded = bundle.load(args.model, torch.device("cpu"))
    if loaded.codec.constraint() is None:
        print(f"{args.model}: its codec has no grammar", file=sys.stderr)
        return 2
    calls = record(loaded.model, loaded.codec, args.batches, args.n, args.max_length, args.primer)
    answers = replay(loaded.codec, calls)
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        again = replay(loaded.codec, calls)
        seconds.append(time.perf_counter() - started)
        if again != answers:
            print("a replay answered differently from the sampler: the grammar is not deterministic", file=sys.stderr)
            return 1
    steps = sum(1 for batch in calls for name, _ in batch if name == "advance")
    print(f"{loaded.path}: {args.batches} cold batches of {args.n} ({steps} sampler steps), the grammar alone: "
          f"best {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s over {args.repeat} replays")
    if args.answers:
        path = Path(args.answers)
        if not path.exists():
            path.write_text(json.dumps(answers))
            print(f"answers written to {path}")
        elif json.loads(path.read_text()) != answers:
            print(f"the answers differ from {path}'s: this version draws differently", file=sys.stderr)
            return 1
        else:
            print(f"the same answers as {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
