"""Grid pieces → MusicXML, written directly: one part per voice, measure by measure.

music21 makes the same file from `grid.to_score`, but its notation pass (measures, ties, note types)
costs about a second a chorale, which is most of what `tunesmith compose` spends on a piece. A grid
piece needs none of that search: its bars are fixed by the grid, a note crossing a bar line is tied
over it, and a length no single note has (five eighths) becomes tied notes (a half and an eighth),
as in the **kern writer (`grid_kern`). Grids finer than a power-of-two fraction of a quarter
(triplets) are left to music21 (`writes` says which).
"""

from __future__ import annotations

from fractions import Fraction
from xml.sax.saxutils import escape

from tunesmith.notation.grid import REST, VOICE_NAMES, GridPiece, clef_of, pitch_of, runs, steps_per_bar, voice_lines
from tunesmith.notation.grid_kern import durations, key_sharps

TYPES = {1: "whole", 2: "half", 4: "quarter", 8: "eighth", 16: "16th", 32: "32nd", 64: "64th"}
# General MIDI programs (MusicXML counts from 1) of the instruments voices are named for; else a piano
PROGRAMS = (("soprano", 54), ("alto", 54), ("tenor", 54), ("bass", 54), ("violin", 41), ("viola", 42),
            ("cello", 43), ("piano", 1))
STEPS = ("C", 0), ("C", 1), ("D", 0), ("E", -1), ("E", 0), ("F", 0), ("F", 1), ("G", 0), ("A", -1), ("A", 0), \
    ("B", -1), ("B", 0)
SHARP_NAMES = {1: ("C", 1), 3: ("D", 1), 8: ("G", 1), 10: ("A", 1)}     # black keys in a key with sharps
FLAT_NAMES = {1: ("D", -1), 6: ("G", -1)}                               # ... and with flats


def writes(piece: GridPiece) -> bool:
    """Whether this writer takes the piece: its step is a power-of-two fraction of a quarter (or more)."""
    step = piece.step_length
    return step.numerator & (step.numerator - 1) == 0 and step.denominator & (step.denominator - 1) == 0


def _spelling(midi: int, flats: bool) -> tuple[str, int, int]:
    """(step, alter, octave): black keys as sharps, or as flats in a key with flats."""
    pc, octave = midi % 12, midi // 12 - 1
    if flats:
        step, alter = FLAT_NAMES.get(pc) or STEPS[pc]
    else:
        step, alter = SHARP_NAMES.get(pc) or STEPS[pc]
    return step, alter, octave


def _program(name: str) -> int:
    low = name.lower()
    return next((p for key, p in PROGRAMS if key in low), 1)


CLEFS = {"treble": "<clef><sign>G</sign><line>2</line></clef>",
         "tenor": "<clef><sign>G</sign><line>2</line><clef-octave-change>-1</clef-octave-change></clef>",
         "alto": "<clef><sign>C</sign><line>3</line></clef>", "bass": "<clef><sign>F</sign><line>4</line></clef>"}


