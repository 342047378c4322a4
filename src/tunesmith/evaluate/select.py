"""Which checkpoint? Validation loss plus a small judged sample for each checkpoint of a run.

The seed experiments saved plots every 50 epochs to guess the epoch before a
model "simply copies the original music". Here each checkpoint samples a few
pieces (same seed for all), which are checked for validity and measured
against the index of the training corpus. The recommended checkpoint has the
lowest validation loss among those whose samples copy nothing; it is written
to `select.json` in the run folder, and `sample RUN` uses it from then on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tunesmith import TunesmithError, atomic, bundle, check, log, render, sample
from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY, INDEX_FILE, NoveltyIndex
from tunesmith.evaluate.verdict import judge_report

SELECT_FILE = bundle.SELECT_FILE


@dataclass
class Row:
    checkpoint: str
    step: int
    val_bits: float | None
    valid: int
    copies: int
    longest_copy: int
    pieces: int
    recommended: bool = False


def checkpoints_of(run_dir: Path, limit: int) -> list[Path]:
    found = sorted(p for p in (run_dir / "checkpoints").glob("step-*") if (p / "config.json").exists())
    if not found:
        raise TunesmithError(f"'{run_dir}' has no checkpoints (checkpoints/step-N/): is it a training run?")
    if len(found) > limit:   # evenly spaced, always with the last
        picks = {round(i * (len(found) - 1) / (limit - 1)) for i in range(limit)}
        found = [found[i] for i in sorted(picks)]
    return found


def select(run_dir: str | Path, n: int = 8, seed: int = 1, max_copy: int = DEFAULT_MAX_COPY,
           limit: int = 20, max_length: int = 3000, show_progress: bool = True) -> list[Row]:
    run_dir = Path(run_dir)
    if not 1 <= n <= 100:
        raise TunesmithError(f"-n must be between 1 and 100 pieces per checkpoint, not {n}")
    if limit < 2:
        raise TunesmithError(f"--limit must be at least 2, not {limit}")
    rows: list[Row] = []
    paths = checkpoints_of(run_dir, limit)
    # every checkpoint of a run carries the same corpus index: load (and hash) it once
    with_index = next((p for p in paths if (p / INDEX_FILE).exists()), None)
    index = NoveltyIndex.load(with_index) if with_index is not None else None
    bar = log.progress(len(paths), "judging checkpoints", unit="checkpoint") if show_progress else None
    # one render worker for every checkpoint: it checks each piece and reads its melody for the index
    with render.Worker() as worker:
        for path in paths:
            loaded = bundle.load(path)
            pieces = sample.generate(loaded.model, loaded.codec, n=n, seed=seed, max_length=max_length)
            texts = [loaded.codec.finish(p.text, i + 1) for i, p in enumerate(pieces)]
            reports = check.check_texts(texts, loaded.codec.extension, worker=worker)
            verdicts = [judge_report(r, index, max_copy) for r in reports]
            rows.append(Row(path.name, int(loaded.card.get("step", 0)), loaded.card.get("val_bits"),
                            sum(v.valid for v in verdicts), sum(v.copy for v in verdicts),
                            max((v.longest_copy for v in verdicts), default=0), n))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if index is None:
        log.warn("the checkpoints have no index of the training corpus: copies cannot be counted "
                 "(trained with --no-copy-index?)")
    candidates = [r for r in rows if r.copies == 0 and r.val_bits is not None] or \
                 [r for r in rows if r.val_bits is not None] or rows
    best = min(candidates, key=lambda r: (r.val_bits if r.val_bits is not None else float("inf"), -r.step))
    best.recommended = True
    atomic.write_text(run_dir / SELECT_FILE, json.dumps(
        {"recommended": f"checkpoints/{best.checkpoint}", "max_copy": max_copy, "samples_per_checkpoint": n,
         "seed": seed, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    plot(rows, run_dir / "select.png")
    return rows


def plot(rows: list[Row], path: Path) -> None:
    from io import BytesIO

    # matplotlib is imported where used: it takes a while and only the plot needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [r.step for r in rows]
    fig = Figure(figsize=(9, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, [r.val_bits for r in rows], marker=".", label="validation bits/token")
    ax.set_xlabel("step")
    ax.set_ylabel("validation bits per token")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(steps, [r.valid / r.pieces for r in rows], marker="s", color="C2", label="valid share")
    right.plot(steps, [r.copies / r.pieces for r in rows], marker="x", color="C3", label="copied share")
    right.set_ylabel("share of sampled pieces")
    right.set_ylim(-0.05, 1.05)
    chosen = next(r for r in rows if r.recommended)
    ax.axvline(chosen.step, color="0.5", linestyle="--", label=f"recommended: step {chosen.step}")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    ax.set_title("checkpoints: loss, validity and copying of their samples")
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    atomic.write_bytes(path, buffer.getvalue())
