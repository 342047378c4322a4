"""The ABC grammar as a decoding constraint: a reader of ABC that follows each row as the model writes it.

It reads the training shape of a tune (notation/abc.py: `X:1`, title lines, the kept fields, `M:`,
`L:`, `K:`, then the body) one character at a time and forbids what would make the tune fail
`tunesmith check`, which reads it with music21 and abc2midi:

- header fields out of the training order, field letters reading leaves out, and header values the
  corpus never had (the meter, unit, key and rhythm of the model's corpus; a rhythm's usual meters);
- a note, rest or chord whose length overflows the bar, and a bar line before the bar is full, except
  the short bars `check` allows: the first bar (a pickup), the last, and bars at repeat signs, double
  and final bars and endings, or beside such a bar (music21's barline on each side, as measured);
- repeats abc2midi refuses (a second `|:` before its `:|`, a `|:` never closed), ties to another pitch,
  chord symbols abc2midi does not know, `::` (music21 drops the bars after it);
- the end of the tune with a chord, slur, tuplet, tie, quote or repeat open, or not at a bar line.

States are immutable (tuples), so `GrammarConstraint` works out each state's mask once.
"""

from __future__ import annotations

from typing import NamedTuple

from tunesmith import TunesmithError
from tunesmith.codecs.abc_body import body_step
from tunesmith.codecs.abc_fields import INLINE_LETTERS
from tunesmith.codecs.abc_state import GAP_LIMIT, Body, off_grid, takes_space
from tunesmith.codecs.abc_symbols import ANY_METER, VALUE_CHARS, compound, meter_length, prefixes, tempo, unit_length
from tunesmith.codecs.constraint import GrammarConstraint
from tunesmith.notation import abc

HEADER_FREE = "@%\n"          # never in a free-text header value


HEAD_LIMITS = (100, 16)
"""The longest header line value and the most header lines a tune may have: the corpora's are about
half of each. Without them a row could write a title forever."""


ANY_UNIT = tuple(f"1/{d}" for d in (1, 2, 4, 8, 16, 32, 64))
"""The meters and unit lengths a model whose corpus gave no list may write (music21 and abc2midi read these)."""


class Head(NamedTuple):
    stage: int          # 0 before X:1, 1 titles, 2 other fields, 3 after M:, 4 after L:
    at: str             # the line read so far: "" (start of a line), a letter, "X:", or "F:" (in a value)
    value: str | None   # the value read so far, where it is restricted (M L K R), else None
    rhythm: str | None  # the R: value
    meter: str | None
    unit: str | None
    size: int = 0       # characters of the line's value so far (see HEAD_LIMITS)
    lines: int = 0      # header lines so far
    tempo: bool = False  # a Q: line came (abc2midi and music21 take one)
    parts: str = ""     # the part letters a P: line (a part order, "AAB") names, each once


