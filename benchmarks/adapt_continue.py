"""Does `continue --adapt` help? Each held-out tune is cut in the middle; its second half is scored
twice, as the model continuing the first half predicts it: by the model as it is, and by a copy
that has first learnt from the first half (`tunesmith.adapt.adapted_to`, the settings `continue
--adapt` uses). Lower bits mean the model expects the tune's true continuation more.

    python benchmarks/adapt_continue.py runs/nott5                      # the run's validation tunes
    python benchmarks/adapt_continue.py runs/nine-A --data BOOK.abc ...   # tunes of other files

Also the sweep that chose the defaults: --lr 0.05 0.1 0.2 --passes 3 5 8 (every pair).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import torch

from continue_goal import _key     # (this folder: a piece's file name and tune, as a run's split names it)
from tunesmith import adapt, bundle
from tunesmith.evaluate.likelihood import read_for


def tunes(run: str, codec, data: list[str] | None, limit: int) -> list:
    """The run's validation tunes (run.json's split), or every tune of `data`, as the model reads."""
    if data:
        pieces = read_for(codec, data, show_progress=False).pieces
    else:
        split = json.loads((Path(run) / "run.json").read_text())["split"]["valid"]
        wanted = {_key(name) for name in split}
        files = sorted({name.split("#")[0] for name in split})
        pieces = [p for p in read_for(codec, files, show_progress=False).pieces if _key(p.name) in wanted]
    return pieces[:limit] if limit else pieces


@torch.no_grad()
def rest_bits(model, ids: torch.Tensor, cut: int) -> float:
    """Bits of ids[cut:], the model having read ids[:cut] (from a zero state)."""
    _, state = model(ids[None, :cut - 1])
    logits, _ = model(ids[None, cut - 1:-1], state)
    return torch.nn.functional.cross_entropy(logits[0], ids[cut:], reduction="sum").item() / math.log(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run or model folder (with --data) or a run folder (its validation split)")
    ap.add_argument("--data", nargs="+", help="score tunes of these files instead of the run's validation split")
    ap.add_argument("--lr", nargs="+", type=float, default=[adapt.CONTINUE_ADAPT_LR])
    ap.add_argument("--passes", nargs="+", type=int, default=[adapt.CONTINUE_ADAPT_PASSES])
    ap.add_argument("--limit", type=int, default=0, help="at most this many tunes (0: all)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    loaded = bundle.load(args.run)
    codec, model = loaded.codec, loaded.model
    arrays = []
    for piece in tunes(args.run, codec, args.data, args.limit):
        try:
            arrays.append(torch.as_tensor(codec.encode(piece).astype("int64")))
        except Exception:        # a symbol this model never saw: it cannot score the tune
            continue
    static = sum(rest_bits(model, ids, len(ids) // 2) for ids in arrays)
    tokens = sum(len(ids) - len(ids) // 2 for ids in arrays)
    print(f"{len(arrays)} tunes, {tokens:,} tokens in their second halves: {static / tokens:.4f} bits per token "
          f"as the model is")
    for lr, passes in itertools.product(args.lr, args.passes):
        start, bits = time.perf_counter(), 0.0
        for ids in arrays:
            cut = len(ids) // 2
            learnt = adapt.adapted_to(model, ids[:cut].numpy(), torch.device("cpu"), lr,
                                      adapt.CONTINUE_ADAPT_SEGMENT, passes)
            bits += rest_bits(learnt, ids, cut)
        spent = (time.perf_counter() - start) / len(arrays)
        print(f"  learnt from the first half (lr {lr:g}, {passes} pass{'es' if passes != 1 else ''}): {bits / tokens:.4f} bits per token "
              f"({bits / static - 1:+.1%}); {spent:.2f} s per tune")
    return 0


if __name__ == "__main__":
    sys.exit(main())
