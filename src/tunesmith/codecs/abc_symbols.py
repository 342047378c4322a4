"""The symbols of ABC's body: notes and their lengths, bar lines, chord symbols, tuplets.

Pure functions and tables the body reader (codecs/abc_body.py) and the header reader
(codecs/abc_grammar.py) share; no state of their own.
"""

from __future__ import annotations

try:   # GMP's rationals: the exact arithmetic of fractions.Fraction (equal values, equal hashes), in C
    from gmpy2 import mpq as Fraction   # the grammar hashes a bar position per state: 3x less time
except ImportError:   # pragma: no cover - gmpy2 is a dependency; the grammar is the same without it
    from fractions import Fraction
from functools import lru_cache

NOTES = set("ABCDEFGabcdefg")

RESTS = set("z")
"""(Not `x`, the invisible rest: music21 drops it, and the time it takes with it.)"""

ACCIDENTALS = ("^", "^^", "_", "__", "=")

DECORATIONS = set("~.Tuv")
"""(`H`, the fermata, is not among them: music21 drops the note it marks; `!fermata!` is read by both.)"""

ROLLS = set("~T")
"""Decorations abc2midi refuses on a chord ("Rolls and trills not supported in chords"); so `!trill!`."""

VALUE_CHARS = {"Q": set("0123456789/= "), "P": set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.()"),
               "K": set("ABCDEFGabcdefg#mMajinorDdoOrMmixXyLlydPphrloc ")}
"""What a field value may hold where no list of values is known: a tempo, a part label, a key."""

BANG_DECORATIONS = ("!trill!", "!fermata!", "!accent!")


def marked(marks: str, mark: str) -> str:
    """A note's marks with `mark` added ("." staccato, "!" fermata). abc2midi pairs two notes (`>`, `<`, a
    hornpipe's unit notes) only if they carry the same marks: "Notes not equal durations" otherwise."""
    return marks if mark in marks else "".join(sorted(marks + mark))


def compound(meter: str | None) -> bool:
    """Whether a meter is compound (6/8, 12/8, 6/4: (5 lasts 3 notes), by its upper number (6/8's length is 3/4)."""
    upper = (meter or "").split("/", 1)[0].strip()
    return upper.isdigit() and int(upper) % 3 == 0 and int(upper) > 3


SLUR_BARS = 4
"""A slur closes before its fifth bar line (the corpora's longest span is two). Without it a model
that forgets a slur writes on to the length cap, where the tune is cut unfinished."""

EMPTY_BARS = 3
"""At most this many bar lines in a row with no note or rest between them after the one that closes a
bar (the corpora's most is `:| |: || |:`). Models that stray write runs of them (`[|[|[|:|:[|`),
which abc2midi reads as repeat signs the grammar never saw."""

EMPTY_START = 8
"""Before a tune's first note or rest, at most this many bar lines: the Essen songs begin with up to 8
(` |  |  |  | A2A2`, empty bars in place of a pickup), which music21 and abc2midi both read as nothing."""

GAP_LIMIT = 40
"""At most this many characters between two notes or rests (the corpora's longest stretch without one
is about half of it: a field line, chord symbols, spaces). Without it a row that strays can write
decorations, spaces or an annotation forever, as nothing of the grammar forbids it."""

LENGTHS = ({n + d for n in ("", "1", "2", "3", "4", "5", "6", "7", "8", "9", "12", "16", "24", "32")
            for d in ("", "/", "/2", "/4", "/8", "/16")} | {"//", "///"}) - {"1/"}
"""Note length suffixes. `3//` is not one: the standard reads it as 3/4, music21 as 3/2. (24 and 32: the
Essen songs written in L:1/32 hold whole and dotted half notes so.)"""

# bar lines music21 and abc2midi both read, and which side music21 gives a special one to
# (`::` ends one repeat and starts the next: music21 loses the bars after it, but `check` passes
# such tunes and the corpus has many: it is read as `:|` and `|:`, which is what it means)
BARS = ("|", "||", "|]", "[|", "|:", ":|", ":||:", ":|:", ":||", "||:", "::")

RIGHT_SPECIAL = {"||", "|]", "[|", ":|", ":||:", ":|:", ":||", "||:", "::"}   # the bar it closes may be short

LEFT_SPECIAL = {"||", "[|", "|:", ":||:", "::"}                         # so may the bar it opens
# (not ||:, which music21 reads as a double bar line and a dotted left one: the bar it opens may be short
# as the one after a double bar line, but it does not let the bar after it be short too)

CHORD_KINDS = ("", "m", "7", "m7", "maj7", "M7", "6", "m6", "aug", "+", "dim", "dim7", "9", "m9", "sus4",
               "sus", "7sus4", "sus2", "11", "13", "m7b5", "5", "maj9")

@lru_cache(maxsize=256)
def prefixes(values: tuple | frozenset) -> frozenset:
    """Every beginning of every value (the empty one too): a value being written is one of them."""
    return frozenset(v[:k] for v in values for k in range(len(v) + 1))


ANY_METER = ("C", "C|", *(f"{n}/{d}" for d in (1, 2, 4, 8, 16, 32) for n in range(1, 17)))
"""The meters music21 and abc2midi read: a header's where the corpus gave no list, any change in the body."""


def _number(text: str, digits: int) -> bool:
    """A prefix of a whole number without a leading zero of at most `digits` digits."""
    return text == "" or (text.isdigit() and text[0] != "0" and len(text) <= digits)


BEATS = ("1", "2", "4", "8", "16", "32", "64")
"""The note values a Q: beat may have (`3/8=60`)."""


