"""Is a piece valid? Parse, bar lengths, abc2midi's opinion, and the piece's vital figures.

A piece is valid when music21 parses it into at least one note, no bar is
longer or shorter than its time signature allows, and (for ABC, where
abc2midi is installed) abc2midi reports no error. Bars are read as musicians
read them: a short first bar is a pickup, a short last bar completes it, and
short bars at repeat signs, double bars and first/second endings are the two
halves of one bar split by the repeat.

The music21 parse runs in a worker process (`tunesmith.worker`, the job "check"
registered here), so a piece that hangs or crashes the parser is one invalid
piece, not a dead command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunesmith import atomic, log, render
from tunesmith.notation import abc, abc_readers
from tunesmith.notation.scores import ReaderSettings, read_parts
from tunesmith.worker import Worker, register_job, using


@dataclass
class Report:
    piece: str
    valid: bool
    reasons: list[str] = field(default_factory=list)
    notes: int = 0
    lowest: str | None = None
    highest: str | None = None
    bars: int = 0
    bars_too_long: int = 0
    bars_too_short: int = 0
    seconds: float = 0.0
    abc2midi_errors: int | None = None     # None: not ABC, or abc2midi not installed
    abc2midi_warnings: int | None = None
    path: str | None = None                # the file it came from
    melody: list | None = field(default=None, repr=False)   # (pitch, duration) of the melody, as the
                                                            # copy guard's corpus index reads it

    def to_json(self) -> dict:
        data = asdict(self)
        del data["melody"]
        return data


def _split_bar(measure) -> bool:
    """A bar that may be short: it touches a repeat sign, a double or final bar, or an ending bracket."""
    # music21 is imported where used: it costs about a second at start-up
    from music21 import bar

    for line in (measure.leftBarline, measure.rightBarline):
        if isinstance(line, bar.Repeat):
            return True
        if line is not None and getattr(line, "type", None) in ("double", "final", "light-light", "light-heavy",
                                                                  "heavy-light"):
            return True
    return any(type(s).__name__ == "RepeatBracket" for s in measure.getSpannerSites())


def bar_figures(score) -> tuple[int, int, int]:
    """(bars, too long, too short) over all parts, with pickups and split bars allowed."""
    total = long = short = 0
    for part in score.parts or [score]:
        measures = list(part.getElementsByClass("Measure"))
        own = [m.timeSignature for m in measures]
        # music21 (its ABC reader's reBar) cuts a bar longer than its time signature in two: the piece
        # cut off gets a time signature of its own, and the bar after it the one in force again, the
        # same object as before: the piece cut off is counted as one bar too long
        cut = {i - 1 for i in range(2, len(measures)) if own[i] is not None and any(own[i] is t for t in own[:i - 1])}
        for i, m in enumerate(measures):
            # a bar is read in its own time signature, where it has one (a change of meter), else in
            # the one before it (not the first bar's own: a piece's first bar is its header's)
            ts = (own[i] if i else None) or m.getContextByClass("TimeSignature")
            if ts is None:
                continue
            total += 1
            if i in cut:
                long += 1
                continue
            expected = ts.barDuration.quarterLength
            actual = m.duration.quarterLength
            if actual > expected + 1e-6:
                long += 1
            elif actual < expected - 1e-6:
                neighbours = [measures[j] for j in (i - 1, i + 1) if 0 <= j < len(measures)]
                allowed = i == 0 or i == len(measures) - 1 or _split_bar(m) or any(_split_bar(n) for n in neighbours)
                short += not allowed
    return total // max(len(score.parts) or 1, 1), long, short


@register_job("check")
def _check_job(piece: render.Piece, fmt: str, out_dir: Path) -> dict:
    """Runs in the worker: parse and measure."""
    # music21 is imported where used: it costs about a second at start-up
    from music21 import harmony, tempo

    score = render.score_of(piece)
    # chord symbols ("Am" over a folk tune) are accompaniment names, not notes of the piece
    notes = [n for n in score.recurse().notes if not isinstance(n, harmony.ChordSymbol)]
    pitches = [p for n in notes for p in n.pitches]
    bars, long, short = bar_figures(score)
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = marks[0].getQuarterBPM() if marks and marks[0].number else 120.0
    low = min(pitches, key=lambda p: p.ps) if pitches else None
    high = max(pitches, key=lambda p: p.ps) if pitches else None
    try:    # the melody the way the corpus index was read (scores.read_parts), for the copy guard
        melody = [(p, d) for p, _, d in read_parts(score, piece.name, ReaderSettings("melody"))[0].melody()]
    except Exception:  # noqa: BLE001 - no melody: the guard has nothing to compare
        melody = None
    return {"melody": melody, "notes": len(notes), "lowest": low.nameWithOctave if low else None,
            "highest": high.nameWithOctave if high else None, "bars": bars, "bars_too_long": long,
            "bars_too_short": short, "seconds": round(float(score.highestTime) * 60.0 / qpm, 2)}


def abc2midi(text: str, timeout: float = 30) -> tuple[int, int, list[str]] | None:
    """(errors, warnings, messages) from abc2midi, or None when it is not installed."""
    exe = shutil.which("abc2midi")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tune.abc"
        src.write_text(text, encoding="utf-8")
        try:
            run = subprocess.run([exe, str(src), "-o", str(Path(tmp) / "tune.mid")], capture_output=True,
                                 text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            return 1, 0, [f"abc2midi did not finish within {timeout:g} s"]
    lines = [ln.strip() for ln in (run.stdout + run.stderr).splitlines()]
    errors = [ln for ln in lines if re.match(r"^Error", ln)]
    warnings = [ln for ln in lines if re.match(r"^Warning", ln)]
    return len(errors), len(warnings), errors + warnings


def check(files: list[str | Path], timeout: float = 60.0, show_progress: bool = True,
          worker: Worker | None = None) -> list[Report]:
    """Check every piece of every file. `worker`: a running Worker (render.Worker) to use (and leave
    running), else one is started for this call."""
    reports: list[Report] = []
    jobs = []
    for f in files:
        try:
            jobs += [(str(f), piece) for piece in render.pieces_of(f)]
        except Exception as exc:  # unreadable or unknown file: one invalid entry, the rest go on
            reports.append(Report(str(f), False, [str(exc)], path=str(f)))
    if any(p.kind == "abc" for _, p in jobs) and shutil.which("abc2midi") is None:
        log.warn("abc2midi is not installed (Debian package abcmidi): ABC pieces are checked without it")
    bar = log.progress(len(jobs), "checking", unit="piece") if show_progress and len(jobs) > 1 else None
    try:
        with using(worker, timeout) as worker:
            for path, piece in jobs:
                reports.append(_check_piece(worker, path, piece, timeout))
                if bar is not None:
                    bar.update(1)
    finally:   # the bar's last line comes before what Ctrl-C prints
        if bar is not None:
            bar.close()
    return reports


def _check_piece(worker: Worker, path: str, piece: render.Piece, timeout: float) -> Report:
    """One piece's report: music21's reading in the worker, abc2midi's here."""
    ok, value = worker.run(piece, "check", Path("."), timeout)
    report = Report(piece.name, True, path=path)
    if not ok:
        report.valid = False
        report.reasons.append(f"music21 cannot read it: {value}")
    else:
        for k, v in value.items():
            setattr(report, k, v)
        if report.notes == 0:
            report.reasons.append("no notes")
        if report.bars_too_long:
            report.reasons.append(f"{report.bars_too_long} bars longer than the time signature")
        if report.bars_too_short:
            report.reasons.append(f"{report.bars_too_short} bars shorter than the time signature")
    if piece.kind == "abc" and piece.text is not None:
        for problem in (abc.rhythm_problem(piece.text), abc.chord_problem(piece.text),
                        abc_readers.text_problem(piece.text)):
            if problem:
                report.reasons.append(problem)
        found = abc2midi(piece.text)
        if found is not None:
            report.abc2midi_errors, report.abc2midi_warnings, messages = found
            if report.abc2midi_errors:
                report.reasons.append(f"abc2midi: {messages[0]}")
            elif problem := abc_readers.abc2midi_problem(messages, piece.text):
                report.reasons.append(problem)
    report.valid = not report.reasons
    return report


