"""`tunesmith continue` on held-out tunes cut in the middle of a bar: does each output begin with the
user's text unchanged, and does it pass `tunesmith check`?

    python benchmarks/continue_goal.py runs/nott -n 20 --seed 1 [--adapt]

The tunes are the run's validation split (run.json; never trained on) that pass `check` as they are,
as their books write them (in their own unit note length, whatever unit the model reads in).
Each is cut after the first note of the first bar that begins past the middle of its body (so the
cut bar is unfinished), written to a file, and continued once by the CLI, as a user would.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tunesmith import check
from tunesmith.codecs import CodecOptions
from tunesmith.corpus import load

NOTE_TAIL = set(",'/0123456789")


def cut_mid_bar(text: str) -> str | None:
    """The tune up to just after the first note of the first bar that begins past its body's middle."""
    lines = text.splitlines(keepends=True)
    key_line = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if key_line is None:
        return None
    head = "".join(lines[:key_line + 1])
    body = "".join(lines[key_line + 1:])
    bar = body.find("|", len(body) // 2)
    while bar >= 0:
        at = bar + 1
        while at < len(body) and body[at] in "|:]1234 \"":
            if body[at] == '"':      # a chord symbol
                at = body.find('"', at + 1)
                if at < 0:
                    return None
            at += 1
        while at < len(body) and body[at] in "^_=":
            at += 1
        if at < len(body) and body[at] in "ABCDEFGabcdefg":     # a plain note starts the bar
            at += 1
            while at < len(body) and body[at] in NOTE_TAIL:
                at += 1
            return head + body[:at]
        bar = body.find("|", at)
    return None


def _key(name: str) -> tuple[str, str]:
    """A piece's file name (without its folder, which a run records as it was given) and its tune."""
    path, _, tune = name.partition("#")
    return Path(path).name, tune


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run folder with run.json (its validation split is used)")
    ap.add_argument("-n", type=int, default=20, help="tunes to continue")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--temperature", type=float, help="default the model card's")
    ap.add_argument("--adapt", action="store_true", help="continue with --adapt (the model learns each tune first)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keep", help="a folder to keep the cut tunes and their continuations in")
    args = ap.parse_args()
    split = json.loads((Path(args.run) / "run.json").read_text())["split"]["valid"]
    files = sorted({name.split("#")[0] for name in split})
    wanted = {_key(name) for name in split}
    # the tunes as their books write them (L:1/4 mostly), not in the unit a model reads them in: the
    # continuation is to come back in the person's own unit
    as_written = CodecOptions(unit_length="as-written")
    pieces = [p for p in load(files, options=as_written, show_progress=False).pieces if _key(p.name) in wanted]
    reports = check.check_texts([p.text for p in pieces], ".abc")
    valid = [p for p, r in zip(pieces, reports) if r.valid]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for piece in valid:
            if len(rows) == args.n:
                break
            primer = cut_mid_bar(piece.text)
            if primer is None:
                continue
            path = Path(tmp) / f"tune{len(rows) + 1:02d}.abc"
            path.write_text(primer, encoding="utf-8")
            out = Path(tmp) / "out"
            command = [sys.executable, "-m", "tunesmith", "continue", str(path), "-m", args.run,
                       "--seed", str(args.seed), "-o", str(out)]
            if args.temperature is not None:
                command += ["--temperature", str(args.temperature)]
            if args.adapt:
                command.append("--adapt")
            done = subprocess.run(command, capture_output=True, text=True)
            written = sorted(out.glob(f"{path.stem}-continued-*.abc"))
            text = written[-1].read_text(encoding="utf-8") if written else ""
            report = check.check_texts([text], ".abc")[0] if text else None
            rows.append({"tune": piece.name, "kept": text.startswith(primer),
                         "valid": bool(report and report.valid),
                         "reasons": (report.reasons if report else [done.stderr.strip()[-200:]]),
                         "cut": primer[-30:]})
            mark = "ok" if rows[-1]["kept"] and rows[-1]["valid"] else "FAIL"
            print(f"{mark:4} {_key(piece.name)[1][:40]:40} kept={rows[-1]['kept']} valid={rows[-1]['valid']} "
                  f"{'; '.join(rows[-1]['reasons'])[:90]}")
    kept = sum(r["kept"] for r in rows)
    passed = sum(r["kept"] and r["valid"] for r in rows)
    print(f"{len(rows)} tunes cut mid-bar: {kept} begin with the user's text unchanged, "
          f"{passed} of {len(rows)} also pass check")
    if args.json:
        Path(args.json).write_text(json.dumps({"tunes": rows, "kept": kept, "passed": passed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