def to_musicxml(piece: GridPiece, title: str, voices: int | None = None) -> str:
    """The piece as a MusicXML (partwise) document; `writes(piece)` must hold."""
    lines = voice_lines(piece, voices)
    names = piece.voices or VOICE_NAMES.get(len(lines)) or [f"Voice {v + 1}" for v in range(len(lines))]
    step = piece.step_length
    divisions = step.denominator              # a step is step.numerator divisions
    total = len(piece.steps)
    meter = piece.meter or "4/4"
    bar = steps_per_bar(meter, step) or total or 1
    starts = sorted({0} | set(range(piece.pickup or 0, total, bar)) - {total})
    ends = starts[1:] + [total]
    sharps = key_sharps(piece.key)
    beats, beat_type = meter.split("/")
    key = f"<key><fifths>{sharps}</fifths>" + (f"<mode>{'minor' if piece.key[0].islower() else 'major'}</mode>"
                                               if piece.key else "") + "</key>"
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 3.1 Partwise//EN" '
           '"http://www.musicxml.org/dtds/partwise.dtd">',
           '<score-partwise version="3.1">',
           f"<work><work-title>{escape(title)}</work-title></work>",
           f"<movement-title>{escape(title)}</movement-title>",
           "<identification><encoding><software>tunesmith</software></encoding></identification>",
           "<part-list>"]
    for v in range(len(lines)):
        name = escape(names[v] if v < len(names) else f"Voice {v + 1}")
        out.append(f'<score-part id="P{v + 1}"><part-name>{name}</part-name>'
                   f'<score-instrument id="P{v + 1}-I1"><instrument-name>{name}</instrument-name></score-instrument>'
                   f'<midi-instrument id="P{v + 1}-I1"><midi-channel>{v + 1 if v < 9 else v + 2}</midi-channel>'
                   f"<midi-program>{_program(name)}</midi-program></midi-instrument></score-part>")
    out.append("</part-list>")
    fermatas = set(piece.fermatas)
    for v, line in enumerate(lines):
        out.append(f'<part id="P{v + 1}">')
        notes = _notes(line, starts)
        for m, (a, b) in enumerate(zip(starts, ends)):
            short = b - a < bar
            number = m if piece.pickup else m + 1
            out.append(f'<measure number="{number}"' + (' implicit="yes"' if short and m == 0 else "") + ">")
            if m == 0:
                out.append(f"<attributes><divisions>{divisions}</divisions>{key}<time><beats>{beats}</beats>"
                           f"<beat-type>{beat_type}</beat-type></time>{CLEFS[clef_of(line, names[v])]}</attributes>")
            for start, length, entry, tie_in, tie_out in notes.get(m, []):
                out.append(_note(start, length, entry, tie_in, tie_out, step, b - a == length and entry == REST,
                                 start in fermatas and not tie_in, sharps < 0))
            out.append("</measure>")
        out.append("</part>")
    out.append("</score-partwise>")
    return "\n".join(out) + "\n"


def _notes(line: list[int], starts: list[int]) -> dict[int, list[tuple]]:
    """Measure index → its notes as (first step, steps, entry, tied from before, tied on)."""
    bars = starts[1:]
    out: dict[int, list[tuple]] = {}
    for i, j, e in runs(line):
        cuts = [i] + [b for b in bars if i < b < j] + [j]
        for n, (a, b) in enumerate(zip(cuts, cuts[1:])):
            measure = sum(1 for s in bars if s <= a)
            out.setdefault(measure, []).append((a, b - a, e, n > 0 and e != REST, n < len(cuts) - 2 and e != REST))
    return out


def _note(start: int, steps: int, entry: int, tie_in: bool, tie_out: bool, step: Fraction, whole_rest: bool,
          fermata: bool, flats: bool) -> str:
    """One stretch of a voice inside a measure, as <note> elements (tied where it takes several)."""
    units = step.numerator
    if whole_rest:
        return f'<note><rest measure="yes"/><duration>{steps * units}</duration><voice>1</voice></note>'
    parts = durations(steps * step, step)
    out = []
    for k, token in enumerate(parts):
        r, dots = int(token.rstrip(".")), token.count(".")
        length = Fraction(4, r) * (Fraction(1), Fraction(3, 2), Fraction(7, 4))[dots]
        first, last = k == 0, k == len(parts) - 1
        ties_in = tie_in or not first
        ties_out = tie_out or not last
        if entry == REST:
            body = "<rest/>"
        else:
            name, alter, octave = _spelling(pitch_of(entry), flats)
            body = f"<pitch><step>{name}</step>" + (f"<alter>{alter}</alter>" if alter else "") + \
                f"<octave>{octave}</octave></pitch>"
        duration = int(length / step) * units
        ties = ('<tie type="stop"/>' if ties_in and entry != REST else "") + \
            ('<tie type="start"/>' if ties_out and entry != REST else "")
        tied = ('<tied type="stop"/>' if ties_in and entry != REST else "") + \
            ('<tied type="start"/>' if ties_out and entry != REST else "")
        marks = tied + ("<fermata/>" if fermata and first else "")
        out.append(f"<note>{body}<duration>{duration}</duration>{ties}<voice>1</voice><type>{TYPES[r]}</type>"
                   + "<dot/>" * dots + (f"<notations>{marks}</notations>" if marks else "") + "</note>")
    return "".join(out)


__all__ = ["to_musicxml", "writes"]
