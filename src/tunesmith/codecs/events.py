"""Note-event codec: one token per (pitch or rest, beat strength, duration) event.

A piece is a line of events (see `corpus/scores.py`). Its tokens are

    <s> [<style:NAME>] M:3/4 K:g O:2 62_1/4_1 67_1_2 r_1/2_1 ... </s>

a header (metre, key — a capital tonic is major, lower case minor — and where
in the bar the first event falls, so a pickup stays a pickup), then one token
per event: MIDI pitch(es) or `r`, the beat strength music21's metre gives its
onset (rounded to a power of two, 1 down to 1/16), and its duration in quarter
lengths on a fixed grid; a duration off the grid falls into the fallback
bucket `x`, decoded as the typical off-grid duration of the corpus.

Chords: `reduce` keeps the tone nearest the previous melody note (the top tone
for the first), `keep` writes all pitches with their octaves (`60.64.67`).

Decoding builds a music21 score — onsets are the running sum of durations,
rests included — written as MusicXML; the render path turns it into MIDI, SVG
and WAV.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError, log
from tunesmith.codecs import saved
from tunesmith.codecs.base import (Codec, CodecOptions, Piece, _check_key, _check_parts, augment_shifts,
                                   register_codec)
from tunesmith.notation import scores
from tunesmith.notation.scores import TONICS, PartEvents, parse_key, shift_between

DURATIONS = [Fraction(x) for x in ("1/12", "1/8", "1/6", "1/4", "1/3", "3/8", "1/2", "2/3", "3/4", "1", "5/4",
                                   "4/3", "3/2", "7/4", "2", "5/2", "3", "7/2", "4", "5", "6", "7", "8", "10",
                                   "12", "16")]
FALLBACK = "x"
CHORDS = ("reduce", "keep")


def _frac(x: float | Fraction) -> str:
    f = Fraction(x).limit_denominator(48)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def quantize_duration(ql: float) -> str:
    """Quarter length → a grid value, or the fallback bucket when none is within 10%."""
    if ql <= 0:
        return FALLBACK
    best = min(DURATIONS, key=lambda d: abs(math.log(ql / float(d))))
    return _frac(best) if abs(ql - float(best)) <= 0.1 * float(best) + 1e-9 else FALLBACK


@lru_cache(maxsize=64)
def _time_signature(ratio: str):
    # music21 is imported where used: it costs about a second at start-up
    from music21 import meter
    try:
        return meter.TimeSignature(ratio)
    except Exception:  # noqa: BLE001 - an unreadable metre reads as 4/4
        return meter.TimeSignature("4/4")


@lru_cache(maxsize=4096)
def beat_strength(ratio: str, position: float) -> str:
    """music21's beat strength of a position in the bar, as a power of two from 1 to 1/16."""
    ts = _time_signature(ratio)
    bar = float(ts.barDuration.quarterLength)
    try:
        weight = ts.getAccentWeight(position % bar, forcePositionMatch=True)
    except Exception:  # noqa: BLE001 - positions music21 cannot place are the weakest
        weight = 0.0
    exponent = min(4, max(0, round(-math.log2(weight)))) if weight > 0 else 4
    return _frac(Fraction(1, 2 ** exponent))


