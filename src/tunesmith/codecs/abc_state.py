"""The state of the ABC body reader (codecs/abc_body.py) and the rules that need only the state:
how full the bar is, bar lines with repeats and variant endings as abc2midi reads them, chord symbols,
bang decorations (field lines and inline fields: codecs/abc_fields.py). A `Body`: where the bar stands (`pos`, exact
fractions of a whole note), what the bars around it allow (pickup, split bars at repeats and
endings), what is open (slurs, a tuplet, a tie, a repeat, a variant ending) and the token being read
(`tok`)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from tunesmith.codecs.abc_symbols import (BANG_DECORATIONS, BARS, EMPTY_BARS, EMPTY_START, GAP_LIMIT, LEFT_SPECIAL,
                                          LENGTHS, RESTS, RIGHT_SPECIAL, ROLLS, SLUR_BARS, Fraction, chord_symbol,
                                          length_value, marked, shortest_length, tuplet)

SHORTEST = shortest_length("")      # the shortest note length written, in unit lengths


class Body(NamedTuple):
    meter: Fraction | None
    unit: Fraction
    pos: Fraction = Fraction(0)    # how much of the bar is written
    bar: int = 0                   # 0 in the first bar (a pickup may be short)
    left: bool = False             # this bar is split: opened by a special bar line, or an ending
    prev: bool = False             # the bar before was split
    owe: bool = False              # the bar before was short: this bar must be split
    filled: bool = False           # this bar holds a note or rest
    notes: bool = False            # the tune holds a note
    slurs: int = 0
    tup: tuple | None = None       # (factor, notes left)
    brk: Fraction = Fraction(1)    # the next note's broken-rhythm factor
    tok: tuple = ()                # the token being read
    last: tuple | None = None      # (duration, pitch) of a note just finished (for > < and -)
    ls: bool = False               # at the start of a line
    tie: str | None = None         # the pitch a tie waits for
    rep: bool = False              # a |: is open
    barend: bool = False           # the last thing written was a bar line
    compound: bool = False         # the meter is compound (tuplet defaults)
    pair: Fraction | None = None   # the length the note after `>` must be written with (abc2midi)
    gap: int = 0                   # characters since the last note or rest ended (see GAP_LIMIT)
    closed: bool = False           # a :| closed a repeat and no |: (nor the end of a variant) since
    var: bool = False              # a variant ending runs: no other may begin before a special bar line
    mark: str = ""                 # the note being written is staccato "." or has a fermata "!" (see `marked`)
    pmark: str | None = None       # the mark the note after `>` must have (None: the one before was a chord)
    swung: str | None = None       # a hornpipe's unit note began a pair of units: the mark the next must have
    grace: bool = False            # grace notes came and no note since (abc2midi: no second group)
    ends: bool = False             # the last bar line was a :| that ended a variant (a second may begin)
    acc: str = ""                  # the accidental of the note being read
    tacc: str = ""                 # the accidental of the note a tie comes from
    roll: bool = False             # a roll or trill marks what comes next (abc2midi: not a chord)
    lead: bool = False             # the line so far is spaces (a line of spaces ends the tune)
    span: int = 0                  # bar lines since the outer open slur began (see SLUR_BARS)
    swing: bool = False            # a hornpipe: abc2midi pairs its unit-length notes itself
    held: tuple = ()               # the pitches of the chord being read
    ctie: tuple = ()               # its pitches that are tied
    wait: tuple = ()               # the pitches tied from the chord before: the next note or chord holds them
    first: bool = False            # a first ending runs: only a :| ends it (abc2midi)
    full: bool = False             # a line's end closed the bar before: this one may not be short (see _close_bar)
    empty: int = 0                 # bar lines since the last that closed a bar with a note or rest (EMPTY_BARS)
    fresh: bool = False            # an M:, L: or K: field came and no note since: the tune may not end (music21
    # gives a last M: with no note after it to the bars before it)
    part: bool = False             # a P: came and no note since (no second: models that stray write runs of them)
    shut: bool = False             # a :| closed a repeat and no |: since (a :: would be "found :: before |:")
    harm: bool = False             # a chord symbol came: abc2midi plays chords to the end (see ragged)
    ragged: bool = False           # the last bar ended off the eighth-note grid with chords playing: abc2midi
    # cuts a chord there ("Sustained notes beyond end of track"), so the tune may not end after it
    metered: bool = False          # an M: came in the body: the bar after it is full unless it is the pickup or
    # opened by |: or an ending (as in every valid tune of the corpora; `check` would allow a short one by a
    # repeat sign, but music21 read such bars wrongly until notation/abc_music21.py)
    owed: bool = False             # a tie ran into a first ending: the second must follow its :| (abc2midi,
    # without one: "Sustained notes beyond end of track")
    parts: str | None = None       # with a part order in the header: its parts no P: in the body has labelled
    # yet (each is labelled once: abc2midi refuses "Part defined more than once")
    closing: bool = False          # late in the length budget (the sampler's wind-down): a bar line may not
    # leave a repeat or a first ending open, so a row that opened one closes it (:|) and may end


_FIELD = {name: i for i, name in enumerate(Body._fields)}
GAP, LEAD = _FIELD["gap"], _FIELD["lead"]


def _replace(self: Body, **changes) -> Body:
    """`Body._replace`, twice as fast (a state is copied at almost every character the grammar reads)."""
    values = list(self)
    for name, value in changes.items():
        values[_FIELD[name]] = value
    return tuple.__new__(Body, values)


Body._replace = _replace     # (typing.NamedTuple forbids defining _replace in the class body)


def replacer(*names: str):
    """A function `(state, value, ...)` that returns the state with the fields `names` set to the values,
    positionally: four times faster than `_replace` with many keywords, for the reader's hottest copies
    (built as source with the fields' places written in, as `collections.namedtuple` builds its class)."""
    args = ", ".join(f"v{i}" for i in range(len(names)))
    sets = "".join(f"    values[{_FIELD[name]}] = v{i}\n" for i, name in enumerate(names))
    space = {"new": tuple.__new__, "Body": Body}
    exec(f"def replace(state, {args}):\n    values = list(state)\n{sets}    return new(Body, values)\n", space)
    return space["replace"]


def _fits(s: Body, units: Fraction) -> bool:
    """Whether a note of `units` unit lengths (before broken-rhythm and tuplet factors) may be written:
    it fits the bar and leaves a rest of it that notes can fill (see `_some_length`)."""
    return _can_write(s, None, units)


def _can_write(s: Body, prefix: str | None = "", units: Fraction = Fraction(1), chord: bool = False) -> bool:
    """Whether a note whose length suffix begins with `prefix` (None: exactly `units` unit lengths;
    a chord: `units` is its first note's length, times the suffix) may still be written."""
    if s.meter is None:
        return True
    key = (s.meter, s.pos, s.unit, s.brk, s.tup, None if chord else s.pair, prefix, units)
    found = _WRITABLE.get(key)       # (the fields as they are: Fraction arithmetic costs more than the look-up)
    if found is None:
        tup = None if s.tup is None or s.tup[1] <= 1 else (s.tup[0], s.tup[1] - 1)
        found = _some_length(s.meter - s.pos, s.unit * s.brk * (s.tup[0] if s.tup else 1), s.unit, tup,
                             None if chord else s.pair, prefix, units, s.tup is not None)
        if len(_WRITABLE) > 100_000:
            _WRITABLE.clear()
        _WRITABLE[key] = found
    return found


_WRITABLE: dict[tuple, bool] = {}


@lru_cache(maxsize=65536)
def _some_length(room: Fraction, scale: Fraction, unit: Fraction, tup: tuple | None, pair: Fraction | None,
                 prefix: str | None, units: Fraction, tuplet: bool = False) -> bool:
    """Some length (of the suffixes beginning `prefix`, times `units`) fits `room` and leaves a rest
    of the bar that notes can fill exactly (a tuplet's owed notes first). Without this a bar could be
    left 1/192 short, or a tuplet owe notes at a full bar: dead ends where a tune can only be cut. In a
    tuplet a note is one plain or dotted value (music21 cannot put a tied one, `a9/16`, in a tuplet)."""
    found = [units] if prefix is None else [units * length_value(x) for x in LENGTHS if x.startswith(prefix)]
    return any((pair is None or length == pair) and length * scale <= room
               and (not tuplet or _one_value(length * unit))
               and _fillable((room - length * scale) / (SHORTEST * unit), tup) for length in found)


def _one_value(whole: Fraction) -> bool:
    """Whether a duration (in whole notes) is one note value: a power of two, dotted or double-dotted."""
    for dots in (Fraction(1), Fraction(3, 2), Fraction(7, 4)):
        ratio = whole / dots
        if ratio.numerator == 1 and ratio.denominator & (ratio.denominator - 1) == 0:
            return True
        if ratio.denominator == 1 and ratio.numerator & (ratio.numerator - 1) == 0:
            return True
    return False


@lru_cache(maxsize=65536)
def _fillable(room: Fraction, tup: tuple | None) -> bool:
    """Whether notes can fill `room` (in shortest notes) exactly: the `tup[1]` notes a tuplet still owes
    (each a whole number of shortest notes times `tup[0]`), then plain notes (whole numbers of them)."""
    if tup is None:
        return room.denominator == 1
    factor, owed = tup
    count = owed
    while count * factor <= room:
        # (a tuplet's notes are one value each: one note owed takes a count of shortest notes that is
        # one value itself; two or more can make any count)
        if (room - count * factor).denominator == 1 and (owed > 1 or _one_value(Fraction(count))):
            return True
        count += 1
    return False


def _commits(s: Body, units: Fraction, pitch: str | None) -> bool:
    """Whether a note (pitch), rest (None) or chord ("[") of `units` unit lengths may be written (abc_body._commit)."""
    return (_fits(s, units) and (s.tie is None or pitch == s.tie) and (s.pair is None or units == s.pair)
            and (not s.wait or pitch == "[" or s.wait == (s.acc + (pitch or ""),))
            and not (s.swung is not None and pitch not in (None, "[") and units == 1 and s.tup is None
                     and s.brk == 1 and s.mark != s.swung))   # abc2midi pairs a hornpipe's unit notes if marked alike


def takes_space(s: Body) -> bool:
    """Whether the body reader takes a space after `s` (abc_body.body_step), told without reading it: between
    tokens before the gap's limit, in a note or rest whose length is written and which may end there, and in a
    bar line that may end there (the space ends them). Such a state leads on, which the grammar's look-ahead then need not find by trying symbols."""
    tok = s.tok
    if not tok:
        return s.gap < GAP_LIMIT
    if tok[0] == "bar":    # a bar line that may end here: the space ends it (abc_body._in_bar)
        return s.gap < GAP_LIMIT and tok[1] in BARS and _close_bar(s, tok[1]) is not None
    return tok[0] == "n" and tok[3] in LENGTHS and _commits(s, length_value(tok[3]),
                                                            None if tok[1] in RESTS else tok[1] + tok[2])


def _eff(s: Body, units: Fraction) -> Fraction:
    return units * s.unit * s.brk * (s.tup[0] if s.tup else 1)


def _in_quote(s: Body, ch: str) -> Body | None:
    """A chord symbol "Am7" abc2midi and music21 both know, a fingering "4", or an annotation "^Segno"."""
    text, full = s.tok[1], s.tok[1][-1:] == "|"    # "|": after a full bar's last note only an annotation,
    if text in ("", "|") and ch in "^_<@":        # then its bar line (O'Neill's and Ryan's `"^Segno"|`)
        return s._replace(tok=("quote", "^|" if full else "^"))   # not ">": music21 drops the note after it
    if text.rstrip("|") in ("^", "^x"):   # an annotation: words (not kept in the state; music21 drops
        if ch == '"':                     # the note after an empty one), then the closing quote
            return s._replace(tok=("bar-next",) if full else ()) if text.startswith("^x") else None
        fits = s.gap < 2 * GAP_LIMIT      # an annotation's words end within the gap's last limit
        # (no comma: music21 cannot read an annotation with one, "Cannot make a step out of '^'")
        return s._replace(tok=("quote", "^x|" if full else "^x")) if fits and (ch.isalnum() or ch in " .'-") else None
    if text == "" and ch in "012345":
        return s._replace(tok=("quote", "4"))
    if text == "4":
        return s._replace(tok=()) if ch == '"' else None
    if ch == '"':
        return s._replace(tok=(), harm=True) if chord_symbol(text, True) else None
    return s._replace(tok=("quote", text + ch)) if chord_symbol(text + ch, False) else None


def _close_bar(s: Body, bar: str) -> Body | None:
    """A bar line `bar` ends the bar (see the module's rules on short bars)."""
    closes, opens = bar.startswith(":"), bar.endswith(":")
    if s.tup is not None or s.brk != 1 or (s.slurs and s.span >= SLUR_BARS) or (s.first and bar != "|" and not closes):
        return None
    if s.owed and s.ends:
        return None                  # after the :| of a first ending a tie ran into: only its second ending
    if closes and s.var and not s.first:
        # a second ending closed by :| (abc2midi, in a repeat from the start: "found [1 or like before
        # |:"; the corpora never do it)
        return None
    if opens and s.rep and not closes:
        return None                  # abc2midi: "found another |: after a |:"
    if bar == "::" and (s.closed or s.shut):
        return None                  # abc2midi: "found :: before |:" (not so :|: which closes only)
    rep = (s.rep and not closes) or opens
    if s.closing and (rep or (s.first and not closes)):
        return None                  # winding down: only a bar line that closes what is open
    # abc2midi: after a :| the next first ending needs a |: (or the end of a variant in between)
    closed = _closed_after(s, bar)
    # for a ::, only a |: opens again what a :| closed (not the end of a variant, as for [1)
    shut = False if bar in ("::", ":||:", "|:") else bar in (":|", ":|:", ":||") or s.shut
    var = s.var and bar == "|"
    ends = s.var and closes
    first = s.first and not closes
    if not s.filled:                 # nothing in the bar: this bar line joins the one before it, and
        # the last of them is the next bar's left one (music21: "|| |" opens a plain bar)
        if s.empty >= (EMPTY_START if s.bar == 0 else EMPTY_BARS):
            return None
        # (a plain | joined to the :| that ended a variant keeps it ended: `:|\n|2`, as O'Neill's writes)
        return s._replace(first=first, tok=(), left=bar in LEFT_SPECIAL, rep=rep, barend=True, last=None,
                          empty=s.empty + 1, span=s.span + 1 if s.slurs else 0,
                          closed=closed, shut=shut, var=var, ends=ends or (s.ends and bar == "|"))
    split = s.left or bar in RIGHT_SPECIAL
    if s.owe and not split:
        return None
    short = s.meter is not None and s.pos < s.meter
    if short and (s.full or (s.metered and s.bar and not s.left)):
        # music21 gives a short bar after a line that ended a full bar a time signature of its own,
        # which `check` then takes for the next bar's too: that bar reads as too long
        return None
    # (a short bar before a |: leans on the bar it opens, which is split only if a note comes before
    # another bar line: "|:|" opens a plain one, so that bar owes it)
    allowed = not short or s.bar == 0 or s.prev or split
    ragged = off_grid(s)
    # (pos, bar, left, prev, owe, full, metered, ragged, span, filled, tok, last, rep, barend, closed, shut,
    # var, ends, empty, swung: abc2midi pairs no notes across a bar line)
    return _CLOSED(s, first, ZERO, 1, bar in LEFT_SPECIAL, split, not allowed, False, False, ragged,
                   s.span + 1 if s.slurs else 0, False, (), None, rep, True, closed, shut, var, ends, 0, None)


_CLOSED = replacer("first", "pos", "bar", "left", "prev", "owe", "full", "metered", "ragged", "span", "filled", "tok",
                   "last", "rep", "barend", "closed", "shut", "var", "ends", "empty", "swung")
ZERO = Fraction(0)


def off_grid(s: Body) -> bool:
    """Chord symbols play and the bar stands off the eighth-note grid: abc2midi would cut a chord if
    the tune ended there ("Sustained notes beyond end of track")."""
    return s.harm and (s.pos * 8).denominator != 1


def _closed_after(s: Body, bar: str) -> bool:
    """Whether a repeat stands closed after `bar` (as abc2midi reads it): a :| (or :|:) closes one;
    a |:, :||: or :: opens again (not ||:, after a :|), and so does any bar line but | that ends a
    later ending (the :| that ends a first one closes: only its second ending may follow; else "found
    :: before |:")."""
    if bar in ("::", ":||:", "|:") or (s.var and not s.first and bar != "|"):
        return False
    return bar in (":|", ":|:", ":||") or s.closed


def _ending(s: Body, digit: str) -> Body | None:
    """A variant ending's number after a bar line: not while another runs, a first ending not after a
    :| that no |: followed, a later one only after the :| that ends the one before (abc2midi)."""
    if s.var or digit not in "12" or (digit == "1" and (s.closed or (s.owed and s.ends))) or (
            digit != "1" and not s.ends):     # (after the :: of a first ending a tie ran into: its second)
        return None           # (the corpora's endings are [1 and [2; music21 misreads [4 after [1)
    owed = digit == "1" and (s.owed or s.tie is not None or bool(s.wait))
    # (`ends` kept, a new first ending a tie runs into owed at once: no note nor bar line, a dead end)
    return s._replace(tok=("ending", digit), left=True, var=True, first=digit == "1", owed=owed, ends=False)


def _ending_within(s: Body) -> Body | None:
    """A first ending that begins inside a bar (`BAG [1A3:|[2AAB||`, where the endings differ only in
    the bar's last beat): the bar stays one bar, so it is full at the :|, and the second ending's bar
    may be short (music21 and abc2midi read it so)."""
    if (s.var or s.closed or s.tup is not None or s.brk != 1 or s.tie is not None or s.wait
            or s.pair is not None or not s.pos or s.meter is None or s.pos >= s.meter):
        return None                  # (a note must still fit: the ending holds one before its bar line)
    return s._replace(tok=("ending", "1"), var=True, first=True)


def _twin(s: Body, pitch: str, tied: bool = False) -> bool:
    """Whether a chord's note `pitch` (`tied`: with a tie) is another spelling of a pitch the chord ties or
    the chord before tied into it (`a` after `^a-`), or a note twice in a chord that ties (`[a'a'A,-]`,
    `[a^a-]`), or a tied note of the letter of a pitch the chord before tied into it that this chord has
    not held yet (`[d3-]|[F6D6-c6d6]`): abc2midi may not find the note such a tie holds ("Could not
    find note to be tied"; raw samples of the 10-minute model)."""
    bare, held = pitch.lstrip("^_="), [p.lstrip("^_=") for p in s.held]
    return any(p.lstrip("^_=") == bare and p != pitch for p in (*s.wait, *s.ctie)) or (
        (tied or s.wait or s.ctie) and bare in held) or (tied and len(set(held)) < len(held)) or (
        tied and any(w[0].lower() == bare[0].lower() and w != bare
                     for w in (p.lstrip("^_=") for p in s.wait if p not in s.held)))


def _note_fits(s: Body) -> bool:
    """Whether some note may still come in this bar (none right after the :| of a first ending a tie ran
    into: its second ending comes first, see Body.owed)."""
    return _can_write(s) and not (s.owed and s.ends)


def _decoration(s: Body, ch: str) -> Body | None:
    """A decoration, where a note can still come. Staccato (and fermata, `_in_bang`) on the note after `>`
    only as on the note before: abc2midi pairs two notes only if they are marked alike."""
    if not _note_fits(s) or (ch == "." and s.brk != 1 and s.pmark == "") or (
            ch == "~" and (s.tie is not None or s.grace)) or (ch in ROLLS and s.wait):
        return None        # (abc2midi loses a tie whose note has a roll, and plays a roll as grace notes:
        # after a grace group, "Intervening note needed between grace notes")
    return s._replace(tok=("pre",), last=None, ls=False, barend=False, roll=s.roll or ch in ROLLS,
                      mark=marked(s.mark, ".") if ch == "." else s.mark)


def _in_bang(s: Body, ch: str) -> Body | None:
    text = s.tok[1] + ch
    # a trill goes on no chord, which a chord's tie asks for next
    # (and a fermata not on the note after `>`: the note before had none, `_in_broken`)
    known = [d for d in BANG_DECORATIONS if not (s.wait and d == "!trill!") and not (s.pmark is not None
                                                                                    and d == "!fermata!")]
    if text in known:
        return s._replace(tok=("pre",), mark=marked(s.mark, "!") if text == "!fermata!" else s.mark,
                          roll=s.roll or text == "!trill!")
    return s._replace(tok=("bang", text)) if any(d.startswith(text) for d in known) else None


TUPLETS = sorted({form for p in "23456789" for q in ["", *"123456789"] for r in ["", *"123456789"]
                  for form in (p, f"{p}:{q}", f"{p}:{q}:{r}")})
"""Every tuplet mark after `(`: p, p:q, p:q:r, any of q and r left out."""


def _tuplet_fits(s: Body, text: str) -> bool:
    """Whether some tuplet mark beginning with `text` can still have its notes fit the bar."""
    if s.meter is None:
        return True
    for full in TUPLETS:
        if full.startswith(text):
            found = tuplet(full, s.compound)
            if found is not None and _fillable((s.meter - s.pos) / (SHORTEST * s.unit), found):
                return True
    return False
