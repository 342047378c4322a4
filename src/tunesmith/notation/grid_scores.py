"""Scores of any format music21 reads (MusicXML, MIDI, **kern, ABC) → grid pieces (notation/grid.py):
one voice per part, or the sounding pitches of all; and one part of a score as a melody to harmonize."""

from __future__ import annotations

import hashlib
import json
import warnings
from fractions import Fraction
from pathlib import Path

from tunesmith import TunesmithError
from tunesmith.notation.grid import HELD, MAX_STEPS, REST, GridPiece, is_onset, pitch_of, steps_per_bar

def _quantized(x, step: Fraction) -> int:
    return round(Fraction(x).limit_denominator(96) / step)


def _raw_notes(part) -> list[tuple[int, Fraction, Fraction, bool]]:
    """A part's notes as (pitch, offset, length in quarters, fermata), tied notes joined: the top note
    of a chord. (Ties are followed here: music21's stripTies costs minutes on a long movement.)"""
    # music21 is imported where used: it costs about a second at start-up
    from music21 import chord, expressions, note

    out: list[list] = []
    tied: dict[int, int] = {}          # pitch → the note a tie from it continues
    for el in part.flatten().notes:
        if el.duration.isGrace or el.quarterLength <= 0:
            continue
        if isinstance(el, note.Note):
            pitch, tie = el.pitch.midi, el.tie
        elif isinstance(el, chord.Chord):
            top = max(el.notes, key=lambda n: n.pitch.midi)
            pitch, tie = top.pitch.midi, top.tie or el.tie
        else:
            continue
        offset, length = Fraction(el.offset).limit_denominator(960), Fraction(el.quarterLength).limit_denominator(960)
        kind = tie.type if tie is not None else None
        held = tied.get(pitch)
        if kind in ("stop", "continue") and held is not None and out[held][1] + out[held][2] == offset:
            out[held][2] += length
            if kind == "stop":
                del tied[pitch]
            continue
        out.append([pitch, offset, length, any(isinstance(x, expressions.Fermata) for x in el.expressions)])
        if kind in ("start", "continue"):
            tied[pitch] = len(out) - 1
        else:
            tied.pop(pitch, None)
    return [tuple(n) for n in out]


def _voice_notes(part, step: Fraction, span: tuple | None = None, memo: dict | None = None
                 ) -> tuple[list[tuple[int, int, int]], set[int]]:
    """A part → its notes as (pitch, first step, end step) (the top note of a chord) and the steps
    where a note with a fermata starts; with `span` (start, end in quarters) only the notes that start
    in it, cut at its end. `memo` keeps each part's notes for the next span of the same score."""
    raw = memo.get(id(part)) if memo is not None else None
    if raw is None:
        raw = _raw_notes(part)
        if memo is not None:
            memo[id(part)] = raw
    notes, fermatas = [], set()
    for pitch, offset, length, fermata in raw:
        if span is not None:
            if not span[0] <= offset < span[1]:
                continue
            length = min(length, span[1] - offset)
        start = _quantized(offset, step)
        notes.append((pitch, start, max(start + 1, _quantized(offset + length, step))))
        if fermata:
            fermatas.add(start)
    return notes, fermatas


def sections(score) -> list[tuple[Fraction, Fraction | None, str | None]]:
    """A score's stretches in one metre, as (start, end or None for the end, metre) in quarters: one for a
    piece in one metre, one per change where a score holds several movements or changes metre."""
    from music21 import meter as m21meter

    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    found: list[tuple[Fraction, str]] = []
    for ts in parts[0].recurse().getElementsByClass(m21meter.TimeSignature):
        at = Fraction(ts.getOffsetInHierarchy(parts[0])).limit_denominator(96)
        if found and found[-1][0] == at:
            found[-1] = (at, ts.ratioString)
        elif not found or found[-1][1] != ts.ratioString:
            found.append((at, ts.ratioString))
    if len(found) < 2:
        return [(Fraction(0), None, found[0][1] if found else None)]
    return [(Fraction(0) if i == 0 else at, found[i + 1][0] if i + 1 < len(found) else None, meter)
            for i, (at, meter) in enumerate(found)]


