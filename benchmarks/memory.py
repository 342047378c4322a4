"""Peak memory of training, by corpus size: token ids live in one compact array, so memory
should grow with the corpus only by that array (2 bytes a token).

    python benchmarks/memory.py essen oneills ../shared/data/nottingham-abc --steps 100

Each corpus is trained for a few steps in its own process (default shape, no copy
index); the peak resident memory of that process is reported with the corpus's size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile


def peak_of(corpus: str, steps: int) -> dict:
    code = f"""
import json, resource
from tunesmith import log
from tunesmith.train import TrainConfig, train
log.set_quiet(True)
result = train(TrainConfig(corpus=[{corpus!r}], out={tempfile.mkdtemp() + '/run'!r}, steps={steps},
                           eval_every={steps}, copy_index=False, preview_length=1))
run = json.load(open(result.out / "run.json"))
print(json.dumps({{"pieces": run["corpus"]["pieces"], "tokens_per_s": round(result.tokens_per_s),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    from tunesmith import corpus as corpus_mod

    for spec in args.corpora:
        loaded = corpus_mod.load(spec, show_progress=False)
        characters = sum(len(p.text) for p in loaded.pieces)
        result = peak_of(spec, args.steps)
        print(json.dumps({"corpus": spec, "characters": characters, **result,
                          "token_array_mb": round(characters * 2 / 2**20, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
