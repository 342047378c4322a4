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
processes with a progress bar. A file that fails to parse is skipped with its
reason, like everywhere else.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from tunesmith import TunesmithError, atomic, formats, log
from tunesmith.notation import abc

READER_VERSION = 2
GRID = 48   # onsets and durations are rounded to 1/48 of a quarter (covers 64ths and triplets)
TONICS = ["C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B"]


@dataclass
class PartEvents:
    """One part of one score as a line of events."""

    name: str                 # file (and tune / part) it came from
    time_signature: str       # e.g. "3/4"; the first one of the part
    tonic: int                # pitch class 0-11 of the key's tonic
    mode: str                 # "major" or "minor"
    start: float              # where in the bar the first event falls, quarter lengths (a pickup: > 0)
    events: list[tuple[tuple[int, ...], float, float]] = field(default_factory=list)  # (pitches, onset, dur)

    def to_json(self) -> dict:
        return {**asdict(self), "events": [[list(p), o, d] for p, o, d in self.events]}

    @classmethod
    def from_json(cls, data: dict) -> "PartEvents":
        return cls(data["name"], data["time_signature"], int(data["tonic"]), data["mode"], float(data["start"]),
                   [(tuple(int(x) for x in p), float(o), float(d)) for p, o, d in data["events"]])

    def transposed(self, semitones: int) -> "PartEvents":
        events = [(tuple(x + semitones for x in p), o, d) for p, o, d in self.events]
        return PartEvents(self.name, self.time_signature, (self.tonic + semitones) % 12, self.mode, self.start,
                          events)

    def in_key(self, target: tuple[int, str]) -> "PartEvents":
        """The part moved to the asked key (C: C major, or A minor for a minor piece), the smaller way."""
        return self.transposed(shift_between(self.tonic, self.mode, target))

    def fits_midi(self) -> bool:
        return all(0 <= x <= 127 for p, _, _ in self.events for x in p)

    def text(self) -> str:
        """A readable line: header, then pitch(es):duration per event."""
        events = " ".join(f"{'.'.join(str(x) for x in p) or 'r'}:{Fraction(d).limit_denominator(48)}"
                          for p, _, d in self.events)
        return f"M:{self.time_signature} K:{self.key_name()} O:{Fraction(self.start).limit_denominator(48)} | {events}"

    def melody(self) -> list[tuple[int, float, float]]:
        """(pitch, onset, duration) of every note, the top one of a chord; rests left out."""
        return [(max(p), o, d) for p, o, d in self.events if p]

    def key_name(self) -> str:
        name = TONICS[self.tonic]
        return name if self.mode == "major" else name.lower()


def parse_key(name: str) -> tuple[int, str]:
    """'G', 'F#', 'Bb', 'E-' (major) or 'e', 'f#', 'bb' (minor) → (tonic pitch class, mode)."""
    text = name.strip()
    if not text or text[0].upper() not in "ABCDEFG" or any(ch not in "#b-" for ch in text[1:]):
        raise TunesmithError(f"{name!r} is not a key: use a note name like G, F#, Bb (major) "
                             f"or g, f#, bb (minor)")
    pc = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[text[0].upper()]
    pc += sum(1 if ch == "#" else -1 for ch in text[1:])
    return pc % 12, "major" if text[0].isupper() else "minor"


def shift_between(tonic: int, mode: str, target: tuple[int, str]) -> int:
    """Semitones (-6..5) from a key to the asked one; a minor piece asked into a major key goes
    to its relative minor (and the other way round), so the key signature is the one asked for."""
    pc, target_mode = target
    if target_mode != mode:
        pc = (pc + (9 if mode == "minor" else 3)) % 12
    return (pc - tonic + 6) % 12 - 6


@dataclass(frozen=True)
class ReaderSettings:
    parts: str = "melody"     # melody (a part named Soprano/Melody/..., else the top part), all, or N (1 = top)

    def check(self) -> None:
        if self.parts not in ("melody", "all") and not (self.parts.isdigit() and int(self.parts) >= 1):
            raise TunesmithError(f"--parts must be melody, all or a part number from 1, not {self.parts!r}")

    def key(self) -> str:
        return json.dumps({"reader": READER_VERSION, **asdict(self)}, sort_keys=True)


