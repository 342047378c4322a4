"""Grid pieces → Humdrum **kern: one spine per voice (the lowest on the left, as kern has it).

A grid piece is already what **kern is: voices on one time line, bar by bar. Each row is a moment
where some voice starts a note or a rest; a note that runs past a bar line is tied across it, and a
length no single kern duration has (five eighths) becomes tied notes (a half and an eighth). So every
measure of every spine adds up, and music21 reads the file back to the same grid.

(Verovio converts MEI to Humdrum too, but its converter writes an extra **xmlid spine per part and
breaks the measures of a four-part chorale, so it is not used here.)
"""

from __future__ import annotations

from fractions import Fraction

from tunesmith.notation.grid import REST, VOICE_NAMES, GridPiece, clef_of, pitch_of, runs, steps_per_bar, voice_lines

KERN_CLEFS = {"treble": "*clefG2", "tenor": "*clefGv2", "alto": "*clefC3", "bass": "*clefF4"}

# kern durations: reciprocal of a whole note, with up to two dots; longest first, and of equal lengths
# the plainest (a quarter is 4, not a dotted triplet half 6.)
_DURATIONS = [(d, text) for d, _, _, text in sorted(
    (-(Fraction(4, r) * m), dots, r & (r - 1) != 0, f"{r}{'.' * dots}")
    for r in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
    for dots, m in ((0, Fraction(1)), (1, Fraction(3, 2)), (2, Fraction(7, 4))))]
_DURATIONS = [(-d, text) for d, text in _DURATIONS]
_PLAIN = [(d, text) for d, text in _DURATIONS if int(text.rstrip(".")) & (int(text.rstrip(".")) - 1) == 0]
_SHARPS = "F C G D A E B".split()      # the order sharps come in (flats: backwards)
_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}


def durations(length: Fraction, step: Fraction | None = None) -> list[str]:
    """A length in quarters as kern durations to tie, longest first, each a whole number of `step`s
    where one is given: plain and dotted notes where they add up to it, else triplets too (empty where
    nothing does)."""
    for pool in (_PLAIN, _DURATIONS):
        out: list[str] = []
        left = length
        while left > 0:
            found = next(((d, text) for d, text in pool if d <= left and (step is None or (d / step).denominator == 1)),
                         None)
            if found is None:
                break
            out.append(found[1])
            left -= found[0]
        if left == 0:
            return out
    return []


def key_sharps(key: str | None) -> int:
    """Sharps (negative: flats) of a key written as the grid codec writes it: 'D' major, 'f#' minor."""
    if not key or key[0].upper() not in _FIFTHS:
        return 0
    fifths = _FIFTHS[key[0].upper()] + 7 * (key[1:].count("#") - key[1:].count("b"))
    return fifths - 3 if key[0].islower() else fifths      # minor: its relative major's, three fifths down


def pitch_token(midi: int, flats: bool) -> str:
    """A MIDI pitch in kern: c = middle C, cc an octave up, C an octave down; # sharp, - flat."""
    names = ("C", "D-", "D", "E-", "E", "F", "G-", "G", "A-", "A", "B-", "B") if flats else \
        ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    name = names[midi % 12]
    octave = midi // 12 - 1
    letter, accidental = name[0], name[1:]
    text = letter.lower() * (octave - 3) if octave >= 4 else letter * (4 - octave)
    return text + accidental


def _signature(sharps: int) -> str:
    order = _SHARPS if sharps >= 0 else list(reversed(_SHARPS))
    mark = "#" if sharps >= 0 else "-"
    return "*k[" + "".join(n.lower() + mark for n in order[:abs(sharps)]) + "]"


def to_kern(piece: GridPiece, title: str, voices: int | None = None) -> str:
    """The piece as a **kern file (text)."""
    lines = voice_lines(piece, voices)
    count = len(lines)
    names = piece.voices or VOICE_NAMES.get(count) or [f"Voice {v + 1}" for v in range(count)]
    step = piece.step_length
    total = len(piece.steps)
    bar = steps_per_bar(piece.meter, step) if piece.meter else None
    starts = sorted({0, total} | (set(range(piece.pickup or 0, total, bar)) if bar else set()))
    bars = set(starts[1:-1]) if bar else set()
    sharps = key_sharps(piece.key)
    flats = sharps < 0
    fermatas = set(piece.fermatas)
    # each voice's tokens by the step they start at
    tokens: list[dict[int, str]] = []
    for line in lines:
        at: dict[int, str] = {}
        for i, j, e in runs(line):
            # cut at the bar lines inside the note, then into kern durations: tied pieces
            cuts = [i] + [b for b in sorted(bars) if i < b < j] + [j]
            pieces = [(a, d) for a, b in zip(cuts, cuts[1:]) for a, d in _split(a, b, step)]
            for n, (a, d) in enumerate(pieces):
                if e == REST:
                    at[a] = f"{d}r"
                    continue
                tie = "" if len(pieces) == 1 else "[" if n == 0 else "]" if n == len(pieces) - 1 else ""
                middle = "_" if 0 < n < len(pieces) - 1 else ""
                text = d + pitch_token(pitch_of(e), flats)
                text = (tie if tie == "[" else "") + text + middle + (tie if tie == "]" else "")
                at[a] = text + (";" if n == 0 and i in fermatas else "")
        tokens.append(at)
    spines = list(range(count - 1, -1, -1))      # the lowest voice first
    out = [f"!!!OTL: {title}"] if title else []
    out += ["\t".join(["**kern"] * count),
            "\t".join(f"*staff{v + 1}" for v in spines),
            "\t".join(f'*I"{names[v]}' for v in spines),
            "\t".join(KERN_CLEFS[clef_of(lines[v], names[v])] for v in spines),
            "\t".join([_signature(sharps)] * count)]
    if piece.key and piece.key[0].upper() in _FIFTHS:
        tonic = piece.key[0] + piece.key[1:].replace("b", "-")
        out.append("\t".join([f"*{tonic}:"] * count))
    if piece.meter:
        out.append("\t".join([f"*M{piece.meter}"] * count))
    number = 1
    for s in range(total):
        if s in bars or (s == 0 and bar and not piece.pickup):
            out.append("\t".join([f"={number}" + ("-" if s == 0 else "")] * count))
            number += 1
        if any(s in tokens[v] for v in spines):
            out.append("\t".join(tokens[v].get(s, ".") for v in spines))
    out.append("\t".join(["=="] * count))
    out.append("\t".join(["*-"] * count))
    return "\n".join(out) + "\n"


def _split(a: int, b: int, step: Fraction) -> list[tuple[int, str]]:
    """Steps a..b as kern durations, each with the step it starts at."""
    out, at = [], a
    for d in durations((b - a) * step, step):
        out.append((at, d))
        at += int(_length(d) / step)
    return out


def _length(token: str) -> Fraction:
    dots = token.count(".")
    base = Fraction(4, int(token.rstrip(".")))
    return base * (Fraction(1) if dots == 0 else Fraction(3, 2) if dots == 1 else Fraction(7, 4))


__all__ = ["to_kern", "durations", "pitch_token", "key_sharps"]
