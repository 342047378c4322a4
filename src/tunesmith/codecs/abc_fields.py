"""Field lines and inline fields in the body of an ABC tune (for the body reader, codecs/abc_body.py): which
may come where, what a change of meter, unit note length, key or part does to the state, and how a field
line inside a bar ends it as music21 reads it."""

from __future__ import annotations

from tunesmith.codecs.abc_state import GAP_LIMIT, Body, _close_bar
from tunesmith.codecs.abc_symbols import VALUE_CHARS, compound, meter_length, tempo, unit_length
from tunesmith.notation import abc

FIELD_LINE_LETTERS = set("KMLPQTWI")     # abc2midi: no R: (nor B: N: S: Z: ...) in the body
INLINE_LETTERS = set("KMLPQ")


def _part_closes(s: Body, continued: bool = False) -> Body | None:
    """A field line (P:, K:, Q:, T:, W:, I:) in a bar that holds notes: music21 ends the bar there (abc2midi
    reads on), so the bar must be full or the tune's pickup, and it ends as at a plain bar line; None where
    it may not (M: and L: never come inside a bar).

    After a line continued with a backslash (`continued`) a short bar may go on past the field line, as in
    Nottingham's "Merry Month of May" (`efe dc\\ P:C B||`): music21 reads two short bars there, which
    `check` allows beside a repeat sign or double bar, so the bar must be one that is split (its own left
    bar line, or the one that ends it: `owe`), and not one music21 would give a time signature of its own
    (as `_close_bar` refuses a short bar: after a line that ended a full bar, or after a body M:). A short
    bar before it that leans on it (`owe`) needs its left bar line: music21 ends this one at the label."""
    if s.meter is not None and s.pos < s.meter and s.bar != 0:
        if not continued or s.full or (not s.left and (s.metered or s.owe)):
            return None
        return s._replace(owe=True)
    closed = _close_bar(s, "|")
    return None if closed is None else closed._replace(barend=False)   # (no ending may follow it)


def may_label(s: Body) -> bool:
    """Whether a part label (P: in the body) may come: not right after another (models that stray write
    runs of them), not once every part of the header's part order is labelled, and not while a repeat is
    open or a tie waits in a tune with a part order (abc2midi plays the parts in that order, each alone:
    "Missing :| at end of tune"; the part played after this one may not hold the tied pitch: "Sustained
    notes beyond end of track")."""
    return not (s.part or s.parts == "" or (s.parts is not None and (s.rep or s.tie is not None or s.wait)))


def _in_field(g, s: Body, ch: str) -> Body | None:
    """A field in the body: a line `K:D`, or inline `[M:3/4]`."""
    kind, letter, value = s.tok
    if value is None:
        return s._replace(tok=(kind, letter, "")) if ch == ":" else None
    end = "\n" if kind == "field" else "]"
    # a key may change to one no header had (any tonic and mode)
    values = {"M": g.body_meters, "L": g.units, "K": abc.KEY_VALUES}.get(letter)
    if ch == end:
        if (values is not None and value not in values) or not value.strip() or (
                letter == "Q" and not tempo(value, True)):
            return None
        if letter == "M":
            s = s._replace(meter=meter_length(value), compound=compound(value), metered=True)
        elif letter == "L":
            s = s._replace(unit=unit_length(value))
        if kind == "field" and not s.filled:
            s = s._replace(left=False)    # music21 drops a bar's left bar line when a field line comes after it
        if letter == "P" and s.parts is not None:
            s = s._replace(parts=s.parts.replace(value, ""))
        return s._replace(tok=(), ls=kind == "field", fresh=s.fresh or letter in "MLK", part=s.part or letter == "P")
    if ch in "@%\\\n]" or not ch.isprintable() or (values is None and ch not in VALUE_CHARS.get(letter, ch)) or (
            ch == "|" and not value):     # (music21 and abc2midi read a line `T:|A` as music)
        return None
    if values is None and s.gap >= 2 * GAP_LIMIT:    # free text ends within the gap's last limit
        return None
    value += ch
    if values is not None and value not in g.value_sets(values)[1]:
        return None
    # a part in the body is one letter (abc2midi reads "P:A3" as part A three times)
    if len(value) > (1 if letter == "P" else 30) or (letter == "Q" and not tempo(value, False)) or (
            letter == "P" and (not ch.isupper() or (s.parts is not None and ch not in s.parts))):
        return None
    return s._replace(tok=(kind, letter, value if letter in "MLKQP" or values is not None else "x"))
