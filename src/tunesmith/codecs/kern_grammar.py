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
from functools import lru_cache
from typing import NamedTuple, Sequence

from tunesmith import TunesmithError
import torch

from tunesmith.codecs.constraint import _DEAD, GrammarConstraint
from tunesmith.notation import kern

from tunesmith.codecs.kern_fields import KernFields
from tunesmith.codecs.kern_lines import KernLines
from tunesmith.codecs.kern_tokens import (DENOMINATORS, DYNAMICS, INTERPRETATIONS, MAX_DOTS, MAX_INTERPRETATIONS, MAX_SPINES, RECIPS, State, TICKS, _prefixes, dotted, meter_ticks)


class KernConstraint(KernLines, KernFields, GrammarConstraint):
    """The **kern grammar for a character codec (format "kern"). `controls`: "meter" ("3/4") and "key"
    ("F", "g", "G:mix", or as kern writes it: "*F:") force the body's first lines; `known`: the values
    the model knows ({"meter": {"3/4": 12, ...}, ...}), against which a control is checked."""

    WIND_DOWN = 2 / 3

    def __init__(self, codec, controls: dict | None = None, known: dict | None = None, cache=None):
        if getattr(codec, "format", None) != "kern":
            raise TunesmithError("the kern grammar reads **kern bodies")
        super().__init__(codec.symbols, codec.EOS, list(codec.never_ids) + list(codec.start_only_ids), cache)
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
        self._fill_bytes, self._fill_max = b"\x01", 0
        self._takes: dict[tuple[int, str], bool] = {}
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


    # ---- masks: one per view of a state ------------------------------------------------------------

    def _view(self, s) -> tuple:
        """What the tokens allowed in state `s` depend on: states with one view share a mask. Most of
        a state (the other voices' places in the bar, the line's time) matters only to what follows."""
        if s is _DEAD or s.line == "i":
            return s
        if s.line == "m":     # (its end is refused where a short bar owes it and voices are split)
            return ("m", s.fs, s.owe and any(s.split))
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

    def view(self, state):
        """States with the same view allow the same tokens: they share one mask."""
        return state if state is _DEAD else self._view(state)

    def fillable(self, ticks: int) -> bool:
        """Whether `ticks` of a bar can be filled exactly by notes (0 can)."""
        if ticks < 0:
            return False
        if ticks > self._fill_max:
            top = max(2 * ticks, 16 * TICKS)
            self._fill_bytes, self._fill_max = _fill_table(tuple(self.units), top), top
        return bool((self._fill_bytes[ticks >> 3] >> (ticks & 7)) & 1)

    def _can_take(self, room: int, digits: str, dots: int | None) -> bool:
        """Whether a note whose duration starts `digits` (complete, with exactly `dots` dots; or, with dots
        None, any completion and dots) fits `room` and leaves it fillable."""
        if dots is not None:
            ticks = dotted(self.recips[digits], dots)
            return ticks <= room and self.fillable(room - ticks)
        key = (room, digits)     # (bars' rooms repeat: each is worked out once)
        found = self._takes.get(key)
        if found is None:
            if len(self._takes) > 100_000:
                self._takes.clear()
            found = self._takes[key] = any(dotted(t, n) <= room and self.fillable(room - dotted(t, n))
                                           for r, t in self.recips.items() if r.startswith(digits)
                                           for n in range(MAX_DOTS + 1))
        return found

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

@lru_cache(maxsize=8)
def _fill_table(units: tuple[int, ...], top: int) -> bytes:
    """Bit t (little-endian) set where t ticks, up to `top`, are a sum of the units: worked out once per
    set of units (each new constraint asked for it: 33 ms a Palestrina batch), each unit's multiples
    added by doubling. As bytes, read one bit at a time: shifting the whole number, 16 whole notes of
    ticks, copied it at every look-up."""
    mask = (1 << (top + 1)) - 1
    bits = 1
    for unit in units:
        step = unit
        while step <= top:      # after the shifts by u, 2u, 4u, ...: every multiple up to top added
            bits |= (bits << step) & mask
            step *= 2
    return bits.to_bytes(top // 8 + 1, "little")


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
