"""The **kern grammar: a reader of the training body (notation/kern.py) that keeps every voice in the bar.

The body a character model writes is read one character at a time:

    *M3/4<TAB>*M3/4<TAB>*        the meter line comes first (a `--meter` control forces it),
    *F:<TAB>*F:<TAB>*            then the key (a `--key` control forces it) and the key signature,
    4f<TAB>8a<TAB>p              data lines: one field per open spine,
    .<TAB>8cc<TAB>.              `.` where a voice's note still sounds,
    *^<TAB>*<TAB>*               spine splits and merges change the number of fields,
    @                            a measure marker (`@:|!`, `@!|:`, `@||`, `@=`: barlines of repeats,
                                 double and final bars, beside which a bar may be short)

It forbids what would make the restored file fail `tunesmith check` or break
the spines: a line with more or fewer fields than spines; a field of a **kern
spine that is not `.` or a kern token (duration with dots, pitch letters or
`r`, signifiers; chords as space-separated subtokens; grace notes `q`); a
note that starts before the voice's last note has ended or that would
overflow its bar; a marker while the voices do not end together or do not
fill the bar (a short bar only where `check` allows one: the first, the last,
and the bars beside a repeat, double or final barline); and the end of the
piece anywhere but right after a marker.

Durations are counted in ticks (`TICKS` per quarter note, an integer every
duration in `RECIPS` with up to three dots divides), so a state is a tuple of
small integers: the spines' kinds and positions in the bar, the meter, the
line's kind and the field's parse state. What was written is not kept.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple, Sequence

from tunesmith import TunesmithError
import torch

from tunesmith.codecs.constraint import _DEAD, GrammarConstraint
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


class KernConstraint(GrammarConstraint):
    """The **kern grammar for a character codec (format "kern"). `controls`: "meter" ("3/4") and "key"
    ("F", "g", "G:mix", or as kern writes it: "*F:") force the body's first lines; `known`: the values
    the model knows ({"meter": {"3/4": 12, ...}, ...}), against which a control is checked."""

    def __init__(self, codec, controls: dict | None = None, known: dict | None = None):
        if getattr(codec, "format", None) != "kern":
            raise TunesmithError("the kern grammar reads **kern bodies")
        super().__init__(codec.symbols, codec.EOS, list(codec.never_ids) + list(codec.start_only_ids))
        controls = {k: v for k, v in (controls or {}).items() if v is not None}
        if known is None and callable(getattr(codec, "controls", None)):
            known = codec.controls()
        for name in controls:
            if name not in ("meter", "key"):
                raise TunesmithError(f"a **kern model takes --meter and --key, not --{name}")
        self.meter = self.key = None
        if "meter" in controls:
            value = str(controls["meter"]).strip().removeprefix("*").removeprefix("M")
            numbers = value.split("/")
            if len(numbers) != 2 or not all(n.isdigit() for n in numbers) or meter_ticks(*map(int, numbers)) is None:
                raise TunesmithError(f"--meter takes a time signature such as 3/4 or 4/2, not {controls['meter']!r}")
            _refuse_unknown("meter", value, known)
            self.meter = "*M" + value
        if "key" in controls:
            value = str(controls["key"]).strip().removeprefix("*")
            value = value[:-1] if value.endswith(":") else value
            if not kern.KEY.match("*" + value + ("" if ":" in value else ":")):
                raise TunesmithError(f"--key takes a key such as F, g (minor), G:mix or *F:, not {controls['key']!r}")
            _refuse_unknown("key", value, known)
            self.key = "*" + value + ("" if ":" in value else ":")
        # what the vocabulary can write in full: a prefix it cannot finish would be a dead end
        chars = {c for c in codec.symbols if len(c) == 1}
        writable = [w for w in ("", "*") + tuple(RECIPS) + DENOMINATORS + kern.STYLES if set(w) <= chars]
        self.recips = {r: t for r, t in RECIPS.items() if r in writable}
        self.recip_prefixes: dict[str, int] = {}   # a prefix of a recip → the shortest duration it can become
        for r, t in self.recips.items():
            for k in range(1, len(r) + 1):
                self.recip_prefixes[r[:k]] = min(self.recip_prefixes.get(r[:k], t), t)
        self.shortest = min(self.recips.values(), default=1)
        # a voice's room left in the bar must stay fillable by notes (a sum of undotted durations), else
        # no marker could ever come: the smallest duration of each family (2^k, 3·2^k, 5·2^k, 7·2^k)
        families: dict[int, int] = {}
        for r, t in self.recips.items():
            n = int(r) if r not in ("0", "00") else 1
            while n % 2 == 0:
                n //= 2
            families[n] = min(families.get(n, t), t)
        self.units = sorted(families.values())
        self._fill_bits, self._fill_max = 1, 0
        self.denominators = [d for d in DENOMINATORS if d in writable]
        self.styles = [st for st in kern.STYLES if st in writable]
        self.dynamics = frozenset(d for d in DYNAMICS if set(d) <= chars)
        self.dynamic_prefixes = _prefixes(self.dynamics)
        self.grace = bool(chars & set("qQ"))       # a model that never saw a grace note writes none
        self.interpretations = frozenset(f for f in INTERPRETATIONS if set(f) <= chars)
        self.interpretation_prefixes = _prefixes(self.interpretations)
        for forced in (self.meter, self.key):
            if forced is not None and not set(forced) <= chars:
                raise TunesmithError(f"this model cannot write {forced!r}: it never saw "
                                     f"{''.join(sorted(set(forced) - chars))!r}")
        headers = getattr(codec, "kern_headers", {}) or {}
        self.widths = {w: tuple(s == "**kern" for s in h.spines) for w, h in headers.items()}
        self.first_width = max(self.widths, default=MAX_SPINES)   # the first line's spines: a header's

        self._count = 0                # masks in use at the front of `_bank` (it grows by doubling)

    # ---- masks: one per view of a state ------------------------------------------------------------

    def _view(self, s) -> tuple:
        """What the tokens allowed in state `s` depend on: states with one view share a mask. Most of
        a state (the other voices' places in the bar, the line's time) matters only to what follows."""
        if s is _DEAD or s.line == "i":
            return s
        if s.line == "m":
            return ("m", s.fs)
        if s.line == "d":
            i = s.field
            last = i + 1 == len(s.kinds)
            fs = s.fs
            if fs == ():
                return ("0", last, s.note) + self._start_view(s, i, s.ltime, s.note)
            if not s.kinds[i]:
                return ("t", fs, last, s.note)   # a dynamic
            kind = fs[0]
            if kind in ("P", "R", "D", "E"):
                return ("1", fs, None if fs[1] else s.bar - s.pos[i])
            if kind == "N":
                return ("N", last, s.note)
            return ("B", fs[:-1], fs[-1] < 0, last, s.note)   # what matters of its duration: must it be grace
        if s.must_end:
            return ("", "end")
        if s.kinds is None or s.bar == 0 or self._forced(s) is not None:
            return ("", "head", s.after_marker, s.interps >= MAX_INTERPRETATIONS)
        ltime = min((p for p, k in zip(s.pos, s.kinds) if k), default=0)
        return ("", s.after_marker, self._marker_at(s) is not None, len(s.kinds) == 1,
                s.interps >= MAX_INTERPRETATIONS) + self._start_view(
            s, 0, ltime, False)

    def _start_view(self, s: State, i: int, ltime: int, note: bool) -> tuple:
        """What a field's first character depends on: its spine's kind, whether `.` may come, whether (and
        in how much room) a note may start."""
        null = note or self._note_later(s, i, ltime)
        if not s.kinds[i]:
            return ("t", null)
        can = self._can_note(s, i, ltime)
        return (null, can, s.bar - s.pos[i] if can else None)

    def _mask_id(self, state) -> int:
        key = self._view(state)
        found = self._mask_of.get(key)
        if found is not None:
            return found
        if len(self._mask_of) >= self.CACHE_LIMIT:
            self._mask_of.clear()
            self._count = 0
            self._pending.clear()
        if state is _DEAD:
            allowed = [t == self.end_id for t in range(len(self.symbols))]
        else:
            end = self.can_end(state)
            allowed = [end if t == self.end_id else t not in self.skip and self.step(state, sym) is not None
                       for t, sym in enumerate(self.symbols)]
        mask = torch.tensor(allowed)
        if not bool(mask.any()):       # a dead end is the grammar's bug; ending is the way out
            mask[self.end_id] = True
        self._mask_of[key] = self._count + len(self._pending)
        self._pending.append(mask)
        return self._mask_of[key]

    def allowed(self) -> torch.Tensor:
        ids = [self._mask_id(s) for s in self.rows]
        if self._pending:
            need = self._count + len(self._pending)
            if need > len(self._bank):   # grown by doubling: a new state costs no copy of all the others
                grown = torch.zeros(max(2 * len(self._bank), need, 256), len(self.symbols), dtype=torch.bool)
                grown[:self._count] = self._bank[:self._count]
                self._bank = grown
            self._bank[self._count:need] = torch.stack(self._pending)
            self._count = need
            self._pending.clear()
        return self._bank[torch.tensor(ids, dtype=torch.long)]

    def fillable(self, ticks: int) -> bool:
        """Whether `ticks` of a bar can be filled exactly by notes (0 can)."""
        if ticks < 0:
            return False
        if ticks > self._fill_max:
            top = max(2 * ticks, 16 * TICKS)
            bits = 1
            for unit in self.units:
                shifted = bits
                for _ in range(top // unit):
                    shifted = (shifted << unit) & ((1 << (top + 1)) - 1)
                    bits |= shifted
            self._fill_bits, self._fill_max = bits, top
        return bool((self._fill_bits >> ticks) & 1)

    def _can_take(self, room: int, digits: str, dots: int | None) -> bool:
        """Whether a note whose duration starts `digits` (complete, with exactly `dots` dots; or, with dots
        None, any completion and dots) fits `room` and leaves it fillable."""
        if dots is not None:
            ticks = dotted(self.recips[digits], dots)
            return ticks <= room and self.fillable(room - ticks)
        return any(dotted(t, n) <= room and self.fillable(room - dotted(t, n))
                   for r, t in self.recips.items() if r.startswith(digits) for n in range(MAX_DOTS + 1))

    # ---- the grammar ------------------------------------------------------------------------------

    def initial(self) -> State:
        return State(None, (), 0, 0, True, False, False, False, False, False, "", 0, 0, False, (), ())

    def can_end(self, s: State) -> bool:
        return s.line == "" and s.after_marker

    def step(self, s: State, symbol: str):
        if len(symbol) != 1:
            return None
        if s.must_end:
            return None
        if s.line == "":
            return self._line_start(s, symbol)
        if s.line == "m":
            return self._marker(s, symbol)
        if s.line == "i":
            return self._interpretation(s, symbol)
        return self._data(s, symbol)

    # ---- lines ------------------------------------------------------------------------------------

    def _forced(self, s: State) -> str | None:
        """The text every named field of the current line must be (a forced meter or key line)."""
        if s.head == 0:
            if self.meter is None and s.line == "i" and s.field > 0:
                return "*" + s.codes[0]     # the meter line's other fields: `*` or its first field's meter
            return self.meter
        if s.head == 1:
            return self.key
        return None

    def _line_start(self, s: State, ch: str):
        base = s._replace(field=0, ltime=0, note=False, codes=(), after_marker=False)
        if ch == "*":
            if s.interps >= MAX_INTERPRETATIONS:
                return None
            forced = self._forced(s)
            fs = ("F", 1) if forced is not None else ("*",)
            return base._replace(line="i", fs=fs, interps=s.interps + 1)
        if s.kinds is None or s.bar == 0 or self._forced(s) is not None:
            return None       # the meter line comes first, the forced lines before any music
        if ch == "@":
            at = self._marker_at(s)
            return None if at is None else base._replace(line="m", fs=("",), ltime=at)
        ltime = min((p for p, k in zip(s.pos, s.kinds) if k), default=0)
        return self._data(base._replace(line="d", ltime=ltime, fs=()), ch)

    def _marker_at(self, s: State) -> int | None:
        """Where in the bar a marker would close it, or None where it may not: the voices do not end
        together, or the bar is empty (no music between two markers)."""
        kern_pos = {p for p, k in zip(s.pos, s.kinds) if k}
        if len(kern_pos) != 1:
            return None
        at = kern_pos.pop()
        return at if 0 < at <= s.bar else None

    def _end_line(self, s: State) -> State:
        return s._replace(line="", field=0, ltime=0, note=False, codes=(), fs=(), head=min(s.head + 1, 3),
                          interps=s.interps if s.line == "i" else 0)

    # ---- markers ----------------------------------------------------------------------------------

    def _marker(self, s: State, ch: str):
        style = s.fs[0]
        if ch == "\n":
            if style not in self.styles:
                return None
            styled = style != ""
            owe, must_end = False, False
            if s.owe and not styled:
                must_end = True            # the short bar before needs this barline styled: it is the last
            if s.ltime < s.bar and not (s.first or s.styled1 or s.styled2 or styled):
                owe = True                 # a short bar: the next barline is styled, or this one is the last
            done = self._end_line(s)
            return done._replace(pos=tuple(0 for _ in s.pos), first=False, styled2=s.styled1, styled1=styled,
                                 owe=owe, must_end=must_end, after_marker=True)
        grown = style + ch
        if not any(st.startswith(grown) for st in self.styles if st):
            return None
        return s._replace(fs=(grown,))

    # ---- interpretation lines ---------------------------------------------------------------------

    def _interpretation(self, s: State, ch: str):
        fs = s.fs
        if ch in "\t\n":
            code = self._field_code(s)
            if code is None:
                return None
            return self._interpretation_field_end(s, code, ch)
        if fs == ():                      # a new field
            if ch != "*":
                return None
            forced = self._forced(s)
            return s._replace(fs=("F", 1) if forced is not None else ("*",))
        kind = fs[0]
        if kind == "F":                   # a forced line: `*` or the forced text
            forced = self._forced(s)
            if fs[1] < len(forced) and forced[fs[1]] == ch:
                return s._replace(fs=("F", fs[1] + 1))
            return None
        if s.head == 0:                   # the meter line: `*` or `*Mn/d`
            if kind == "*":
                return s._replace(fs=("M", "", None)) if ch == "M" else None
            return self._meter_char(s, ch)
        if kind == "*":
            if s.codes and s.codes[-1] == "v?" and ch != "v":
                return None               # a merge needs its partner
            if ch == "^":
                if len(s.kinds) + s.codes.count("^") >= MAX_SPINES:
                    return None
                return s._replace(fs=("^",))
            if ch == "v":
                return s._replace(fs=("v",)) if self._can_merge(s) else None
            if ch == "M":
                return s._replace(fs=("M", "", None)) if self._bar_start(s) else None
            # ends, adds and exchanges of spines (`*-`, `*+`, `*x`) are not for a sample
            return s._replace(fs=("o", ch)) if ch in self.interpretation_prefixes else None
        if kind in ("^", "v"):
            return None
        if kind == "M":
            return self._meter_char(s, ch)
        if kind == "o":
            grown = fs[1] + ch
            return s._replace(fs=("o", grown)) if grown in self.interpretation_prefixes else None
        return None

    def _meter_char(self, s: State, ch: str):
        _, num, den = s.fs
        if den is None and num == "" and not ch.isdigit():
            # `*MM120` (tempo) and other fields that start with M, but not in the meter line
            return s._replace(fs=("o", "M" + ch)) if s.head > 0 and "M" + ch in self.interpretation_prefixes else None
        if den is None:
            if ch.isdigit() and len(num) < 2 and not (num == "" and ch == "0") and any(
                    meter_ticks(int(num + ch), int(d)) for d in self.denominators):
                return s._replace(fs=("M", num + ch, None))
            if ch == "/" and num and any(meter_ticks(int(num), int(d)) for d in self.denominators):
                return s._replace(fs=("M", num, ""))
            return None
        if ch.isdigit() and any(d.startswith(den + ch) and meter_ticks(int(num), int(d)) for d in self.denominators):
            return s._replace(fs=("M", num, den + ch))
        return None

    def _field_code(self, s: State):
        """What a finished interpretation field does: "^", "v", ("M", ticks, "3/4"), "" (nothing to the spines),
        or None where the field is not finished or not allowed."""
        fs = s.fs
        if fs == ():
            return None
        kind = fs[0]
        if kind == "F":
            forced = self._forced(s)
            if fs[1] == len(forced):
                if s.head == 0:
                    num, den = forced[2:].split("/")
                    return ("M", meter_ticks(int(num), int(den)), forced[2:])
                return ""
            if fs[1] == 1 and s.field > 0:
                return ""             # a bare `*` beside the forced fields
            return None
        if kind == "*":
            if s.head == 0 and s.field == 0:
                return None           # the meter line starts with the meter
            if s.codes and s.codes[-1] == "v?":
                return None
            return ""
        if kind in ("^", "v"):
            return kind
        if kind == "M":
            _, num, den = fs
            if den not in self.denominators:
                return None
            ticks = meter_ticks(int(num), int(den))
            return ("M", ticks, f"{num}/{den}") if ticks else None
        if kind == "o":
            return "" if fs[1] in self.interpretations else None
        return None

    def _interpretation_field_end(self, s: State, code, ch: str):
        codes = list(s.codes)
        ltime = s.ltime
        if isinstance(code, tuple):
            if ltime and ltime != code[1]:
                return None           # the fields of one line agree on the meter
            ltime = code[1]
            code = "M" + code[2]
        if code == "v":
            # a merge: the first of a run is "v?" until its partner comes
            code = "v" if codes and codes[-1] in ("v", "v?") else "v?"
            if codes and codes[-1] == "v?":
                codes[-1] = "v"
        codes.append(code)
        field = s.field + 1
        if ch == "\t":
            if s.kinds is not None and field >= len(s.kinds):
                return None
            if s.kinds is None and field >= self.first_width:
                return None
            return s._replace(field=field, codes=tuple(codes), ltime=ltime, fs=())
        # the line ends
        if "v?" in codes:
            return None
        if s.kinds is None:
            if self.widths and field not in self.widths:
                return None           # a number of spines the model never saw: no header to restore it with
            kinds = self.widths.get(field, (True,) * field)
            pos = (0,) * field
            split = (False,) * field
        else:
            if field != len(s.kinds):
                return None
            kinds, pos, split = [], [], []
            i = 0
            while i < field:
                c = codes[i]
                if c == "^":
                    kinds += [s.kinds[i]] * 2
                    pos += [s.pos[i]] * 2
                    split += [True, True]
                    i += 1
                elif c == "v":
                    j = i
                    while j < field and codes[j] == "v":
                        j += 1
                    kinds.append(s.kinds[i])
                    pos.append(s.pos[i])
                    split.append(False)
                    i = j
                else:
                    kinds.append(s.kinds[i])
                    pos.append(s.pos[i])
                    split.append(s.split[i])
                    i += 1
            kinds, pos, split = tuple(kinds), tuple(pos), tuple(split)
            if not kinds or len(kinds) > MAX_SPINES or not any(kinds):
                return None
        bar = ltime if ltime else s.bar
        if s.head == 0 and not bar:
            return None
        return self._end_line(s)._replace(kinds=kinds, pos=pos, bar=bar, split=split)

    def _can_merge(self, s: State) -> bool:
        """A `*v` in field `s.field`: it continues a run of merges (same kind, same place in the bar) or
        starts one that the next field can join, one of the two from a split (music21 cannot merge two
        spines that were never split)."""
        i = s.field
        if s.kinds is None:
            return False
        if s.codes and s.codes[-1] in ("v", "v?"):
            return s.kinds[i] == s.kinds[i - 1] and s.pos[i] == s.pos[i - 1]
        return (i + 1 < len(s.kinds) and s.kinds[i] == s.kinds[i + 1] and s.pos[i] == s.pos[i + 1]
                and (s.split[i] or s.split[i + 1]))

    def _bar_start(self, s: State) -> bool:
        return all(p == 0 for p in s.pos)

    # ---- data lines -------------------------------------------------------------------------------

    def _note_later(self, s: State, i: int, ltime: int) -> bool:
        """Whether a field after field i can still hold something that is not `.`: a voice free to start
        a note, or a spine that is not **kern (dynamics)."""
        return any(not s.kinds[j] or self._can_note(s, j, ltime) for j in range(i + 1, len(s.kinds)))

    def _can_note(self, s: State, i: int, ltime: int) -> bool:
        """Whether spine i may start something on a data line at `ltime`."""
        if not s.kinds[i]:
            return True
        return s.pos[i] == ltime and ltime + self.shortest <= s.bar

    def _data(self, s: State, ch: str):
        i = s.field
        if ch in "\t\n":
            return self._data_field_end(s, ch)
        if not s.kinds[i]:
            return self._other_field(s, ch)
        return self._kern_field(s, ch)

    def _other_field(self, s: State, ch: str):
        """A field of a spine that is not **kern (dynamics): `.`, or dynamics (`DYNAMICS`) separated by
        spaces."""
        fs = s.fs
        if fs == ():
            if ch == ".":
                if not s.note and not self._note_later(s, s.field, s.ltime):
                    return None       # a line of nothing but nulls
                return s._replace(fs=("N",))
            fs = ("t", "")
        if fs[0] == "N":
            return None
        if ch == " ":
            return s._replace(fs=("t", "")) if fs[1] in self.dynamics else None
        grown = fs[1] + ch
        return s._replace(fs=("t", grown), note=True) if grown in self.dynamic_prefixes else None

    def _data_field_end(self, s: State, ch: str):
        fs = s.fs
        if fs == ():
            return None
        pos = s.pos
        if not s.kinds[s.field] and fs[0] == "t" and fs[1] not in self.dynamics:
            return None
        if s.kinds[s.field]:
            kind = fs[0]
            if kind == "N":
                pass
            elif kind in ("B", "C"):
                ticks = fs[4]
                if ticks < 0:
                    return None       # it had to be a grace note
                if ticks:
                    pos = pos[:s.field] + (pos[s.field] + ticks,) + pos[s.field + 1:]
            else:
                return None
        field = s.field + 1
        if ch == "\t":
            if field >= len(s.kinds):
                return None
            return s._replace(field=field, pos=pos, fs=())
        if field != len(s.kinds) or not s.note:
            return None
        return self._end_line(s)._replace(pos=pos)

    def _kern_field(self, s: State, ch: str):
        """One character of a **kern field. Field states:
        ("N",)                        `.`
        ("P", g, n)                   n prefix signifiers of the first subtoken; g: 1 where it must be a
                                      grace note (its voice's note still sounds, or its bar is full)
        ("R", g, digits)              its duration's digits
        ("D", g, digits, dots)        its dots
        ("E", g, ticks)               signifiers between its duration and its pitch (`q`: a grace note)
        ("B", letter, count, signs, ticks)    its pitch (letter repeated count times, or "r") and
                                      `signs` signifiers after it; ticks: its duration (0: a grace note; -1: it must
                                      become one before the field ends)
        ("CP", ticks), ("CR", digits, ticks), ("CD", dots, ticks), ("CE", ticks), ("C", letter, count,
        signs, ticks)                a further subtoken of a chord: the same phases; its own duration is
                                      read but not counted (the first note's is the chord's)"""
        fs = s.fs
        i = s.field
        if fs == ():
            if ch == ".":
                if not s.note and not self._note_later(s, i, s.ltime):
                    return None       # a line of nothing but nulls (or of grace notes only)
                return s._replace(fs=("N",))
            if self._can_note(s, i, s.ltime):
                return self._first(s, ("P", 0, 0), ch)
            return self._first(s, ("P", 1, 0), ch) if self.grace else None
        kind = fs[0]
        if kind == "N":
            return None
        if kind in ("P", "R", "D", "E"):
            return self._first(s, fs, ch)
        if kind == "B":
            return self._body(s, fs, ch, chord=False)
        if kind == "C":
            return self._body(s, fs, ch, chord=True)
        return self._chord(s, fs, ch)

    def _room(self, s: State) -> int:
        return s.bar - s.pos[s.field]

    def _first(self, s: State, fs: tuple, ch: str):
        """The first subtoken's prefix, duration, dots and signifiers before the pitch: each digit and dot
        only where the note can still fit the bar (a grace note takes no time)."""
        kind, grace = fs[0], fs[1]
        room = self._room(s)
        if kind == "P":
            if ch in PREFIX:
                return s._replace(fs=("P", grace, fs[2] + 1)) if fs[2] < MAX_PREFIX else None
            if ch not in self.recip_prefixes or (not grace and not self._can_take(room, ch, None)):
                return None
            return s._replace(fs=("R", grace, ch))
        if kind == "R":
            digits = fs[2]
            if ch.isdigit():
                if digits + ch not in self.recip_prefixes or (
                        not grace and not self._can_take(room, digits + ch, None)):
                    return None
                return s._replace(fs=("R", grace, digits + ch))
            ticks = self.recips.get(digits)
            if ticks is None:
                return None
            if ch == ".":
                fits = grace or any(self._can_take(room, digits, n) for n in range(1, MAX_DOTS + 1))
                return s._replace(fs=("D", grace, digits, 1)) if fits else None
            return self._after_duration(s, grace, ticks, room, ch)
        if kind == "D":
            digits, dots = fs[2], fs[3]
            if ch == ".":
                if dots >= MAX_DOTS or (not grace and not any(
                        self._can_take(room, digits, n) for n in range(dots + 1, MAX_DOTS + 1))):
                    return None
                return s._replace(fs=("D", grace, digits, dots + 1))
            return self._after_duration(s, grace, dotted(self.recips[digits], dots), room, ch)
        # "E"
        ticks = fs[2]
        if ch in "qQ":
            return s._replace(fs=("E", grace, 0))
        if ch in MIDDLE:
            return s
        return self._pitch(s, ch, ticks, chord=False)

    def _after_duration(self, s: State, grace: int, ticks: int, room: int, ch: str):
        if grace:
            ticks = -1                # a grace note it must be
        elif ticks > room or not self.fillable(room - ticks):
            return None               # it overflows the bar, or leaves a rest of it no note can fill
        if ch in "qQ":
            return s._replace(fs=("E", grace, 0))
        if ch in MIDDLE:
            return s._replace(fs=("E", grace, ticks))
        return self._pitch(s, ch, ticks, chord=False)

    def _pitch(self, s: State, ch: str, ticks: int, chord: bool):
        if ch in PITCHES or ch == "r":
            return s._replace(fs=("C" if chord else "B", ch, 1, 0, ticks), note=True)
        return None

    def _body(self, s: State, fs: tuple, ch: str, chord: bool):
        _, letter, count, signs, ticks = fs
        tag = "C" if chord else "B"
        if ch in PITCHES or ch == "r":
            if signs:
                return None
            if letter == "r" and ch != "r" and count == 1:
                return s._replace(fs=(tag, ch, 1, 0, ticks))       # a rest placed on a pitch: 4rG
            if ch == letter and count < MAX_OCTAVE:
                return s._replace(fs=(tag, letter, count + 1, 0, ticks))
            return None
        if ch == " ":
            return s._replace(fs=("CP", ticks)) if ticks >= 0 else None   # the next note of a chord
        # after the first signifier, `count` holds what came last: an accidental run ("#", "##", "-", "--",
        # "n"), a stem mark ("/"), or anything else ("o")
        if ch in "#-n":
            # accidentals: one kind, at most two (`##`, `--`) or one natural, right after the pitch
            run = "" if not signs else count
            if (signs and (not isinstance(run, str) or ch == "n" or run not in ("#", "-")
                                            or run[0] != ch)):
                return None
            return s._replace(fs=(tag, letter, run + ch, signs + 1, ticks))
        if ticks < 0:
            # a grace note it must be: its `q` comes after the accidentals and at most one stem mark
            if ch in "/\\" and (not signs or count not in ("/", "o")):
                return s._replace(fs=(tag, letter, "/", signs + 1, ticks))
            return s._replace(fs=(tag, letter, "o", signs + 1, 0)) if ch in "qQ" else None
        if signs >= MAX_SIGNIFIERS:
            return None
        if ch in "qQ":
            return s._replace(fs=(tag, letter, "o", signs + 1, ticks if chord else 0))
        if ch in SUFFIX:
            return s._replace(fs=(tag, letter, "o", signs + 1, ticks))
        return None

    def _chord(self, s: State, fs: tuple, ch: str):
        """A further subtoken of a chord before its pitch: prefix, a duration of its own, dots, signifiers."""
        kind, ticks = fs[0], fs[-1]
        if kind == "CP":
            if ch in PREFIX:
                return s
            return s._replace(fs=("CR", ch, ticks)) if ch in self.recip_prefixes else None
        if kind == "CR":
            digits = fs[1]
            if ch.isdigit():
                return s._replace(fs=("CR", digits + ch, ticks)) if digits + ch in self.recip_prefixes else None
            if digits not in self.recips:
                return None
            if ch == ".":
                return s._replace(fs=("CD", 1, ticks))
        elif kind == "CD" and ch == ".":
            return s._replace(fs=("CD", fs[1] + 1, ticks)) if fs[1] < MAX_DOTS else None
        if ch in MIDDLE:
            return s._replace(fs=("CE", ticks))
        return self._pitch(s, ch, ticks, chord=True)


def _refuse_unknown(name: str, value: str, known: dict | None) -> None:
    values = (known or {}).get(name)
    if values and value not in values:
        listed = ", ".join(f"{v} ({n})" for v, n in values.items())
        raise TunesmithError(f"this model knows no --{name} {value!r}; it knows: {listed}")


def kern_controls(pieces: Sequence) -> dict[str, dict[str, int]]:
    """The meters and keys the pieces state (their body's head lines), each with its number of pieces,
    most common first: {"meter": {"3/4": 12, ...}, "key": {"F": 3, "G:mix": 40, ...}}."""
    counts: dict[str, Counter] = {"meter": Counter(), "key": Counter()}
    for piece in pieces:
        for name, value in kern.head_values(piece.text).items():
            counts[name][value] += 1
    return {name: dict(c.most_common()) for name, c in counts.items()}
