"""Training runs killed with SIGKILL at random moments, then resumed: does every resume work, and
does metrics.jsonl keep one row per step, in order?

    python benchmarks/hostile_runs.py              # 10 kills
    python benchmarks/hostile_runs.py --kills 20 --seed 3

A tiny model trains on a small generated ABC book with a checkpoint (and a
metrics row and a plot) every 2 steps, so that kills land in every part of a
report: writing metrics.jsonl, the plot, checkpoints/step-N, last/, best/.
Each run is `python -m tunesmith train` in its own process; once it says it
trains ("model: ..."; a resumed one first says "resuming RUN at step N", or
that it starts again when the kill came before its first checkpoint), it is
killed after a random 0.2-2 s, and the next one resumes it. A last resume runs
to its end. Prints "K/K resumed, D duplicated metric rows" and the steps the
kills hit; tests/test_hardening_runs.py runs five kills of the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SHAPE = ["--layers", "1", "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "32",
         "--eval-every", "2", "--preview-length", "10", "--no-copy-index"]
TRAINING = ("model: ",)                                             # a new run has started training
RESUMED = ("resuming ", "holds no checkpoint: starting it again")  # a resume has got that far


@dataclass
class Outcome:
    kills: int = 0
    resumes: int = 0            # resumes started (each one killed in turn, and the last)
    resumed: int = 0            # of them, those that resumed (or started again) and trained on
    failures: list[str] = field(default_factory=list)
    killed_at: list[int] = field(default_factory=list)   # the step of last/ after each kill
    steps: list[int] = field(default_factory=list)       # metrics.jsonl's steps at the end
    final_status: int | None = None

    @property
    def duplicated(self) -> int:
        return len(self.steps) - len(set(self.steps))

    @property
    def increasing(self) -> bool:
        return all(a < b for a, b in zip(self.steps, self.steps[1:]))


def corpus(folder: Path) -> Path:
    tunes = [f"X: {i + 1}\nT:Tune {i}\nM:4/4\nK:{'GDACE'[i % 5]}\n"
             + "|".join(["GABc dedB", "A2FA dAFA", "d2fd cAGF", "GEFD E2D2"][(i + j) % 4] for j in range(4)) + "|]\n"
             for i in range(12)]
    path = folder / "book.abc"
    path.write_text("\n".join(tunes))
    return path


def start(book: Path, run: Path, log_path: Path, resume: bool, steps: int) -> subprocess.Popen:
    args = ["--out", str(run), "--steps", str(steps)]
    args += ["--resume"] if resume else ["--corpus", str(book), *SHAPE]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESMITH_CACHE": str(run.parent / "cache")}
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "tunesmith", "train", *args], stdout=log, stderr=log, env=env)


def wait_for(proc: subprocess.Popen, log_path: Path, words: tuple[str, ...], timeout: float = 120) -> bool:
    """Until the run's output has one of `words` (True) or it ends (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(w in log_path.read_text(errors="replace") for w in words):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def checkpoint_step(run: Path) -> int:
    try:
        return json.loads((run / "last" / "trainer.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return 0


def metric_steps(run: Path) -> list[int]:
    """The steps of metrics.jsonl's rows as the file holds them (a torn line counts as none)."""
    steps = []
    path = run / "metrics.jsonl"
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            pass
    return steps


def hostile_run(folder: Path, kills: int, seed: int = 1, delay: tuple[float, float] = (0.2, 2.0)) -> Outcome:
    """Train, kill -9, resume, `kills` times; then a last resume to 6 steps past its checkpoint."""
    rng = random.Random(seed)
    book, run, outcome = corpus(folder), folder / "run", Outcome()
    for i in range(kills + 1):
        last = i == kills
        log_path = folder / f"run-{i}.log"
        proc = start(book, run, log_path, resume=i > 0, steps=checkpoint_step(run) + 6 if last else 100_000)
        outcome.resumes += i > 0
        going = wait_for(proc, log_path, RESUMED if i > 0 else TRAINING)
        if i > 0 and going:
            going = wait_for(proc, log_path, TRAINING)
        if last:
            outcome.final_status = proc.wait(timeout=300)
            going = going and outcome.final_status == 0
        elif going:
            time.sleep(rng.uniform(*delay))
            going = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            outcome.kills += 1
            outcome.killed_at.append(checkpoint_step(run))
        text = log_path.read_text(errors="replace")
        if "Traceback" in text or not going:
            outcome.failures.append(f"run {i}: status {proc.returncode}: {text.strip()[-600:]}")
        elif i > 0:
            outcome.resumed += 1
    outcome.steps = metric_steps(run)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="seed of the moments of the kills")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        outcome = hostile_run(Path(tmp), args.kills, args.seed)
    print(f"{outcome.resumed}/{outcome.resumes} resumed, {outcome.duplicated} duplicated metric rows "
          f"({outcome.kills} kills; last/ at steps {outcome.killed_at}; metrics steps "
          f"{'strictly increasing' if outcome.increasing else 'NOT increasing'}, {len(outcome.steps)} rows)")
    for failure in outcome.failures:
        print("failed: " + failure)
    ok = not outcome.failures and outcome.duplicated == 0 and outcome.increasing and outcome.final_status == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