@register_codec
class EventCodec(Codec):
    kind = "events"
    extension = ".musicxml"
    primer_kind = "score"
    default_formats = ("midi",)    # a piece is a score: hear it without another command
    text_output = False
    can_transpose = True

    def __init__(self, words: Sequence[str], chords: str = "reduce", styles: Sequence[str] = (),
                 fallback_duration: float = 1.0, parts: str = "melody", transpose: str | None = None,
                 unk: bool = False):
        if chords not in CHORDS:
            raise TunesmithError(f"--chords must be reduce or keep, not {chords!r}")
        self.chords = chords
        self.words = list(words)
        self.fallback_duration = float(fallback_duration)
        self.parts = parts            # how the corpus was read, so other files are read the same way
        self.transpose = transpose
        self._init_symbols(styles, self.words, unk)

    @property
    def format(self) -> str:
        return "events"

    @property
    def source_format(self) -> str:
        return "musicxml"

    # ---- reading ------------------------------------------------------------------------------

    @classmethod
    def reader_for(cls, formats: set[str], chosen: bool) -> str | None:
        if "roll" in formats:
            if chosen:
                raise TunesmithError("roll JSON files hold several voices on a grid: read them with --codec grid")
            return None
        return "events"    # music21 reads every score format

    @classmethod
    def read_files(cls, files: list[Path], reader: str, options: CodecOptions, show_progress: bool = True
                   ) -> tuple[list[tuple[str, list[Piece]]], list[tuple[str, str]]]:
        target = parse_key(options.transpose) if options.transpose else None
        result = scores.read_files(files, scores.ReaderSettings(options.parts), show_progress=show_progress)
        if result.cached and show_progress:
            log.info(f"{result.cached} of {len(files)} files from the parse cache ({scores.cache_dir()})")
        found = []
        for path, parts in result.files.items():
            moved = [part.in_key(target) if target is not None else part for part in parts]
            found.append((path, [Piece(p.name, p.text(), "events", {"events": p.to_json()}) for p in moved]))
        return found, list(result.skipped)

    @classmethod
    def augment(cls, pieces: list[Piece], copies: int) -> list[Piece]:
        """Up to `copies` transposed copies of each piece (+1, -1, +2, -2, ... semitones), leaving out
        copies that leave the MIDI range."""
        shifts = augment_shifts(copies)
        out = []
        for piece in pieces:
            part = PartEvents.from_json(piece.meta["events"])
            for shift in shifts:
                moved = part.transposed(shift)
                if moved.fits_midi():
                    out.append(Piece(f"{piece.name}@{shift:+d}", moved.text(), "events",
                                     {**piece.meta, "events": moved.to_json()}))
        return out

    @classmethod
    def melodies(cls, pieces: list[Piece], files: list[str]) -> list[tuple[str, list]]:
        return [(p.name, PartEvents.from_json(p.meta["events"]).melody()) for p in pieces]

    @classmethod
    def label(cls, fmt: str) -> str:
        return "note events"

    @classmethod
    def length(cls, piece: Piece) -> tuple[int, str]:
        return len(piece.meta["events"]["events"]), "events"

    def reading(self) -> CodecOptions:
        return CodecOptions(codec=self.kind, parts=self.parts, transpose=self.transpose)

    def units(self, piece: Piece) -> int:
        return len(piece.meta["events"]["events"])

    def check_key(self, key: str) -> None:
        parse_key(key)

    # ---- events → words ----------------------------------------------------------------

    def words_of(self, part: PartEvents) -> list[str]:
        words = [f"M:{part.time_signature}", f"K:{part.key_name()}", f"O:{_frac(part.start)}"]
        previous = None
        for pitches, onset, duration in part.events:
            if not pitches:
                pitch = "r"
            elif self.chords == "keep" or len(pitches) == 1:
                pitch = ".".join(str(p) for p in pitches)
                previous = pitches[-1]
            else:
                reference = previous if previous is not None else max(pitches)
                chosen = min(pitches, key=lambda p: (abs(p - reference), -p))
                pitch, previous = str(chosen), chosen
            strength = beat_strength(part.time_signature, part.start + onset)
            words.append(f"{pitch}_{strength}_{quantize_duration(duration)}")
        return words

    @classmethod
    def fit(cls, pieces: Sequence[Piece], options: CodecOptions | None = None, styles: Sequence[str] = ()
            ) -> "EventCodec":
        """The words of the pieces; those seen fewer than `unk_min_count` times are learned as `<unk>`."""
        given = options or CodecOptions()
        chords, parts, transpose = given.chords, given.parts, given.transpose
        if not pieces:
            raise TunesmithError("cannot learn a vocabulary from no pieces")
        probe = cls([], chords)
        counts: Counter = Counter()
        off_grid: list[float] = []
        for piece in pieces:
            part = PartEvents.from_json(piece.meta["events"])
            counts.update(probe.words_of(part))
            off_grid += [d for _, _, d in part.events if quantize_duration(d) == FALLBACK]
        fallback = float(np.median(off_grid)) if off_grid else 1.0
        rare = cls.rare(counts, options)
        return cls(sorted(set(counts) - rare), chords, styles, fallback, parts, transpose, unk=bool(rare))

    def _ids(self, words: list[str], what: str, unk: bool = True) -> list[int]:
        """Words → ids; one the model never saw becomes `<unk>` where it has one and `unk` allows, else
        an error naming some."""
        if unk and self.unk_id is not None:
            return self.with_unk(words)
        unknown = [w for w in words if w not in self.index]
        if unknown:
            raise TunesmithError(f"{what} has {len(unknown)} events this model never saw, e.g. "
                                 f"{', '.join(sorted(set(unknown))[:5])} (pitch_beatstrength_duration); "
                                 f"it knows {len(self.words)} events and header words")
        return [self.index[w] for w in words]

    def encode(self, piece) -> np.ndarray:
        words = self.words_of(PartEvents.from_json(piece.meta["events"]))
        ids = self._ids(words, f"piece {piece.name}")
        return self._frame(ids, piece.meta.get("style"), end=True)

    def encode_primer(self, primer: str, style: str | None = None) -> np.ndarray:
        """A primer is text in training shape: header and event words separated by spaces."""
        return self._frame(self._ids(primer.split(), "the primer", unk=False), style, end=False)

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.symbols[i] for i in ids if i >= self.first_word)

    # ---- words → score -----------------------------------------------------------------

    def score(self, text: str, number: int = 1, key: str | None = None):
        """Decoded words → a music21 score (malformed or misplaced words are left out)."""
        # music21 is imported where used: it costs about a second at start-up
        from music21 import chord, instrument, key as m21key, metadata, note, pitch, stream

        ratio, (tonic, mode), start = "4/4", (0, "major"), Fraction(0)
        events = []
        for word in text.split():
            if word.startswith("M:") and not events:
                ratio = word[2:]
            elif word.startswith("K:") and not events:
                try:
                    tonic, mode = parse_key(word[2:])
                except TunesmithError:
                    pass
            elif word.startswith("O:") and not events:
                start = _parse_fraction(word[2:], Fraction(0))
            elif word.count("_") == 2:
                events.append(word.split("_"))
        shift = shift_between(tonic, mode, parse_key(key)) if key is not None else 0
        tonic = (tonic + shift) % 12
        ts = _time_signature(ratio)
        bar = Fraction(ts.barDuration.quarterLength).limit_denominator(48)
        start = start % bar if bar > 0 else Fraction(0)
        k = m21key.Key(TONICS[tonic] if mode == "major" else TONICS[tonic].lower(), mode)
        flats = k.sharps < 0

        def spelled(midi: int):
            p = pitch.Pitch(midi=midi + shift)
            if flats and p.accidental is not None and p.accidental.name == "sharp":
                p = p.getEnharmonic()
            return p

        part = stream.Part()
        part.insert(0, instrument.Piano())
        part.insert(0, _time_signature(ratio).__deepcopy__())
        part.insert(0, k)
        onset = start
        for pitch_word, _, duration_word in events:
            duration = (Fraction(self.fallback_duration).limit_denominator(48) if duration_word == FALLBACK
                        else _parse_fraction(duration_word, None))
            if duration is None or duration <= 0:
                continue
            try:
                if pitch_word == "r":
                    element = note.Rest()
                elif "." in pitch_word:
                    element = chord.Chord([spelled(int(x)) for x in pitch_word.split(".")])
                else:
                    element = note.Note(spelled(int(pitch_word)))
            except ValueError:
                continue
            element.duration.quarterLength = duration
            part.insert(float(onset), element)
            onset += duration
        part.makeNotation(inPlace=True)
        measures = list(part.getElementsByClass(stream.Measure))
        if start > 0 and measures:
            # a pickup: the first bar holds only what comes after the start position
            first = measures[0]
            for element in list(first.notesAndRests):
                if element.offset < float(start):
                    first.remove(element)
                else:
                    first.setElementOffset(element, element.offset - float(start))
            first.paddingLeft = float(start)
            for m in measures[1:]:
                part.setElementOffset(m, m.offset - float(start))
        score = stream.Score()
        score.insert(0, metadata.Metadata(title=f"tunesmith {number}"))
        score.insert(0, part)
        return score

    def finish(self, text: str, number: int, key: str | None = None) -> str:
        # music21 is imported where used: it costs about a second at start-up
        from music21.musicxml.m21ToXml import GeneralObjectExporter

        return GeneralObjectExporter(self.score(text, number, key)).parse().decode("utf-8")

    def to_json(self) -> dict:
        data = {"kind": self.kind, "chords": self.chords, "styles": self.styles, "parts": self.parts,
                "transpose": self.transpose,
                "fallback_duration": self.fallback_duration, "words": self.words}
        if self.unk_id is not None:     # a codec saved before <unk> came keeps its file as it was
            data["unk"] = True
        return data

    @classmethod
    def from_json(cls, data: dict) -> "EventCodec":
        fallback = saved.entry(data, "fallback_duration", "number", 1.0)
        if fallback <= 0:
            raise saved.wrong("fallback_duration", "a positive number", fallback)
        parts = saved.entry(data, "parts", "string", "melody")
        transpose = saved.entry(data, "transpose", "string or null", None)
        for key, check, value in (("parts", _check_parts, parts), ("transpose", _check_key, transpose)):
            try:
                check(value)
            except TunesmithError as exc:
                raise TunesmithError(f"the codec file has a bad '{key}' entry: {exc}") from None
        return cls(saved.entry(data, "words", "distinct strings"), saved.entry(data, "chords", "string", "reduce"),
                   saved.entry(data, "styles", "distinct strings", []), fallback, parts, transpose,
                   saved.entry(data, "unk", "boolean", False))


def _parse_fraction(text: str, default):
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return default
    return value if 0 <= value <= 64 else default


__all__ = ["EventCodec", "quantize_duration", "beat_strength"]
