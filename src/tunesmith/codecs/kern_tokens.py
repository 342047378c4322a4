"""The pieces of the **kern grammar (codecs/kern_grammar.py): durations in ticks, the interpretations and
signifiers a field may hold, and the reader's state."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple, Sequence
from tunesmith.notation import kern


TICKS = 26880                  # per quarter note: 2^8 · 3 · 5 · 7
RECIPS = {"0": 8 * TICKS, "00": 16 * TICKS}
for _r in (1, 2, 4, 8, 16, 32, 64, 128, 3, 6, 12, 24, 48, 96, 5, 10, 20, 40, 80, 7, 14, 28, 56, 112):
    RECIPS[str(_r)] = 4 * TICKS // _r
MAX_DOTS = 3
MAX_BAR = 16                   # quarter notes in a bar at most (4/1)
DENOMINATORS = ("1", "2", "4", "8", "16", "32")   # of a meter
MAX_SPINES = 16
MAX_OCTAVE = 5                 # letters of one pitch: cccccc is past the keyboard
MAX_PREFIX = 6                 # signifiers before a note's duration (the corpora: `(</(>`, 5)
MAX_INTERPRETATIONS = 6       # lines in a row (the body's head: meter, key, signature, then clef, split, ...)
MAX_SIGNIFIERS = 8             # after its pitch (the corpora: `16bb-SSsLL]`, 8)
PITCHES = frozenset("abcdefgABCDEFG")
PREFIX = frozenset("([{&<>N/\\)")         # signifiers before a note's duration (slurs, ties, phrases, ...)
MIDDLE = PREFIX | frozenset("qQpP")     # between its duration and its pitch (grace notes, appoggiaturas)
# signifiers after the pitch (accidentals, ties, beams, articulations, ornaments, stems, grace marks, ...)
SUFFIX = frozenset("#-n()[]{}_LJKk'\"~^;:/\\<>xXyYqQtTmMwWSsRuUvVzZ$&OoNpPiI")


def _interpretations() -> frozenset:
    """The interpretation fields (after `*`) a sample may write besides meters and spine splits and
    merges: clefs, key signatures, keys and modes, section labels, tempi, and the layout marks the corpora
    use. A closed list: music21 refuses a clef or key signature it cannot read."""
    fields = {"clef" + c for c in ("G2", "G1", "Gv2", "G^2", "F4", "F3", "F5", "Fv4", "C1", "C2", "C3", "C4", "C5")}
    sharps, flats = "fcgdaeb", "beadgcf"
    for n in range(8):
        fields.add("k[" + "".join(p + "#" for p in sharps[:n]) + "]")
        fields.add("k[" + "".join(p + "-" for p in flats[:n]) + "]")
    modes = ("", "dor", "phr", "lyd", "mix", "aeo", "ion", "loc")
    for tonic in [t + a for t in "ABCDEFGabcdefg" for a in ("", "#", "-")] + ["?"]:
        fields.update(f"{tonic}:{m}" for m in modes)
    fields.add("?:X")
    fields.update(f">{label}{n}" for label in "ABCDEFGHIJKLMNOP" for n in ("", "1", "2", "3"))
    fields.update(f"MM{n}" for n in range(30, 241))
    fields.update(("met(c)", "met(c|)", "met(C)", "met(C|)", "met(O)", "met(3)", "Xtuplet", "tuplet",
                   "Xbrackettup", "brackettup", "RH", "LH", "ped", "Xped", "cue", "Xcue", "staff1", "staff2",
                   "staff3", "staff4", "staff1/2"))
    return frozenset(fields)


INTERPRETATIONS = _interpretations()
# what a **dynam spine holds (those of the Mozart sonatas, and their kin), several separated by spaces
DYNAMICS = frozenset(("p", "pp", "ppp", "mp", "mf", "f", "ff", "fff", "fp", "mfp", "sf", "sfp", "sfz", "fz", "rf",
                      "rfz", "<", ">", "[", "]", "[[", "]]", "(", ")", "f)", "/"))


def _prefixes(words) -> frozenset:
    return frozenset(w[:k] for w in words for k in range(1, len(w) + 1))


def dotted(ticks: int, dots: int) -> int:
    return ticks * (2 ** (dots + 1) - 1) // 2 ** dots


def meter_ticks(numerator: int, denominator: int) -> int | None:
    """A bar of numerator/denominator in ticks, None where it is not a whole number of them."""
    if numerator <= 0 or denominator <= 0 or (4 * TICKS * numerator) % denominator:
        return None
    if 4 * numerator > MAX_BAR * denominator:
        return None
    return 4 * TICKS * numerator // denominator


class State(NamedTuple):
    kinds: tuple | None        # per open spine: True for **kern, False for others (None: the first line)
    pos: tuple                 # per open spine: ticks into the bar (0 for spines that are not **kern)
    bar: int                   # ticks in a bar of the current meter (0: no meter yet)
    head: int                  # lines written, counted to 3 (the forced head lines are the first two)
    first: bool                # in the first bar (a pickup may be short)
    styled1: bool              # the last marker was a repeat/double/final barline
    styled2: bool              # the one before it was
    owe: bool                  # the last bar was short: the next marker is styled, or the piece ends after it
    must_end: bool             # only the end is left
    after_marker: bool         # the last line was a marker (the piece may end)
    line: str                  # "" line start, "d" data, "i" interpretation, "m" marker
    field: int                 # the field being written (0-based)
    ltime: int                 # data line: its time in the bar; interpretation line: the meter it sets (0: none)
    note: bool                 # data line: a field so far is not `.`
    codes: tuple               # interpretation line: per finished field, "^", "v", "M" or "" (no spine change)
    fs: tuple                  # the field's parse state (see `_kern_field`)
    split: tuple = ()          # per open spine: it came from a split (`*^`); music21 merges no other spines
    interps: int = 0           # interpretation lines in a row (a sample may not write them forever)
    ever: tuple = ()           # per open spine: it or a spine merged into it was ever split (see _can_merge)
    root: tuple = ()           # per open spine: the spine of the first line it comes from
    cross: bool = False        # voices of two spines of the first line were merged: the next marker is the last
