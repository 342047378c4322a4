"""Scores (MIDI, MusicXML, **kern, ABC) → parts as note events, through music21, with a disk cache.

A part becomes a `PartEvents`: its time signature, key, where in the bar it
starts, and a line of events (MIDI pitches — none for a rest, several for a
chord — with onset and duration in quarter lengths). The line is monophonic in
time: notes that start together merge into one chord, a sounding note is cut
where the next event starts, and a silence becomes a rest, so onsets are
always the running sum of durations and a line decodes back exactly. Ties are
merged into one note; grace notes (no duration) are left out.

Parsing is slow (music21 takes a tenth of a second to seconds per file), so
each file's parts are cached on disk, keyed by the file's content hash and
the reader settings; files not in the cache are parsed in parallel worker
processes (`notation/pool.py`) with a progress bar: an ABC book tune by tune,
each tune (or file of another format) within a time limit, so one bad tune
costs its own time only. A file that fails to parse, and a tune that runs out
of time, is skipped with its reason, like everywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from tunesmith import atomic, formats, log
from tunesmith.notation import abc, parse_path, parse_text, pool
from tunesmith.notation.parts import (GRID, READER_VERSION, TONICS, PartEvents, ReaderSettings,  # noqa: F401
                                      _q, parse_key, shift_between)

# the types, re-exported here where the package has always found them
# ---- reading one score (runs in a worker process) -----------------------------------------

def _key_of(score, part) -> tuple[int, str]:
    # music21 is imported where used: it costs about a second at start-up
    from music21 import key as m21key

    found = list(part.recurse().getElementsByClass(m21key.KeySignature)) or \
        list(score.recurse().getElementsByClass(m21key.KeySignature))
    first = found[0] if found else None
    if isinstance(first, m21key.Key) and first.mode in ("major", "minor"):
        return first.tonic.pitchClass, first.mode
    try:
        guess = score.analyze("key")
    except Exception:  # noqa: BLE001 - analysis fails on scores without pitches
        guess = None
    if first is not None:
        # a bare key signature: the mode from the analysis when it agrees with the signature
        mode = guess.mode if guess is not None and guess.sharps == first.sharps and \
            guess.mode in ("major", "minor") else "major"
        return first.asKey(mode).tonic.pitchClass, mode
    if guess is not None and guess.mode in ("major", "minor"):
        return guess.tonic.pitchClass, guess.mode
    return 0, "major"


def _line(part) -> tuple[list[tuple[tuple[int, ...], float, float]], float]:
    """A part → (monophonic line of events, onset of its first note)."""
    # music21 is imported where used: it costs about a second at start-up
    from music21 import chord, note

    flat = part.stripTies(matchByPitch=True).flatten()
    pitches_at: dict[float, set[int]] = {}
    note_end: dict[float, float] = {}
    rest_end: dict[float, float] = {}
    for el in flat.notesAndRests:
        if el.duration.isGrace or el.quarterLength <= 0:
            continue
        onset, end = _q(el.offset), _q(el.offset + el.quarterLength)
        if isinstance(el, note.Note):
            pitches_at.setdefault(onset, set()).add(el.pitch.midi)
        elif isinstance(el, chord.Chord):
            pitches_at.setdefault(onset, set()).update(p.midi for p in el.pitches)
        else:
            rest_end[onset] = max(rest_end.get(onset, onset), end)
            continue
        note_end[onset] = max(note_end.get(onset, onset), end)
    # a rest counts only where no note of another voice still sounds
    kept, sounding = [], float("-inf")
    for t in sorted(set(pitches_at) | set(rest_end)):
        if t in pitches_at:
            kept.append(t)
            sounding = max(sounding, note_end[t])
        elif sounding <= t:
            kept.append(t)
    events: list[tuple[tuple[int, ...], float, float]] = []

    def add(pitches: tuple[int, ...], onset: float, end: float) -> None:
        if end <= onset:
            return
        if not pitches and events and not events[-1][0]:   # rest after rest: one rest
            events[-1] = ((), events[-1][1], _q(end - events[-1][1]))
        else:
            events.append((pitches, onset, _q(end - onset)))

    for i, t in enumerate(kept):
        nxt = kept[i + 1] if i + 1 < len(kept) else None
        if t in pitches_at:
            end = note_end[t] if nxt is None else min(note_end[t], nxt)
            add(tuple(sorted(pitches_at[t])), t, end)
            if nxt is not None and end < nxt:
                add((), end, nxt)
        else:
            add((), t, rest_end[t] if nxt is None else nxt)
    while events and not events[-1][0]:   # leading and trailing rests say nothing
        events.pop()
    while events and not events[0][0]:
        events.pop(0)
    return events, (events[0][1] if events else 0.0)


def _time_signature(part) -> tuple[str, float]:
    # music21 is imported where used: it costs about a second at start-up
    from music21 import meter

    found = list(part.recurse().getElementsByClass(meter.TimeSignature))
    ts = found[0] if found else meter.TimeSignature("4/4")
    return ts.ratioString, float(ts.barDuration.quarterLength)


def _start_in_bar(part, bar: float) -> float:
    measures = list(part.getElementsByClass("Measure"))
    padding = float(measures[0].paddingLeft or 0.0) if measures else 0.0
    return _q(padding % bar) if bar > 0 else 0.0


MELODY_NAMES = ("soprano", "melody", "melodie", "cantus", "voice", "vocal", "singer")


def _melody_part(parts: list) -> tuple[int, object]:
    """The melody: a part named for it (Soprano, Melody, Voice, Cantus, ...), else the top part.
    Chorales with instruments list horns or oboes above the soprano."""
    for k, part in enumerate(parts):
        if any(word in (part.partName or "").lower() for word in MELODY_NAMES):
            return k, part
    return 0, parts[0]


def read_parts(score, name: str, settings: ReaderSettings) -> list[PartEvents]:
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    if settings.parts == "melody":
        chosen = [_melody_part(parts)]
    elif settings.parts == "all":
        chosen = list(enumerate(parts))
    else:
        k = int(settings.parts) - 1
        if k >= len(parts):
            raise ValueError(f"has {len(parts)} parts, no part {k + 1}")
        chosen = [(k, parts[k])]
    out = []
    for k, part in chosen:
        events, first = _line(part)
        if not any(p for p, _, _ in events):
            continue
        tonic, mode = _key_of(score, part)
        ts, bar = _time_signature(part)
        start = _q((_start_in_bar(part, bar) + first) % bar) if bar > 0 else 0.0
        label = name if settings.parts != "all" else f"{name}#part{k + 1}"
        # onsets relative to the first event
        events = [(p, _q(o - first), d) for p, o, d in events]
        out.append(PartEvents(label, ts, tonic, mode, start, events))
    if not out:
        raise ValueError("no notes in the chosen parts")
    return out


def parse_file(path: str, settings: ReaderSettings) -> list[PartEvents]:
    """One file → its parts (an ABC book: every tune). Raises on a file music21 cannot read."""
    kind = formats.format_of(path)
    if kind is None:
        raise ValueError(f"cannot tell the format from '{Path(path).suffix}'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "abc":
            text = abc.decode(Path(path).read_bytes())
            tunes, skipped = abc.read_book(text, path)
            parts: list[PartEvents] = []
            for tune_name, tune in tunes:
                try:
                    parts += read_parts(parse_text(tune, "abc"), tune_name, settings)
                except Exception:  # noqa: BLE001 - one bad tune of a book does not spoil the rest
                    continue
            if not parts:
                raise ValueError("no tune of this book could be read as notes")
            return parts
        if kind == "kern":
            score = parse_text(abc.decode(Path(path).read_bytes()), "humdrum")
        else:
            score = parse_path(path, kind)
        if hasattr(score, "scores"):   # an opus: every score in it
            out = []
            for i, s in enumerate(score.scores):
                out += read_parts(s, f"{path}#{i + 1}", settings)
            return out
        return read_parts(score, path, settings)


def parse_tune(tune: str, name: str, settings: ReaderSettings) -> list[dict]:
    """One ABC tune (canonical text from `abc.read_book`) → its parts, as JSON. Runs in a worker."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [p.to_json() for p in read_parts(parse_text(tune, "abc"), name, settings)]