class AbcGrammar:
    """The reader: `step(state, ch)` → the next state or None (forbidden); `can_end(state)`."""

    def __init__(self, known: dict | None, keep_fields: str = "", controls: dict | None = None):
        controls = dict(controls or {})
        self.letters = abc.kept_letters(keep_fields)
        known = known or {}
        # a part order in the header (P:AAB): one the corpus has (the Nottingham hornpipes'), whose
        # parts the body must then label (P:A) before the tune ends: abc2midi refuses an order naming
        # a part that never comes (models saved before these were counted: none)
        self.part_orders = tuple(v for v in known.get("parts", {}) if v.isascii() and v.isalpha() and v.isupper())
        # header lines besides X T M L K
        self.others = "".join(ch for ch in self.letters if ch not in "XTMLK" + ("" if self.part_orders else "P"))
        # (tuples, in the corpus's order; `value_sets` gives each as sets)
        self.meters = tuple(known.get("meter", {})) or ANY_METER
        # a change of meter: to one the corpus has in a header or changes to in a body (whatever is forced;
        # models saved before body meters were counted: the headers')
        self.body_meters = tuple(dict.fromkeys([*self.meters, *known.get("body_meter", {})]))
        self.units = tuple(known.get("unit", {})) or ANY_UNIT
        self.keys = tuple(known.get("key", {})) or tuple(sorted(abc.KEY_VALUES))
        self.rhythms = tuple(known.get("rhythm", {})) or None
        self.pairs = known.get("pairs", {})
        # inline fields: the letters the corpus writes inline (the folk corpora: none); models saved
        # before this was counted, any of K M L P Q
        self.inline = set(known["inline"]) if "inline" in known else INLINE_LETTERS
        self._typed_meters: dict[str, tuple] = {}
        if "meter" in controls:
            self.meters = (controls["meter"],)
        if "rhythm" in controls:
            self.rhythms = (controls["rhythm"],)
        if self.rhythms:
            # only tune types with a meter the header may then take (the corpus's, or the forced one): an
            # R: line whose M: could have no value is a dead end two steps deep (a Nottingham model asked
            # for --meter 6/8 wrote R: for its one type, Hornpipe, and stopped there); with none left no
            # R: line comes at all
            self.rhythms = tuple(r for r in self.rhythms if any(
                m in abc.RHYTHM_METERS.get(r.strip().lower(), (m,)) for m in self.meters))
            if "rhythm" in controls and not self.rhythms:
                raise TunesmithError(f"--rhythm {controls['rhythm']} takes a meter this model's corpus does not "
                                     f"have{' with --meter ' + controls['meter'] if 'meter' in controls else ''}")
        if "key" in controls or "mode" in controls:
            self.keys = tuple(k for k in self.keys if _key_matches(k, controls))
            if not self.keys:
                raise TunesmithError(f"this model's corpus has no key {controls.get('key', '')} "
                                     f"{controls.get('mode', '')}".rstrip())
        self.need_rhythm = "rhythm" in controls
        self._sets: dict[int, tuple] = {}

    def value_sets(self, values: tuple | frozenset) -> tuple[frozenset, frozenset]:
        """A list of values as a set, and the set of their beginnings: worked out once per list, which is
        looked up by identity (Essen's R: values are thousands, and hashing such a tuple at every character
        of the line cost more than all the rest of a header step)."""
        found = self._sets.get(id(values))
        if found is None:     # (the list itself is kept with its sets: its identity stays its own)
            found = self._sets[id(values)] = (values, frozenset(values), prefixes(values))
        return found[1], found[2]

    # ---- the header -------------------------------------------------------------------------------

    def initial(self) -> Head:
        return Head(0, "", None, None, None, None)

    def _values(self, head: Head, letter: str) -> list[str] | None:
        if letter == "M":    # the meters the tune type allows (worked out once per type)
            rhythm = (head.rhythm or "").strip().lower()
            if rhythm not in abc.RHYTHM_METERS:
                return self.meters
            found = self._typed_meters.get(rhythm)
            if found is None:
                found = self._typed_meters[rhythm] = tuple(m for m in self.meters if m in abc.RHYTHM_METERS[rhythm])
            return found
        return {"L": self.units, "K": self.keys, "R": self.rhythms, "P": self.part_orders}.get(letter)

    def _letter_ok(self, head: Head, letter: str) -> int | None:
        """The stage after a field line of this letter, or None where it may not come now."""
        if head.stage == 0:
            return 1 if letter == "X" else None
        if letter == "T" and head.stage == 1:
            return 1
        if letter in self.others and head.stage <= 2:
            return None if (letter == "R" and (head.rhythm is not None or self.rhythms == ())) or (
                letter == "Q" and head.tempo) or (
                letter == "P" and head.parts) else 2
        if self.need_rhythm and head.rhythm is None:
            return None
        if letter == "M" and head.stage <= 2:
            return 3
        if letter == "L" and head.stage == 3:
            return 4
        if letter == "K" and head.stage in (3, 4):   # a primer may leave L: out: the standard's default
            return 5
        return None

    def head_step(self, head: Head, ch: str):
        if head.at == "":
            return head._replace(at=ch) if ch.isalpha() and self._letter_ok(head, ch) else None
        if len(head.at) == 1:
            return head._replace(at=head.at + ":", value="") if ch == ":" else None
        letter = head.at[0]
        if letter == "X":
            return head._replace(at="X:1", value=None) if ch == "1" and head.at == "X:" else (
                head._replace(stage=1, at="", value=None) if ch == "\n" and head.at == "X:1" else None)
        values = self._values(head, letter)
        if ch == "\n":
            value = head.value or ""
            if (values is not None and value not in self.value_sets(values)[0]) or (
                    values is None and letter in "MLKRQP" and not value.strip()) or (
                    letter == "Q" and not tempo(value, True)):
                return None
            stage = self._letter_ok(head, letter)
            if head.lines + 1 >= HEAD_LIMITS[1] and letter != "K":
                return None
            done = head._replace(stage=stage, at="", value=None, size=0, lines=head.lines + 1)
            if letter == "R":
                done = done._replace(rhythm=value)
            elif letter == "Q":
                done = done._replace(tempo=True)
            elif letter in "ML":
                done = done._replace(**{"meter" if letter == "M" else "unit": value})
            elif letter == "P":
                done = done._replace(parts="".join(sorted(set(value))))
            if letter == "K":
                return self._body_start(done)
            return done
        if ch in HEADER_FREE or ord(ch) < 32 or head.size >= HEAD_LIMITS[0] or (ch == "|" and not head.size):
            return None               # (music21 reads `T:|A` as music, and fails on it)
        value = (head.value or "") + ch
        if values is not None and value not in self.value_sets(values)[1]:
            return None
        if values is None and letter in VALUE_CHARS and ch not in VALUE_CHARS[letter]:
            return None
        if letter == "Q" and not tempo(value, False):
            return None
        return head._replace(value=value if letter in "MLKRQP" else None, size=head.size + 1)

    def _body_start(self, head: Head) -> Body:
        meter = meter_length(head.meter or "")
        unit = head.unit or abc.default_unit_length(head.meter)
        return Body(meter, unit_length(unit), ls=True, compound=compound(head.meter),
                    swing="hornpipe" in (head.rhythm or "").lower(), parts=head.parts or None)

    # ---- reading ----------------------------------------------------------------------------------

    def step(self, state, ch: str):
        if isinstance(state, Head):
            return self.head_step(state, ch)
        return body_step(self, state, ch)

    def can_end(self, state) -> bool:
        # the end comes at a bar line, or at the end of a line whose bar is the short last bar `check`
        # allows (a song that ends the bar its pickup began); not right after the :| of a first ending
        # (abc2midi: a tie into it is "Sustained notes beyond end of track"; no corpus tune does it),
        # nor right after a change of meter, unit or key, nor after a bar that ends off the eighth-note
        # grid while chord symbols play (abc2midi cuts the last chord: "Sustained notes beyond end of track"),
        # nor before every part the header's part order names is labelled
        return (isinstance(state, Body) and state.tok == () and state.notes
                and (state.barend or (state.ls and not state.owe)) and not state.rep and state.slurs == 0
                and state.tup is None and state.tie is None
                and state.brk == 1 and not state.wait and not state.first and not state.ends
                and not state.fresh and not state.ragged and not off_grid(state) and not state.parts and not state.owed)