def _q(x) -> float:
    return float(round(Fraction(x) * GRID) / GRID) if x is not None else 0.0


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
    # music21 is imported where used: it costs about a second at start-up
    from music21 import converter

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
                    parts += read_parts(converter.parse(tune, format="abc"), tune_name, settings)
                except Exception:  # noqa: BLE001 - one bad tune of a book does not spoil the rest
                    continue
            if not parts:
                raise ValueError("no tune of this book could be read as notes")
            return parts
        if kind == "kern":
            score = converter.parse(abc.decode(Path(path).read_bytes()), format="humdrum")
        else:
            score = converter.parse(path, format=kind, forceSource=True)
        if hasattr(score, "scores"):   # an opus: every score in it
            out = []
            for i, s in enumerate(score.scores):
                out += read_parts(s, f"{path}#{i + 1}", settings)
            return out
        return read_parts(score, path, settings)


def _parse_job(path: str, settings: ReaderSettings) -> tuple[str, list[dict] | None, str | None]:
    try:
        return path, [p.to_json() for p in parse_file(path, settings)], None
    except Exception as exc:  # noqa: BLE001 - every failure is one skipped file with its reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return path, None, f"{type(exc).__name__}: {reason}"[:300]


# ---- the cache ---------------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("TUNESMITH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunesmith")
    return Path(base) / "scores"


def _cache_path(data: bytes, settings: ReaderSettings) -> Path:
    digest = hashlib.sha256(data + b"\0" + settings.key().encode()).hexdigest()
    return cache_dir() / digest[:2] / f"{digest}.json"


@dataclass
class ReadResult:
    files: dict[str, list[PartEvents]]   # file → its parts, in the order the files were given
    skipped: list[tuple[str, str]]
    cached: int           # files answered from the cache
    parsed: int           # files parsed now


def read_files(paths: list[Path], settings: ReaderSettings, show_progress: bool = True,
               workers: int | None = None, cache: bool = True) -> ReadResult:
    """Parts of every file, from the cache where it has them, parsed in parallel otherwise.
    `cache=False` neither reads nor writes the cache (for throw-away files such as samples)."""
    settings.check()
    results: dict[str, list[PartEvents]] = {}
    skipped: list[tuple[str, str]] = []
    todo: list[tuple[str, Path]] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            skipped.append((str(path), exc.strerror or str(exc)))
            continue
        entry = _cache_path(data, settings)
        if not cache:
            todo.append((str(path), entry))
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
        todo.append((str(path), entry))
    cached = len(results)

    def store(path: str, entry: Path, parts: list[dict] | None, error: str | None) -> None:
        if error is not None:
            skipped.append((path, error))
            return
        results[path] = [PartEvents.from_json(p) for p in parts]
        if not cache:
            return
        try:
            atomic.write_text(entry, json.dumps({"path": path, "parts": parts}))
        except OSError as exc:
            log.warn(f"could not write the parse cache {entry}: {exc}")

    if todo:
        workers = workers or min(os.cpu_count() or 1, 8, len(todo))
        bar = log.progress(len(todo), "parsing scores", unit="file") if show_progress else None
        if workers <= 1 or len(todo) < 4:
            for path, entry in todo:
                store(path, entry, *_parse_job(path, settings)[1:])
                if bar is not None:
                    bar.update(1)
        else:
            entries = dict(todo)
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_parse_job, path, settings) for path, _ in todo]
                for future in as_completed(futures):
                    path, parts, error = future.result()
                    store(path, entries[path], parts, error)
                    if bar is not None:
                        bar.update(1)
        if bar is not None:
            bar.close()
    ordered = {str(path): results[str(path)] for path in paths if str(path) in results}
    return ReadResult(ordered, skipped, cached, len(todo))


def read_melodies(paths: list[Path], show_progress: bool = True, cache: bool = True, workers: int | None = None
                  ) -> tuple[dict[str, list[tuple[str, list[tuple[int, float, float]]]]], list[tuple[str, str]]]:
    """File → [(piece name, its melody as (pitch, onset, duration) notes)], and the files skipped."""
    result = read_files(paths, ReaderSettings("melody"), show_progress=show_progress, cache=cache, workers=workers)
    return {path: [(part.name, part.melody()) for part in parts] for path, parts in result.files.items()}, \
        result.skipped
