"""Judge generated pieces against a training corpus: valid? new? like the corpus? collapsed?

    validity   `check` (parse, bar lengths, abc2midi for ABC)
    novelty    the longest run of consecutive notes shared with a corpus piece, and which
               (`novelty.py`); over `max_copy` notes a piece is flagged as a copy
    likeness   pitch-class, interval, note-length and inter-onset histograms, pitch range,
               pitch-class entropy, scale consistency: generated vs corpus (`stats.py`)
    collapse   share of the most frequent pitch, longest repeated note, pieces cut at the
               length cap

Pieces and the corpus are read as melodies through the score reader (its
parse cache makes the corpus cheap after the first time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tunesmith import TunesmithError, check, corpus, log
from tunesmith.notation import scores
from tunesmith.evaluate import stats
from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY, NoveltyIndex
from tunesmith.evaluate.verdict import Verdict


@dataclass
class Judged:
    rows: list[dict]          # one per piece
    summary: dict
    comparison: dict          # the likeness statistics (stats.compare)


def corpus_melodies(spec: list[str], show_progress: bool = True) -> list[tuple[str, list]]:
    """Every melody of a corpus (named, files, folders, globs), read through the parse cache."""
    _, _, files, _ = corpus.resolve(spec, codec="events")
    melodies, skipped = scores.read_melodies(files, show_progress)
    if skipped:
        log.warn(f"{len(skipped)} corpus files could not be read, e.g. {skipped[0][0]}: {skipped[0][1]}")
    named = [item for items in melodies.values() for item in items]
    if not named:
        raise TunesmithError(f"no melodies in the corpus {' '.join(spec)}")
    return named


def _short(source: str | None) -> str:
    """A corpus piece's name without its folders: 'book.abc#X12 Title'."""
    if not source:
        return ""
    path, _, rest = source.partition("#")
    return Path(path).name + (f"#{rest}" if rest else "")


def judge(samples: list[str], corpus_spec: list[str], max_copy: int = DEFAULT_MAX_COPY,
          intervals: bool = False, timeout: float = 60.0, show_progress: bool = True) -> Judged:
    if not 1 <= max_copy <= 10000:
        raise TunesmithError(f"--max-copy must be between 1 and 10000 notes, not {max_copy}")
    paths = [Path(s) for s in samples]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise TunesmithError(f"no such file: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    started = time.perf_counter()
    reference = corpus_melodies(corpus_spec, show_progress)
    index = NoveltyIndex.from_pieces([(name, [(p, d) for p, _, d in notes]) for name, notes in reference])
    index._build(intervals)
    index_seconds = time.perf_counter() - started

    started = time.perf_counter()
    reports = check.check(paths, timeout=timeout, show_progress=show_progress)
    melodies, _ = scores.read_melodies(paths, show_progress=False)
    by_file: dict[str, list] = {}
    for report in reports:
        by_file.setdefault(report.path, []).append(report)
    rows, generated = [], []
    for path in paths:
        capped = check.is_capped(path)
        file_reports = by_file.get(str(path), [])
        file_melodies = melodies.get(str(path), [])
        for k in range(max(len(file_reports), len(file_melodies))):
            report = file_reports[k] if k < len(file_reports) else None
            notes = file_melodies[k][1] if k < len(file_melodies) else []
            match = index.longest_match([(p, d) for p, _, d in notes], intervals=intervals)
            verdict = Verdict(bool(report and report.valid), match.length, max_copy)
            rows.append({
                "piece": report.piece if report else f"{path.stem}-{k + 1}",
                "valid": verdict.valid,
                "reasons": "; ".join(report.reasons) if report else "music21 could not read it",
                "notes": len(notes),
                "longest_copy": match.length,
                "copied_from": _short(match.source),
                "copy": verdict.copy,
                "top_pitch_share": round(stats.top_pitch_share(notes), 3),
                "longest_repeat": stats.longest_repeat(notes),
                "capped": capped,
            })
            generated.append(notes)
    comparison = stats.compare(generated, [notes for _, notes in reference])
    judge_seconds = time.perf_counter() - started
    n = len(rows)
    runs = sorted(r["longest_copy"] for r in rows)
    summary = {
        "pieces": n,
        "valid": sum(r["valid"] for r in rows),
        "valid_share": round(sum(r["valid"] for r in rows) / n, 3) if n else None,
        "copies": sum(r["copy"] for r in rows),
        "max_copy": max_copy,
        "transposition_invariant": intervals,
        "median_longest_copy": runs[n // 2] if n else None,
        "max_longest_copy": runs[-1] if n else None,
        "mean_top_pitch_share": round(sum(r["top_pitch_share"] for r in rows) / n, 3) if n else None,
        "collapsed": sum(r["top_pitch_share"] > 0.5 for r in rows),
        "max_longest_repeat": max((r["longest_repeat"] for r in rows), default=0),
        "capped_share": round(sum(r["capped"] for r in rows) / n, 3) if n else None,
        "corpus_melodies": len(index),
        "corpus_notes": index.notes,
        "index_seconds": round(index_seconds, 2),
        "judge_seconds": round(judge_seconds, 2),
    }
    return Judged(rows, summary, comparison)