def _key_matches(value: str, controls: dict) -> bool:
    parts = abc.key_parts(value)
    if parts is None:
        return False
    return controls.get("key", parts[0]) == parts[0] and controls.get("mode", parts[1]) == parts[1]


class AbcConstraint(GrammarConstraint):
    """The ABC grammar over a character codec's vocabulary."""

    WIND_DOWN = 2 / 3

    def __init__(self, codec, controls: dict[str, str], cache=None):
        super().__init__(codec.symbols, codec.EOS, [*codec.never_ids, *codec.start_only_ids], cache)
        self.grammar = AbcGrammar(codec.known, codec.keep_fields, controls)
        # a body state that takes a space leads on (see surely_leads_on): most that a batch reaches do
        self.spaced = " " in self.symbols and self.symbols.index(" ") not in self.skip
        # a header line's free text (a title) that may grow takes a letter: it leads on as well
        self.lettered = "e" in self.symbols and self.symbols.index("e") not in self.skip

    def initial(self):
        return self.grammar.initial()

    def step(self, state, symbol: str):
        if len(symbol) != 1:
            return None
        if state.__class__ is Body:    # (the body reader directly: this runs at every new state)
            return body_step(self.grammar, state, symbol)
        return self.grammar.step(state, symbol)

    def can_end(self, state) -> bool:
        return self.grammar.can_end(state)

    def view(self, state):
        """What of a state decides its mask: which note was written matters only to a tie; the counts
        held against the limits matter only near them."""
        if isinstance(state, Head):
            return state._replace(size=_near(state.size, HEAD_LIMITS[0]), lines=_near(state.lines, HEAD_LIMITS[1]))
        if not isinstance(state, Body):
            return state
        gap = _gap_view(state.gap)     # (span is small: bounded by SLUR_BARS)
        if state.tie is not None or state.wait:    # the pitch written decides what may follow
            return state._replace(gap=gap)
        last = state.last if state.last is None else (state.last[0], state.last[1] not in (None, "["),
                                                      *state.last[2:])
        return state._replace(gap=gap, tok=_token_class(state.tok), last=last)

    def closing(self, state):
        # (between tokens or in a note: a token that may come to a bar line of its own, a bar line being
        # read, `[` (`[|`), `\` (the line end), an annotation after a full bar, a field line's letter (a P:
        # ends the bar), is finished as it was begun, or a row could stand before a bar line the closing
        # reader refuses; the row goes over after it)
        if isinstance(state, Body) and (not state.tok or state.tok[0] in ("n", "acc")):
            return state._replace(closing=True)
        return state

    def surely_leads_on(self, state) -> bool:
        if isinstance(state, Head):
            return self.lettered and _takes_letter(state)
        return self.spaced and isinstance(state, Body) and takes_space(state)


