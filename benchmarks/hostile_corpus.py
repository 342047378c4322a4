"""A corpus folder of about 200 hostile entries (binary files, empty files, broken tunes, UTF-16,
latin-1, names that are not UTF-8, folders named x.abc, link loops, dangling links, a link to
/dev/zero, FIFOs, huge lines, deep nesting) among good tunes, read by `tunesmith corpus show` and a
`tunesmith train --steps 2` (which builds the copy guard's index), each in its own process with a
time limit. Prints the tracebacks, the hangs (runs past the limit) and the entries dropped without a
reason (the goal: 0, 0, 0).

    python benchmarks/hostile_corpus.py
    python benchmarks/hostile_corpus.py --keep /tmp/hostile --timeout 300 --json /tmp/hostile.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TUNE = "X:{n}\nT:Tune {n}\nM:{meter}\nL:1/8\nK:{key}\n{body}|]\n"
BARS = ["GABc dedB", "A2FA dAFA", "d2fd cAGF", "GEFD E2D2", "B2dB cBAG", "FGAB c2BA"]
TINY = ["--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "2", "--seq-len", "16",
        "--eval-every", "2", "--preview-length", "5"]


def tune(rng: random.Random, n: int) -> str:
    body = "|".join(rng.choice(BARS) for _ in range(4))
    return TUNE.format(n=n, meter=rng.choice(["4/4", "6/8", "3/4"]), key=rng.choice("GDACF"), body=body)


def _named(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, data)
    os.close(fd)


def _odd_entries(root: Path, rng: random.Random) -> int:
    """Entries named like music that are not files one can read; how many."""
    for i in range(5):
        (root / f"folder-{i}.abc").mkdir()
        (root / f"folder-{i}.abc" / "inside.txt").write_text("not music\n")
        (root / f"loop-{i}.abc").symlink_to(root / f"loop-{i}.abc")
        (root / f"dangling-{i}.abc").symlink_to(root / f"nowhere-{i}.abc")
        _named(root, f"name-{i}-".encode() + bytes([0xff, 0xfe - i]) + b".abc", tune(rng, 900 + i).encode())
    for i in range(2):
        (root / f"zero-{i}.abc").symlink_to("/dev/zero")
        (root / f"null-{i}.abc").symlink_to("/dev/null")
    for i in range(3):
        os.mkfifo(root / f"fifo-{i}.abc")
    (root / "up").symlink_to(root)            # a link back up: a loop for a reader that follows links
    return 5 * 4 + 2 * 2 + 3


def build(root: Path, seed: int = 1) -> int:
    """The hostile corpus in `root`; the number of music-named entries in it."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    count = 0
    for i in range(100):                       # good tunes, in a few encodings
        text = tune(rng, i + 1)
        encoding = ["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1"][i % 7]
        data = text.replace("Tune", "Tüne" if encoding != "utf-8" else "Tune").encode(encoding)
        if encoding in ("utf-16-le", "utf-16-be") and i % 2:
            data = "\ufeff".encode(encoding) + data   # with and without a byte-order mark
        (root / f"good-{i:03d}-{encoding}.abc").write_bytes(data)
        count += 1
    for i in range(20):                        # binary data under a music name
        (root / f"binary-{i:02d}.abc").write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(10, 5000))))
    for i in range(10):                        # empty, blank, or no X: line
        (root / f"empty-{i:02d}.abc").write_text(["", "\n\n", "% only a comment\n", "T:no X line\nK:C\nC|\n"][i % 4])
    broken = ["X:1\nT:no key\nabc|\n", "X:1\nT:music first\nabc|\nK:C\n", "X:1\nK:C\n",
              "X:1\nT:garbage\nK:C\n(((((((([[[[[[{{{{{\n", "X:1\nK:H#\nCDEF|\n", "X:1\nM:0/0\nK:C\nC|\n"]
    for i in range(30):                        # broken tunes, and books that mix broken and good
        text = broken[i % len(broken)] + ("\n" + tune(rng, 500 + i) if i % 3 == 0 else "")
        (root / f"broken-{i:02d}.abc").write_text(text)
    huge = "|".join(rng.choice(BARS) for _ in range(60000))   # one line of about 600 kB
    for i in range(3):
        (root / f"huge-{i}.abc").write_text(f"X:1\nT:huge {i}\nM:4/4\nL:1/8\nK:G\n{huge}|]\n" if i < 2
                                            else "X" * 2_000_000)
    deep = root
    for level in range(60):                    # deep nesting
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "deep.abc").write_text(tune(rng, 700))
    count += 20 + 10 + 30 + 3 + 1
    return count + _odd_entries(root, rng)


def accounting(root: Path) -> dict:
    """Read the corpus in this process: every music-named entry must give pieces or a reason."""
    from tunesmith import corpus
    from tunesmith.formats import format_of

    loaded = corpus.load(str(root), show_progress=False)
    sources = {p.name.split("#")[0] for p in loaded.pieces}
    reasons = {where.split("#")[0] for where, why in loaded.skipped + loaded.repeats if why}
    silent = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if format_of(Path(path)) and corpus.safe_name(path) not in sources | reasons:
                silent.append(corpus.safe_name(path))
    return {"pieces": len(loaded.pieces), "skipped": len(loaded.skipped), "silent": sorted(silent)}


def run(argv: list[str], cwd: Path, timeout: float) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESMITH_CACHE": str(cwd / "cache")}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "tunesmith", *argv], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd, errors="replace")
        rc, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, ""
    return {"argv": argv[:2], "rc": rc, "hang": rc is None, "traceback": "Traceback" in err,
            "seconds": round(time.perf_counter() - started, 1), "tail": err.strip().splitlines()[-4:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="build the corpus here and keep it (default: a temporary folder)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a run may take before it counts as a hang")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tunesmith-hostile-corpus-"))
    try:
        entries = build(work / "corpus")
        print(f"{entries} music-named entries in {work / 'corpus'}", flush=True)
        started = time.perf_counter()
        counted = accounting(work / "corpus")
        print(f"read in this process in {time.perf_counter() - started:.1f} s: {counted['pieces']} pieces, "
              f"{counted['skipped']} skipped, {len(counted['silent'])} dropped without a reason", flush=True)
        runs = [run(["corpus", "show", str(work / "corpus"), "--head", "1"], work, args.timeout),
                run(["train", "--corpus", str(work / "corpus"), "--out", str(work / "run"), "--steps", "2", *TINY],
                    work, args.timeout)]
        for r in runs:
            print(f"tunesmith {' '.join(r['argv']):<12} rc={r['rc']!s:<4} {r['seconds']:>6.1f} s"
                  f"{'  TRACEBACK' if r['traceback'] else ''}{'  HANG' if r['hang'] else ''}  "
                  f"{(r['tail'] or [''])[-1][:100]}", flush=True)
        result = {"entries": entries, **counted, "runs": runs,
                  "tracebacks": sum(r["traceback"] for r in runs), "hangs": sum(r["hang"] for r in runs),
                  "failed": sum(r["rc"] not in (0, None) for r in runs)}
        print(f"\n{result['tracebacks']} tracebacks, {result['hangs']} hangs, "
              f"{len(counted['silent'])} dropped without a reason, {result['failed']} runs failed")
        for where in counted["silent"][:20]:
            print(f"  dropped without a reason: {where}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
