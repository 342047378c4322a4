"""Every command that writes, against targets that refuse: a read-only folder, a path that is a
file, a full disk. Counts tracebacks and partial files left behind (the goal: 0 and 0), and runs
that did not end in one `error:` line with exit status 2 (`render` may instead report each piece's
failure and exit 1, as it does for any failed piece).

    python benchmarks/hostile_writes.py
    python benchmarks/hostile_writes.py --commands sample,export --targets readonly,full --json /tmp/hw.json

Read-only and full-disk targets are tmpfs mounts in a private mount namespace (`unshare -rm`, which
needs no privileges where user namespaces are allowed), so they fail as real ones do (EROFS,
ENOSPC) even for root, and nothing outside this run sees them. Without unshare a read-only target
is a folder with mode 555 (which does not stop root) and the full disk is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TUNE = "X:{n}\nT:Tune {n}\nM:4/4\nL:1/8\nK:G\nGABc dedB|A2FA dAFA|d2fd cAGF|GEFD E2D2|]\n"
TINY = ["--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "2", "--seq-len", "16",
        "--eval-every", "2", "--preview-length", "5", "--no-copy-index"]
COMMANDS = ("train", "sample", "compose", "render", "export")
TARGETS = ("readonly", "file", "full")
PARTIAL_MARKS = (".tmp", ".old-")


def command(name: str, out: Path, under_file: Path, work: Path) -> list[str]:
    """The command line of `name` writing to `out` (an existing folder or file), or, for export
    (which writes a new folder), to a path inside `out` or `under_file`."""
    if name == "train":
        return ["train", "--corpus", str(work / "corpus"), "--out", str(out / "run"), "--steps", "2", *TINY]
    if name == "sample":
        return ["sample", "folk", "-n", "1", "--max-length", "20", "--max-copy", "off", "--seed", "1",
                "--device", "cpu", "-o", str(out)]
    if name == "compose":
        return ["compose", "--style", "folk", "-n", "1", "--any", "--to", "", "--max-length", "20", "--seed", "1",
                "--device", "cpu", "-o", str(out)]
    if name == "render":
        return ["render", str(work / "tune.abc"), "--to", "midi,musicxml", "-o", str(out)]
    return ["export", "folk", "--out", str(under_file / "model")]


def _entries(root: Path) -> dict[str, int]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            try:
                found[str(path)] = -1 if path.is_dir() else path.lstat().st_size
            except OSError:
                pass
    return found


def partial(path: str, size: int) -> bool:
    name = Path(path).name
    return size == 0 or any(mark in name for mark in PARTIAL_MARKS)


def run_one(name: str, target: str, root: Path, work: Path, timeout: float) -> dict:
    """One command against one target; what it printed and what it left in the target."""
    if target == "file":
        out = under = root / "afile"
    else:
        out, under = root, root
    before = _entries(root)
    argv = [sys.executable, "-m", "tunesmith", *command(name, out, under, work)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESMITH_CACHE": str(work / "cache")}
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=work)
        rc, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, err = None, (exc.stderr or b"").decode("utf-8", "replace") if isinstance(exc.stderr, bytes) \
            else (exc.stderr or "")
    seconds = time.perf_counter() - started
    after = _entries(root)
    new = {p: s for p, s in after.items() if p not in before}
    for path in sorted(new, key=len, reverse=True):   # leave the target as it was for the next run
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else Path(path).unlink(missing_ok=True)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    one_line = rc == 2 and len(errors) == 1 or (name == "render" and rc == 1 and not errors)
    return {"command": name, "target": target, "rc": rc, "hang": rc is None, "seconds": round(seconds, 1),
            "traceback": "Traceback" in err, "errors": errors, "one_line": one_line and "Traceback" not in err,
            "left": sorted(new), "partial": sorted(p for p, s in new.items() if partial(p, s)),
            "tail": err.strip().splitlines()[-3:]}


def _fill(folder: Path) -> None:
    """Fill the file system of `folder` until it has no space left."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def make_targets(base: Path, wanted: list[str], namespace: bool) -> dict[str, Path]:
    roots = {}
    for target in wanted:
        root = base / target
        root.mkdir()
        if target == "readonly":
            if namespace:
                subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(root)], check=True)
            else:
                root.chmod(0o555)
        elif target == "full":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(root)], check=True)
            _fill(root)
        else:
            (root / "afile").write_text("a file where a folder should be\n")
        roots[target] = root
    return roots


def prepare(work: Path) -> None:
    (work / "corpus").mkdir()
    for n in range(1, 9):
        (work / "corpus" / f"tune-{n}.abc").write_text(TUNE.format(n=n).replace("GABc", "GAB" + "cdefgabc"[n - 1]))
    (work / "tune.abc").write_text(TUNE.format(n=1))


def run_all(commands: list[str], targets: list[str], namespace: bool, timeout: float) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="tunesmith-hostile-writes-"))
    try:
        prepare(work)
        if not namespace and "full" in targets:
            print("no private mount namespace here (unshare): the full-disk target is left out", file=sys.stderr)
            targets = [t for t in targets if t != "full"]
        (work / "targets").mkdir()
        roots = make_targets(work / "targets", targets, namespace)
        rows = []
        for target in targets:
            for name in commands:
                row = run_one(name, target, roots[target], work, timeout)
                rows.append(row)
                print(f"{name:<8} {target:<9} rc={row['rc']!s:<4} {row['seconds']:>6.1f} s  "
                      f"{'TRACEBACK ' if row['traceback'] else ''}{len(row['partial'])} partial  "
                      f"{(row['errors'] or row['tail'] or [''])[0][:110]}", flush=True)
        return rows
    finally:
        for target in ("readonly", "full"):
            subprocess.run(["umount", str(work / "targets" / target)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def summary(rows: list[dict]) -> dict:
    return {"runs": len(rows), "tracebacks": sum(r["traceback"] for r in rows),
            "partial_files": sum(len(r["partial"]) for r in rows), "hangs": sum(r["hang"] for r in rows),
            "not_one_error_line": sum(not r["one_line"] for r in rows)}


def can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--timeout", type=float, default=600, help="seconds a run may take before it counts as a hang")
    ap.add_argument("--json", help="write the runs and the counts here")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)   # already in the namespace
    args = ap.parse_args()
    if not args.inside and can_unshare():
        os.execvp("unshare", ["unshare", "-rm", sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--inside"])
    commands = [c for c in args.commands.split(",") if c]
    targets = [t for t in args.targets.split(",") if t]
    rows = run_all(commands, targets, args.inside, args.timeout)
    counts = summary(rows)
    print(f"\n{counts['runs']} runs: {counts['tracebacks']} tracebacks, {counts['partial_files']} partial files, "
          f"{counts['hangs']} hangs, {counts['not_one_error_line']} not ending in one error line")
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
