"""Polyphonic music on a time grid (`GridPiece`): read from piano-roll JSON (here) or any score music21
reads (`grid_scores.py`), and written back as a score with one part per voice.

A piece is a list of steps of equal length (`grid` quarter lengths). Each step holds what sounds
in it: a pitch that starts there (an onset) or one held from the step before. Where the score has
parts (SATB, a string quartet) each step has one slot per voice, `REST` where that voice is
silent, so voices keep their identity; a piano roll has no voices, only the sounding pitches.

Pitches are stored as ints: a MIDI pitch for an onset, `HELD + pitch` for a held one.
"""

from __future__ import annotations


import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from tunesmith import TunesmithError

HELD = 128
REST = -1
LOWEST, HIGHEST = 21, 108          # the 88 keys of a piano: what a roll and a transposed copy keep to
VOICE_NAMES = {4: ["Soprano", "Alto", "Tenor", "Bass"]}
MAX_STEPS = 20_000                 # a piece longer than this on its grid is refused (a corrupt file)


def grid_quarters(value: str) -> str:
    """--grid (a fraction of a whole note: 1/16) → the step in quarter lengths ("1/4")."""
    try:
        step = Fraction(value)
    except (ValueError, ZeroDivisionError):
        step = Fraction(0)
    if not (0 < step <= 1 and (step * 192).denominator == 1):
        raise TunesmithError(f"--grid must be a note length from 1/192 to 1 (a whole note), e.g. 1/16, "
                             f"not {value!r}")
    return str(step * 4)


def pitch_of(entry: int) -> int:
    return entry - HELD if entry >= HELD else entry


def is_onset(entry: int) -> bool:
    return 0 <= entry < HELD


# the staff step of each pitch class as music21 spells a MIDI pitch (C C# D E- E F F# G G# A B- B)
_LETTER = (0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6)