def _job(kind: str, what: str, name: str, settings: ReaderSettings) -> list[dict]:
    """A worker's job: one tune of an ABC book, or one whole file of another format."""
    if kind == "tune":
        return parse_tune(what, name, settings)
    return [p.to_json() for p in parse_file(what, settings)]


# ---- the cache ---------------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("TUNESMITH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunesmith")
    return Path(base) / "scores"


def _cache_path(data: bytes, settings: ReaderSettings) -> Path:
    digest = hashlib.sha256(data + b"\0" + settings.key().encode()).hexdigest()
    return cache_dir() / digest[:2] / f"{digest}.json"


TUNE_SECONDS = 20.0    # one tune of an ABC book may take this long to parse, then it is left out
FILE_SECONDS = 120.0   # one file of another format
NO_TUNE = "ValueError: no tune of this book could be read as notes"


@dataclass
class ReadResult:
    files: dict[str, list[PartEvents]]   # file → its parts, in the order the files were given
    skipped: list[tuple[str, str]]       # files (and tunes that ran out of time) left out, with why
    cached: int           # files answered from the cache
    parsed: int           # files parsed now


@dataclass
class _Book:
    """A file being parsed: its cache entry, and the parts of each of its jobs (tunes) in order."""
    path: str
    entry: Path
    parts: list[list[dict] | None]
    complete: bool = True   # no job ran out of time or crashed: the result may be cached