def _takes_letter(head: Head) -> bool:
    """Whether the header reader takes the letter e after `head`, told without reading it: in the free
    text of a field line (a title, not a value from a list or of restricted characters) not yet at
    its length limit (AbcGrammar.head_step)."""
    return (len(head.at) == 2 and head.at[1] == ":" and head.at[0] not in "XMLKRQP"
            and head.size < HEAD_LIMITS[0])


def _gap_view(gap: int):
    """The gap as far as a mask tells it apart: the body reader's thresholds are one, two and three
    GAP_LIMITs (see abc_body.body_step)."""
    for limit in (GAP_LIMIT, 2 * GAP_LIMIT, 3 * GAP_LIMIT):
        if gap < limit:
            return gap if gap >= limit - 3 else -limit
    return gap


def _near(count: int, limit: int) -> int:
    """A count as far as a mask tells it from 0: the limit cuts a step after the count reaches it, and
    the mask looks one step further."""
    return count if count >= limit - 3 else 0


def _token_class(tok: tuple) -> tuple:
    """A token being read, with its pitch letter reduced to note or rest (without a tie the mask is the same)."""
    if not tok:
        return tok
    if tok[0] == "n":
        return ("n", _letter_class(tok[1]), *tok[2:])
    if tok[0] in ("chord", "grace") and len(tok[2]) == 4 and tok[2][0] == "n":
        return (*tok[:2], ("n", _letter_class(tok[2][1]), *tok[2][2:]), *tok[3:])
    return tok


def _letter_class(letter: str) -> str:
    """A rest, a capital note or a small one: what the octave marks and bar lines after it may be."""
    return "z" if letter in "zx" else "C" if letter.isupper() else "c"