def _perfect(a: int, b: int) -> int | None:
    """5 for a perfect fifth (or twelfth...), 8 for an octave (or more), 1 for a unison, between two
    MIDI pitches spelled as music21 spells them; None for any other interval (G#–E- is a diminished
    sixth, not a fifth)."""
    semitones = abs(a - b)
    steps = abs((a // 12) * 7 + _LETTER[a % 12] - (b // 12) * 7 - _LETTER[b % 12])
    if semitones % 12 == 7 and steps % 7 == 4 and steps // 7 == semitones // 12:
        return 5
    if semitones % 12 == 0 and steps % 7 == 0 and steps // 7 == semitones // 12:
        return 8 if semitones else 1
    return None


def parallels(p1: int, p2: int, q1: int, q2: int) -> tuple[bool, bool]:
    """(parallel fifths, parallel octaves) where an upper voice moves p1 → p2 and a lower one q1 → q2
    (MIDI pitches), exactly as music21's VoiceLeadingQuartet.parallelFifth/parallelOctave find them
    (tests/test_grid.py compares the two): both voices move, between two perfect fifths (compound or
    not; similar or contrary motion), or between two octaves in similar motion, or octaves and unisons
    in contrary motion. The judge counts them with music21 itself (evaluate/voices.py); the strict
    voice-leading rule forbids them while sampling with this copy, which costs no music21 import and
    no interval objects per step."""
    if p1 == p2 or q1 == q2:
        return False, False          # a voice that stays makes oblique motion: never parallel
    before, after = _perfect(p1, q1), _perfect(p2, q2)
    if before is None or after is None:
        return False, False
    if before == 5 or after == 5:
        return before == after, False
    similar = (p2 > p1) == (q2 > q1)
    return False, (before == after == 8) if similar else True


def transposed_key(key: str, semitones: int) -> str:
    """A key name ("G" major, "e" minor) moved by some semitones, named as grids name keys."""
    from tunesmith.notation.parts import TONICS, parse_key
    tonic, mode = parse_key(key)
    name = TONICS[(tonic + semitones) % 12]
    return name if mode == "major" else name.lower()


@dataclass
class GridPiece:
    name: str
    grid: str                           # quarter lengths per step, e.g. "1/4" (a sixteenth), "1" (a quarter)
    steps: list[list[int]]              # per step: onsets (pitch), held (HELD + pitch), rests (REST)
    voices: list[str] | None = None     # the voices' names where each step has one slot per voice
    meter: str | None = None            # e.g. "4/4": bars are known (scores); None for a roll
    key: str | None = None              # e.g. "G", "e" (lower case: minor)
    pickup: int = 0                     # steps before the first bar line (0: the piece starts on one)
    fermatas: list[int] = field(default_factory=list)    # steps where a fermata note starts

    def to_json(self) -> dict:
        return {"name": self.name, "grid": self.grid, "steps": self.steps, "voices": self.voices,
                "meter": self.meter, "key": self.key, "pickup": self.pickup, "fermatas": self.fermatas}

    @classmethod
    def from_json(cls, data: dict) -> "GridPiece":
        return cls(data["name"], data["grid"], [list(s) for s in data["steps"]], data.get("voices"),
                   data.get("meter"), data.get("key"), int(data.get("pickup", 0)), list(data.get("fermatas", [])))

    @property
    def step_length(self) -> Fraction:
        return Fraction(self.grid)

    def bar_steps(self) -> int | None:
        """Steps per bar, or None where the piece has no metre or its bar is not a whole number of steps."""
        if not self.meter:
            return None
        return steps_per_bar(self.meter, self.step_length)

    def transposed(self, semitones: int) -> "GridPiece":
        def move(e: int) -> int:
            return e if e == REST else e + semitones
        return GridPiece(self.name, self.grid, [[move(e) for e in s] for s in self.steps], self.voices,
                         self.meter, transposed_key(self.key, semitones) if self.key else self.key,
                         self.pickup, list(self.fermatas))

    def fits(self) -> bool:
        """Every pitch on the 88 keys."""
        return all(LOWEST <= pitch_of(e) <= HIGHEST for s in self.steps for e in s if e != REST)

    def top_line(self) -> list[tuple[int, float, float]]:
        """The highest sounding pitch as notes (pitch, onset, duration) in quarter lengths: the melody
        the copy guard compares."""
        notes: list[list] = []
        length = float(self.step_length)
        previous = None
        for i, step in enumerate(self.steps):
            sounding = [e for e in step if e != REST]
            if not sounding:
                previous = None
                continue
            top = max(sounding, key=pitch_of)
            if previous is not None and not is_onset(top) and pitch_of(top) == previous:
                notes[-1][2] += length
            else:
                notes.append([pitch_of(top), i * length, length])
            previous = pitch_of(top)
        return [tuple(n) for n in notes]


def steps_per_bar(meter: str, step: Fraction) -> int | None:
    try:
        top, bottom = (int(x) for x in meter.split("/"))
    except ValueError:
        return None
    if top <= 0 or bottom <= 0:
        return None
    bar = Fraction(4 * top, bottom) / step
    return int(bar) if bar.denominator == 1 and bar >= 1 else None


# ---- piano-roll JSON ------------------------------------------------------------------------

def read_roll(path: str | Path, split: str | None, grid: str) -> list[GridPiece]:
    """A roll file (JSON: {split: [piece: [step: [MIDI pitch, ...]]]}, as the JSB chorales) → its
    pieces of one split (a split missing or not chosen is a TunesmithError; a broken file a
    ValueError, for the reader to skip with its reason). A pitch that sounded in the step before is held; the roll cannot tell a
    repeated note from a held one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a readable JSON roll: {exc}") from None
    if isinstance(data, dict):
        keys = [k for k, v in data.items() if isinstance(v, list)]
        if split is None:    # a choice the user makes, not a broken file: an error, not a skip
            raise TunesmithError(f"{path} is a roll file with splits ({', '.join(keys)}): pick one with --split")
        if split not in data or not isinstance(data[split], list):
            raise TunesmithError(f"{path} has no split {split!r} (it has: {', '.join(keys) or 'none'})")
        pieces = data[split]
    elif isinstance(data, list):
        pieces = data
    else:
        raise ValueError("a roll is a list of pieces, or an object of named lists of pieces")
    out = []
    for n, piece in enumerate(pieces):
        if not isinstance(piece, list) or not 0 < len(piece) <= MAX_STEPS:
            raise ValueError(f"piece {n + 1} is not a list of 1 to {MAX_STEPS} steps")
        steps, before = [], set()
        for frame in piece:
            if not isinstance(frame, list) or not all(isinstance(p, (int, float)) and float(p).is_integer()
                                                      and 0 <= p <= 127 for p in frame):
                raise ValueError(f"piece {n + 1} has a step that is not a list of MIDI pitches: {frame!r:.60}")
            now = sorted({int(p) for p in frame}, reverse=True)
            steps.append([HELD + p if p in before else p for p in now])
            before = set(now)
        out.append(GridPiece(f"{path}#{split}/{n + 1}" if split else f"{path}#{n + 1}", grid, steps))
    return out


# ---- back to a score ---------------------------------------------------------------------------

def voice_lines(piece: GridPiece, voices: int | None = None) -> list[list[int]]:
    """Each voice's slot per step. A piece without voices is split into voices by rank: held pitches
    stay in the voice that holds them, new ones go to the free voices top down."""
    if piece.voices:
        return [[s[v] if v < len(s) else REST for s in piece.steps] for v in range(len(piece.voices))]
    count = voices or max((len(s) for s in piece.steps), default=1) or 1
    lines = [[REST] * len(piece.steps) for _ in range(count)]
    previous = [REST] * count
    for i, step in enumerate(piece.steps):
        now = [REST] * count
        rest = []
        for e in step:
            holder = next((v for v in range(count) if not is_onset(e) and now[v] == REST
                           and previous[v] != REST and pitch_of(previous[v]) == pitch_of(e)), None)
            if holder is None:
                rest.append(e)
            else:
                now[holder] = e
        free = [v for v in range(count) if now[v] == REST]
        rest.sort(key=pitch_of, reverse=True)
        if len(rest) > len(free):    # more pitches than voices: the lowest are left out
            rest = rest[:len(free)]
        # spread the new pitches over the free voices, keeping their order top down
        for e, v in zip(rest, _spread(len(rest), free)):
            now[v] = e if is_onset(e) else pitch_of(e)     # a pitch changing voice starts again
        for v in range(count):
            lines[v][i] = now[v]
        previous = now
    return lines


def _spread(n: int, free: list[int]) -> list[int]:
    """Which n of the free voices (top down) take n new pitches: the top voice and the bass first."""
    if n >= len(free) or n == 0:
        return free[:n]
    if n == 1:
        return free[:1]
    return free[:n - 1] + free[-1:]


INSTRUMENTS = ("Soprano", "Alto", "Tenor", "Bass", "Violin", "Viola", "Violoncello", "Piano")


def _instrument(name: str):
    """The instrument a voice plays in MIDI and audio: music21's of that name (a choir voice, a string),
    else a piano."""
    from music21 import instrument
    for known in INSTRUMENTS:
        if known.lower() in name.lower():
            return getattr(instrument, known)()
    if "cello" in name.lower():
        return instrument.Violoncello()
    return instrument.Piano()


def runs(line: list[int]) -> list[tuple[int, int, int]]:
    """A voice's slots → its notes and rests as (first step, end step, the entry it starts with): a note
    lasts while its pitch is held, a rest while the voice is silent."""
    out, i = [], 0
    while i < len(line):
        e, j = line[i], i + 1
        while j < len(line) and (line[j] == REST if e == REST else
                                 (line[j] != REST and not is_onset(line[j]) and pitch_of(line[j]) == pitch_of(e))):
            j += 1
        out.append((i, j, e))
        i = j
    return out


def clef_of(line: list[int], name: str) -> str:
    """The clef a voice is written in: treble, tenor (treble an octave down), alto (a viola) or bass
    (a voice mostly below middle C)."""
    low = name.lower()
    if "tenor" in low:
        return "tenor"
    if "viola" in low:
        return "alto"
    sounding = sorted(pitch_of(e) for e in line if e != REST)
    return "bass" if sounding and sounding[len(sounding) // 2] < 60 else "treble"


def _spelled(midi: int, flats: bool):
    """A MIDI pitch spelled as its key would: black keys as flats in a key with flats, else sharps."""
    from music21 import pitch
    p = pitch.Pitch(midi=midi)
    if p.accidental is not None and (p.accidental.name == "sharp") == flats:
        p = p.getEnharmonic()
    return p


def to_score(piece: GridPiece, title: str, voices: int | None = None):
    """A grid piece → a music21 score, one part per voice (named, with the clef its range wants)."""
    from music21 import clef, expressions, key as m21key, meter as m21meter, metadata, note, stream

    length = piece.step_length
    lines = voice_lines(piece, voices)
    names = piece.voices or VOICE_NAMES.get(len(lines)) or [f"Voice {v + 1}" for v in range(len(lines))]
    score = stream.Score()
    score.insert(0, metadata.Metadata(title=title))
    meter = piece.meter or "4/4"
    flats = False
    if piece.key:
        try:
            flats = m21key.Key(piece.key.replace("b", "-") if len(piece.key) > 1 else piece.key).sharps < 0
        except Exception:  # noqa: BLE001 - a key music21 cannot read: sharps
            pass
    for v, line in enumerate(lines):
        part = stream.Part()
        part.partName = names[v] if v < len(names) else f"Voice {v + 1}"
        player = _instrument(part.partName)
        player.partName = part.partName
        part.insert(0, player)
        part.insert(0, m21meter.TimeSignature(meter))
        if piece.key:
            try:
                part.insert(0, m21key.Key(piece.key.replace("b", "-") if len(piece.key) > 1 else piece.key))
            except Exception:  # noqa: BLE001 - a key music21 cannot read is left out
                pass
        part.insert(0, {"bass": clef.BassClef, "tenor": clef.Treble8vbClef, "alto": clef.AltoClef,
                        "treble": clef.TrebleClef}[clef_of(line, part.partName)]())
        offset = Fraction(piece.pickup and (steps_per_bar(meter, length) or 0) - piece.pickup) * length
        for i, j, e in runs(line):
            element = note.Rest() if e == REST else note.Note(_spelled(pitch_of(e), flats))
            element.quarterLength = (j - i) * length
            if e != REST and i in piece.fermatas:
                element.expressions.append(expressions.Fermata())
            part.insert(float(offset + i * length), element)
        part.makeNotation(inPlace=True)
        score.insert(0, part)
    return score