def _from_cache(paths: list[Path], settings: ReaderSettings, cache: bool, results: dict,
                skipped: list) -> list[tuple[str, Path, bytes]]:
    """Fill `results` from the cache; the files still to parse, as (path, cache entry, bytes)."""
    todo = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            skipped.append((str(path), exc.strerror or str(exc)))
            continue
        entry = _cache_path(data, settings)
        if not cache:
            todo.append((str(path), entry, data))
            continue
        try:
            stored = json.loads(entry.read_text(encoding="utf-8"))
            results[str(path)] = [PartEvents.from_json(p) for p in stored["parts"]]
            # the name is where the file is now, not where it was when cached
            for p, s in zip(results[str(path)], stored["parts"]):
                p.name = s["name"].replace(stored["path"], str(path), 1)
            continue
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not cached, or a damaged entry: parse again
        todo.append((str(path), entry, data))
    return todo


def _plan(todo: list[tuple[str, Path, bytes]], settings: ReaderSettings, seconds: float | None, skipped: list
          ) -> tuple[list[_Book], list[tuple], list[float], list[tuple[int, int]]]:
    """Files to parse → books, and the jobs: one per tune of an ABC book (split here, as the
    character codec splits it), one per file of another format; each job's limit and (book, slot)."""
    books, jobs, limits, owner = [], [], [], []
    for path, entry, data in todo:
        if formats.format_of(path) == "abc":
            try:
                tunes, _ = abc.read_book(abc.decode(data, refuse_binary=True), path)
            except ValueError as exc:
                skipped.append((path, f"ValueError: {exc}"))
                continue
            if not tunes:
                skipped.append((path, NO_TUNE))
                continue
            items = [("tune", text, name) for name, text in tunes]
        else:
            items = [("file", path, path)]
        for slot, (kind, what, name) in enumerate(items):
            jobs.append((kind, what, name, settings))
            limits.append(seconds or (TUNE_SECONDS if kind == "tune" else FILE_SECONDS))
            owner.append((len(books), slot))
        books.append(_Book(path, entry, [None] * len(items)))
    return books, jobs, limits, owner


def _finish(book: _Book, cache: bool, results: dict, skipped: list) -> None:
    """A parsed book's parts → `results` (and the cache, when every job finished)."""
    parts = [p for found in book.parts if found for p in found]
    if not parts:
        if formats.format_of(book.path) == "abc" and book.complete:   # else its tunes are named already
            skipped.append((book.path, NO_TUNE))
        return
    results[book.path] = [PartEvents.from_json(p) for p in parts]
    if not cache or not book.complete:
        return
    try:
        atomic.write_text(book.entry, json.dumps({"path": book.path, "parts": parts}))
    except OSError as exc:
        log.warn(f"could not write the parse cache {book.entry}: {exc}")


def read_files(paths: list[Path], settings: ReaderSettings, show_progress: bool = True,
               workers: int | None = None, cache: bool = True, seconds: float | None = None) -> ReadResult:
    """Parts of every file, from the cache where it has them, parsed in parallel otherwise: an ABC
    book tune by tune, each tune (or other file) within a time limit (`seconds`, else TUNE_SECONDS
    and FILE_SECONDS); a tune that runs out of time is left out and named in `skipped`.
    `cache=False` neither reads nor writes the cache (for throw-away files such as samples)."""
    settings.check()
    results: dict[str, list[PartEvents]] = {}
    skipped: list[tuple[str, str]] = []
    todo = _from_cache(paths, settings, cache, results, skipped)
    cached = len(results)
    books, jobs, limits, owner = _plan(todo, settings, seconds, skipped)
    bar = log.progress(len(jobs), "parsing scores", unit="piece") if show_progress and jobs else None
    tick = (lambda: bar.update(1)) if bar is not None else None
    for j, parts, error in pool.run(_job, jobs, limits, workers, tick):
        book = books[owner[j][0]]
        timed_out = error is not None and error.startswith("took over")
        if error is None:
            book.parts[owner[j][1]] = parts
        elif jobs[j][0] == "file":
            skipped.append((book.path, f"{error} to read" if timed_out else error))
        elif timed_out or error == pool.CRASHED:
            book.complete = False   # one bad tune costs its own time; the rest of the book stays
            skipped.append((jobs[j][2], f"{error} to read" if timed_out else error))
    if bar is not None:
        bar.close()
    for book in books:
        _finish(book, cache, results, skipped)
    ordered = {str(path): results[str(path)] for path in paths if str(path) in results}
    return ReadResult(ordered, skipped, cached, len(todo))


def read_melodies(paths: list[Path], show_progress: bool = True, cache: bool = True, workers: int | None = None,
                  seconds: float | None = None
                  ) -> tuple[dict[str, list[tuple[str, list[tuple[int, float, float]]]]], list[tuple[str, str]]]:
    """File → [(piece name, its melody as (pitch, onset, duration) notes)], and what was left out (files
    music21 cannot read, tunes past their time limit), each also told one line (the first 50)."""
    result = read_files(paths, ReaderSettings("melody"), show_progress=show_progress, cache=cache,
                        workers=workers, seconds=seconds)
    for where, why in result.skipped[:50]:
        log.warn(f"left out of the copy guard's index: {where}: {why}")
    if len(result.skipped) > 50:
        log.warn(f"... and {len(result.skipped) - 50} more left out of the copy guard's index")
    return {path: [(part.name, part.melody()) for part in parts] for path, parts in result.files.items()}, \
        result.skipped