def from_score(score, name: str, grid: str, voiced: bool,
               span: tuple[Fraction, Fraction | None, str | None] | None = None, memo: dict | None = None
               ) -> GridPiece:
    """A music21 score → a grid piece: one voice per part where `voiced` (a part's chords keep their
    top note), else the sounding pitches of all parts. With `span` (one of `sections`) only that
    stretch, in its metre."""
    from music21 import key as m21key, meter as m21meter

    step = Fraction(grid)
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    if voiced:
        parts = _choir(parts) or parts
    lines, fermatas = [], set()
    window = None if span is None else (span[0], span[1] if span[1] is not None else Fraction(10 ** 9))
    for part in parts:
        notes, marks = _voice_notes(part, step, window, memo)
        if notes:
            lines.append((part, notes))
            fermatas |= marks
    if not lines:
        raise ValueError("no notes")
    first = min(s for _, notes in lines for _, s, _ in notes)
    length = max(e for _, notes in lines for _, _, e in notes) - first
    if length > MAX_STEPS:
        raise ValueError(f"longer than {MAX_STEPS} steps of {grid} quarter")
    slots = [[REST] * len(lines) for _ in range(length)]
    for v, (_, notes) in enumerate(lines):
        # a voice sounds one pitch: the note that started last (of a chord, the top one) holds it
        for pitch, start, end in sorted(notes, key=lambda n: (n[1], n[0])):
            for i in range(start - first, end - first):
                slots[i][v] = pitch if i == start - first else HELD + pitch
        for i in range(1, length):     # a longer note under a shorter one sounds again where that ends
            e = slots[i][v]
            if e >= HELD and pitch_of(slots[i - 1][v]) != e - HELD:
                slots[i][v] = e - HELD
    steps = slots if voiced else [_merged(s) for s in slots]
    if span is not None:
        meter = span[2]
    else:
        meters = list(score.recurse().getElementsByClass(m21meter.TimeSignature))
        meter = meters[0].ratioString if meters else None
    keys = list(parts[0].recurse().getElementsByClass(m21key.KeySignature))
    if span is not None and keys:      # the signature in force where the stretch starts
        before = [k for k in keys if Fraction(k.getOffsetInHierarchy(parts[0])).limit_denominator(96) <= span[0]]
        keys = before[-1:] or keys[:1]
    key = None
    if keys:
        k = keys[0] if isinstance(keys[0], m21key.Key) else keys[0].asKey("major")
        key = k.tonic.name.replace("-", "b") if k.mode != "minor" else k.tonic.name.replace("-", "b").lower()
    bar = steps_per_bar(meter, step) if meter else None
    pickup = _pickup(lines[0][0], first, step, bar) if bar else 0
    names = [(p.partName or f"Voice {v + 1}") for v, (p, _) in enumerate(lines)] if voiced else None
    return GridPiece(name, grid, steps, names, meter if bar else None, key, pickup,
                     sorted(f - first for f in fermatas))


CHOIR = ("soprano", "alto", "tenor", "bass")


def _choir(parts: list) -> list | None:
    """A score's four choir parts in order (a chorale with instruments keeps its singers), or None
    where it does not have each exactly once."""
    found = {}
    for part in parts:
        name = (part.partName or "").strip().lower()
        if name in CHOIR:
            if name in found:
                return None
            found[name] = part
    return [found[n] for n in CHOIR] if len(found) == 4 else None


def _merged(slots: list[int]) -> list[int]:
    """One step's voices → its sounding pitches, highest first (an onset wins over a held note)."""
    best: dict[int, int] = {}
    for e in slots:
        if e != REST and (pitch_of(e) not in best or is_onset(e)):
            best[pitch_of(e)] = e
    return [best[p] for p in sorted(best, reverse=True)]


def _pickup(part, first: int, step: Fraction, bar: int) -> int:
    """Steps from the piece's first note to its first bar line (0 where it starts on one)."""
    for m in part.getElementsByClass("Measure"):
        if m.paddingLeft or (m.number == 0 and Fraction(m.duration.quarterLength) < bar * step):
            continue     # an anacrusis: its start is no bar line
        start = _quantized(m.offset, step)
        if start >= first:
            return (start - first) % bar
    return 0