CAPPED = "tunesmith: cut at the max-length cap"   # no "--": XML comments may not hold it
OLD_CAPPED = "tunesmith: cut at --max-length"      # the mark of tunesmith 0.1 text files


def mark_capped(text: str, extension: str) -> str:
    """Say in a sampled file (as a comment its readers skip) that the model did not end the piece."""
    if extension == ".abc":
        return text.rstrip("\n") + f"\n% {CAPPED}\n"
    if extension == ".krn":
        return text.rstrip("\n") + f"\n!! {CAPPED}\n"
    if extension == ".musicxml" and text.startswith("<?xml"):
        head, _, rest = text.partition("?>")
        return f"{head}?>\n<!-- {CAPPED} -->{rest}"
    return text


def is_capped(path: str | Path) -> bool:
    """Whether `sample` marked this file as cut at the length cap."""
    data = Path(path).read_bytes()
    return CAPPED.encode() in data or OLD_CAPPED.encode() in data


SAMPLE_TIMEOUT = 10.0   # seconds: a sampled piece music21 needs longer for is rejected, not waited for


def check_texts(texts: list[str], extension: str, timeout: float = SAMPLE_TIMEOUT,
                worker: Worker | None = None) -> list[Report]:
    """The check of each piece of text (a complete file, one piece each). Meant for sampled pieces:
    one that takes music21 longer than `timeout` to read (garbage can take minutes) fails."""
    with atomic.temporary_files(texts, extension) as paths:
        reports = check(paths, timeout=timeout, show_progress=False, worker=worker)
    if len(reports) != len(texts):   # a text that held several pieces: judge it by its first
        by_path = {}
        for r in reports:
            by_path.setdefault(r.path, r)
        reports = [by_path.get(str(p), Report(str(p), False, ["no piece in it"], path=str(p))) for p in paths]
    return reports


def valid_texts(texts: list[str], extension: str, timeout: float = SAMPLE_TIMEOUT,
                worker: Worker | None = None) -> list[bool]:
    """Whether each piece of text (a complete file) passes the check (see check_texts)."""
    return [r.valid for r in check_texts(texts, extension, timeout, worker)]