def tempo(value: str, done: bool) -> bool:
    """A Q: value music21 and abc2midi both read (`done`), or a prefix of one: beats per minute
    (`96`) or a beat and its number per minute (`1/4=96`, `3/8=60`), 10 to 999."""
    beat, eq, bpm = value.rpartition("=") if "=" in value else ("", "", value)
    if eq:
        num, slash, den = beat.partition("/")
        if not (len(num) == 1 and num != "0" and num.isdigit() and slash and den in BEATS):
            return False
    elif "/" in bpm:      # still writing the beat (abc2midi: its note value is a power of two)
        num, _, den = bpm.partition("/")
        return (not done and len(num) == 1 and num != "0" and num.isdigit()
                and any(b.startswith(den) for b in BEATS))
    return _number(bpm, 3) and (not done or len(bpm) >= 2)


def meter_length(value: str) -> Fraction | None:
    """An M: value → the bar's length in whole notes; None for a free meter."""
    value = value.strip()
    if value in ("C", "C|"):
        return Fraction(1)
    num, _, den = value.partition("/")
    if num.isdigit() and den.isdigit() and int(den) > 0 and int(num) > 0:
        return Fraction(int(num), int(den))
    return None

def unit_length(value: str) -> Fraction:
    num, _, den = value.strip().partition("/")
    return Fraction(int(num), int(den)) if num.isdigit() and den.isdigit() and int(den) else Fraction(1, 8)

@lru_cache(maxsize=None)     # (its callers pass suffixes of LENGTHS: a few dozen)
def length_value(text: str) -> Fraction:
    """A note's length suffix ("", "3", "/", "3/2", "//") → multiple of the unit length."""
    num, slash, rest = text.partition("/")
    value = Fraction(int(num)) if num else Fraction(1)
    if not slash:
        return value
    if rest.isdigit():
        return value / int(rest)
    return value / 2 ** (1 + len(rest))     # "/" halves, "//" quarters

@lru_cache(maxsize=None)
def shortest_length(prefix: str) -> Fraction | None:
    """The shortest length a suffix starting with `prefix` can still reach; None when none can."""
    found = [length_value(s) for s in LENGTHS if s.startswith(prefix)]
    return min(found) if found else None

@lru_cache(maxsize=None)
def reaches(prefix: str, units: Fraction) -> bool:
    """Whether a length suffix starting with `prefix` can still come to `units`."""
    return any(length_value(x) == units for x in LENGTHS if x.startswith(prefix))

def tuplet(text: str, compound: bool) -> tuple[Fraction, int] | None:
    """A tuplet mark's digits ("3", "3:2:3") → (factor, notes), or None."""
    parts = text.split(":")
    if not parts[0].isdigit() or not 2 <= int(parts[0]) <= 9 or any(p and not p.isdigit() for p in parts):
        return None
    p = int(parts[0])
    q = int(parts[1]) if len(parts) > 1 and parts[1] else (3 if p in (2, 4, 8) else 2 if p in (3, 6)
                                                            else (3 if compound else 2))
    r = int(parts[2]) if len(parts) > 2 and parts[2] else p
    return (Fraction(q, p), r) if q and r else None

BAR_PREFIXES = frozenset(b[:i] for b in BARS for i in range(1, len(b) + 1))

ENDING_BARS = ("|", ":|")         # a bar line an ending's number may follow (|1, :|2)

@lru_cache(maxsize=65536)    # (the grammar reads the same few notes over and over)
def read_note(sub: tuple, ch: str):
    """One character of a note token (accidentals, pitch letter, octave marks, length):
    the token read so far, ("done", units, pitch) when `ch` ends it (then `ch` is read again after
    it), or None where `ch` cannot come."""
    if not sub or sub[0] == "acc":
        acc = sub[1] if sub else ""
        if ch in "^_=" and acc + ch in ACCIDENTALS:
            return ("acc", acc + ch)
        return ("n", ch, "", "") if ch in NOTES else None
    _, letter, octs, lens = sub
    # abc2midi refuses a comma after a lower-case letter and an apostrophe after a capital
    if ch in ",'" and not lens and len(octs) < 2 and letter not in RESTS and (ch == ",") == letter.isupper():
        return ("n", letter, octs + ch, lens)
    if (ch.isdigit() or ch == "/") and shortest_length(lens + ch) is not None:
        return ("n", letter, octs, lens + ch)
    if lens not in LENGTHS:
        return None
    return ("done", length_value(lens), None if letter in RESTS else letter + octs)

@lru_cache(maxsize=None)
def _chord_tails() -> frozenset:
    """What may follow a chord symbol's root letter: an accidental, a kind, a bass."""
    basses = [""] + ["/" + r + a + p for r in "ABCDEFGabcdefg" for a in ("", "#", "b") for p in ("", "+")]
    return frozenset(a + k + b for a in ("", "#", "b") for k in CHORD_KINDS for b in basses)


def chord_symbol(text: str, done: bool) -> bool:
    """Whether `text` is a chord symbol written (`done`), or the beginning of one: a root, a kind, an
    optional bass ("Am7", "D/f#"), or such a chord in parentheses ("(D7)": one to play or leave out)."""
    paren = text.startswith("(")
    body = text[1:] if paren else text
    if not body:
        return not done
    if body[0] not in "ABCDEFG":
        return False
    tails, tail = _chord_tails(), body[1:]
    closed = paren and tail.endswith(")") and tail[:-1] in tails
    if done:
        return closed if paren else tail in tails
    return closed or tail in prefixes(tails)