def read_score_file(path: str, grid: str, voiced: bool) -> list[dict]:
    """One score file (MusicXML, MIDI, **kern, ABC: every tune of a book) → grid pieces as JSON.
    Runs in a worker process; raises on a file music21 cannot read."""
    from tunesmith import formats
    from tunesmith.notation import abc, parse_path, parse_text

    kind = formats.format_of(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "abc":
            tunes, _ = abc.read_book(abc.decode(Path(path).read_bytes()), path)
            scores = [(name, parse_text(tune, "abc")) for name, tune in tunes]
        elif kind == "kern":
            scores = [(path, parse_text(abc.decode(Path(path).read_bytes()), "humdrum"))]
        else:
            scores = [(path, parse_path(path, kind))]
        out = []
        for name, score in scores:
            inner = list(score.scores) if hasattr(score, "scores") else [score]
            for i, s in enumerate(inner):
                spans, memo = sections(s), {}
                for j, span in enumerate(spans):
                    piece = name if len(inner) == 1 else f"{name}#{i + 1}"
                    try:
                        out.append(from_score(s, piece if len(spans) == 1 else f"{piece}@{j + 1}", grid, voiced,
                                              span if len(spans) > 1 else None, memo).to_json())
                    except ValueError:
                        if len(scores) == 1 and len(inner) == 1 and len(spans) == 1:
                            raise
        if not out:
            raise ValueError("no piece with notes")
        return out


def melody_of(path: str | Path, part: int | None, grid: str) -> GridPiece:
    """Part `part` (1: the top; None: the part named for the melody, Soprano, Melody, ..., else the
    top) of a score file (ABC: its first tune) as a one-voice grid piece: the melody `tunesmith
    harmonize` keeps. Raises TunesmithError for a file or part it cannot use."""
    from tunesmith import formats
    from tunesmith.notation import abc, parse_path, parse_text

    kind = formats.format_of(path)
    if kind not in formats.SCORE_FORMATS:
        raise TunesmithError(f"{path}: a melody is an ABC, MusicXML, MIDI or **kern file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "abc":
                tunes, _ = abc.read_book(abc.decode(Path(path).read_bytes(), refuse_binary=True), str(path))
                if not tunes:
                    raise ValueError("no tune in it")
                score = parse_text(tunes[0][1], "abc")
            elif kind == "kern":
                score = parse_text(abc.decode(Path(path).read_bytes(), refuse_binary=True), "humdrum")
            else:
                score = parse_path(path, kind)
    except TunesmithError:
        raise
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds on a file it cannot read
        raise TunesmithError(f"{path} cannot be read as a score: {type(exc).__name__}: {str(exc)[:120]}") from None
    if hasattr(score, "scores"):
        score = score.scores[0]
    from music21 import stream
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    if part is None:
        from tunesmith.notation.scores import _melody_part
        part = _melody_part(parts)[0] + 1
    if not 1 <= part <= len(parts):
        raise TunesmithError(f"{path} has {len(parts)} part{'s' * (len(parts) != 1)}, no part {part}")
    single = stream.Score()
    single.insert(0, parts[part - 1])
    try:
        return from_score(single, str(path), grid, True)
    except ValueError as exc:
        raise TunesmithError(f"part {part} of {path} has no melody: {exc}") from None




# ---- many files: in worker processes, with a disk cache -------------------------------------------

GRID_READER_VERSION = 2     # 2: a score in several metres is one piece per metre; ties joined here
SCORE_SECONDS = 120.0    # one file may take this long to read, then it is left out


def _cache_entry(data: bytes, grid: str, voiced: bool) -> Path:
    from tunesmith.notation.scores import cache_dir
    key = f"{GRID_READER_VERSION} {grid} {voiced}".encode()
    digest = hashlib.sha256(data + b"\0" + key).hexdigest()
    return cache_dir().parent / "grid" / digest[:2] / f"{digest}.json"


def read_scores(paths: list[Path], grid: str, voiced: bool, show_progress: bool = True
                ) -> tuple[dict[str, list[GridPiece]], list[tuple[str, str]]]:
    """Every file's grid pieces (file → pieces, in the order given) from the cache where it has them,
    else read in worker processes, each file within a time limit; and the files left out, with why."""
    from tunesmith import atomic, log
    from tunesmith.notation import pool

    results: dict[str, list[dict]] = {}
    skipped: list[tuple[str, str]] = []
    todo = []
    for path in paths:
        try:
            entry = _cache_entry(Path(path).read_bytes(), grid, voiced)
        except OSError as exc:
            skipped.append((str(path), exc.strerror or str(exc)))
            continue
        try:
            stored = json.loads(entry.read_text(encoding="utf-8"))
            results[str(path)] = [{**d, "name": d["name"].replace(stored["path"], str(path), 1)}
                                  for d in stored["pieces"]]
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            todo.append((str(path), entry))     # not cached, or a damaged entry: read it again
    jobs = [(path, grid, voiced) for path, _ in todo]
    bar = log.progress(len(jobs), "reading scores", unit="file") if show_progress and jobs else None
    tick = (lambda: bar.update(1)) if bar is not None else None
    for j, found, error in pool.run(read_score_file, jobs, [SCORE_SECONDS] * len(jobs), None, tick):
        path, entry = todo[j]
        if error is not None:
            skipped.append((path, error))
            continue
        results[path] = found
        try:
            atomic.write_text(entry, json.dumps({"path": path, "pieces": found}))
        except OSError as exc:
            log.warn(f"could not write the parse cache {entry}: {exc}")
    if bar is not None:
        bar.close()
    ordered = {str(p): [GridPiece.from_json(d) for d in results[str(p)]] for p in paths if str(p) in results}
    return ordered, skipped
