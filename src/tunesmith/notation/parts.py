"""One part of a score as a line of note events (`PartEvents`), keys, and the reader's settings:
the types `scores.py` reads scores into (and re-exports)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from tunesmith import TunesmithError

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
