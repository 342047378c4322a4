"""An ABC tune rewritten in another unit note length (L:), exactly, as text.

Books write the same rhythm in different units: Nottingham's reels in L:1/4 (`A/2B/2 c`), its jigs
and hornpipes in L:1/8 (`AB c2`). A model that reads every tune in one unit learns one way to write a
length, and a book in the other unit is no longer foreign to it (`--unit-length` of the char codec).

Every note's and rest's length is multiplied by old unit / new unit and written one way (`A`, `A2`,
`A/2`, `A3/2`). The header's L: becomes the new unit; an L: in the body (a line or an inline
`[L:..]`) changes the unit the lengths after it are read in and is then dropped, since every length is
now in the one unit. What has no length stays as it is: chord symbols, decorations, other fields,
grace notes (`{g}`: they take no time, and books write them alike whatever their unit),
tuplet marks (`(3`), broken rhythm (`>`), ending numbers (`|1`, `[2`), bar counts of a multi-bar rest
(`Z4`), comments. In a chord `[CE]2` the notes inside are rewritten and the multiplier after it kept.

A tune with a length the new unit cannot write among the suffixes the caller allows (the char codec's
grammar knows no 24 and no /32) gives None: reading keeps that tune in its own unit rather than write
a length its grammar would refuse.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Collection

from tunesmith.notation.abc import FIELD, default_unit_length

NOTE_OR_REST = set("ABCDEFGabcdefgzx")
LENGTH = re.compile(r"\d*(?:/\d*)*")
INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]]*)\]")


class _Cannot(Exception):
    """A length the new unit cannot write."""


def unit_value(value: str) -> Fraction | None:
    """An L: value ("1/8") as a fraction of a whole note, or None where it is not one."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if m is None or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        return None
    return Fraction(int(m.group(1)), int(m.group(2)))


def read_length(text: str) -> Fraction:
    """A length suffix ("", "3", "/", "3/2", "//") as a multiple of the unit; a zero (`A0`, `A/0`)
    is no length a tune can be rewritten with."""
    num, slash, rest = text.partition("/")
    value = Fraction(int(num)) if num else Fraction(1)
    for part in (rest.split("/") if slash else []):
        if part and int(part) == 0:
            raise _Cannot
        value /= int(part) if part else 2
    if value == 0:
        raise _Cannot
    return value


def write_length(value: Fraction, lengths: Collection[str] | None = None) -> str:
    """The suffix for a multiple of the unit: "", "2", "/2", "3/2" (one of `lengths`, where given)."""
    if value == 1:
        text = ""
    elif value.denominator == 1:
        text = str(value.numerator)
    else:
        text = ("" if value.numerator == 1 else str(value.numerator)) + f"/{value.denominator}"
    if lengths is not None and text not in lengths:
        raise _Cannot
    return text


def to_unit(text: str, unit: str, lengths: Collection[str] | None = None) -> str | None:
    """`text`, one tune in reading's shape (header fields, K: last, then the body; or the start of
    one), with every length in `unit` ("1/8"); None where a length cannot be written in it (as one of
    `lengths`, where given). A tune already in `unit` comes back with its lengths written one way."""
    target = unit_value(unit)
    if target is None:
        raise ValueError(f"not a unit note length: {unit!r}")
    lines = text.split("\n")
    found = _header(lines)
    current = None if found is None else unit_value(found[1])
    if current is None:
        return None
    key_at = found[0]
    out = [f"L:{unit}" if line.startswith("L:") else line for line in lines[:key_at + 1]]
    if not any(line.startswith("L:") for line in out):
        out.insert(key_at, f"L:{unit}")
    rewrite = _Rewrite(current, target, lengths)
    try:
        for line in lines[key_at + 1:]:
            line = rewrite.line(line)
            if line is not None:
                out.append(line)
    except _Cannot:
        return None
    return "\n".join(out)


def unit_at_end(text: str) -> str | None:
    """The unit note length in force at the end of `text` (one tune in reading's shape): the header's
    L: (or the standard's default for its meter), or the last L: of the body; None without a K:."""
    lines = text.split("\n")
    found = _header(lines)
    if found is None:
        return None
    key_at, unit = found
    for line in lines[key_at + 1:]:
        if line.startswith("L:"):
            unit = line[2:]
        for inline in INLINE_FIELD.finditer(line):
            if inline.group(1) == "L":
                unit = inline.group(2)
    value = unit_value(unit)
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _header(lines: list[str]) -> tuple[int, str] | None:
    """(where the K: line is, the header's unit: its L: or the standard's default for its meter), or
    None without a K:."""
    key_at = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if key_at is None:
        return None
    head = lines[:key_at + 1]
    meter = next((line[2:] for line in head if line.startswith("M:")), None)
    return key_at, next((line[2:] for line in head if line.startswith("L:")), None) or default_unit_length(meter)


class _Rewrite:
    def __init__(self, current: Fraction, target: Fraction, lengths: Collection[str] | None):
        self.current, self.target, self.lengths = current, target, lengths

    def line(self, line: str) -> str | None:
        """A body line rewritten; None for an L: line (its unit now holds for what follows)."""
        field = FIELD.match(line)
        if field and not (field.group(1) in "ABCDEFGabcdefg" and field.group(2)[:1] in ("|", ":")):
            if field.group(1) != "L":
                return line
            self._set_unit(field.group(2))
            return None
        out, i, n = [], 0, len(line)
        while i < n:
            ch = line[i]
            if ch == "%":
                out.append(line[i:])
                break
            if ch in '"{' or (ch in "!+" and line.find(ch, i + 1) >= 0):
                end = line.find('}' if ch == "{" else ch, i + 1)
                end = n - 1 if end < 0 else end
                out.append(line[i:end + 1])
                i = end + 1
            elif (inline := INLINE_FIELD.match(line, i)) is not None:
                if inline.group(1) == "L":
                    self._set_unit(inline.group(2))
                else:
                    out.append(inline.group(0))
                i = inline.end()
            elif ch in "([|" and i + 1 < n and line[i + 1].isdigit():
                # a tuplet mark (3:2:3, or an ending's number |1 [1,3 |1-2: digits that are no length
                end = i + 1
                while end < n and (line[end].isdigit() or line[end] in ":,-"):
                    end += 1
                out.append(line[i:end])
                i = end
            elif ch in "Z]":
                # a multi-bar rest's count, a chord's multiplier: kept
                end = LENGTH.match(line, i + 1).end()
                out.append(line[i:end])
                i = end
            elif ch in NOTE_OR_REST:
                end = i + 1
                while end < n and line[end] in ",'":
                    end += 1
                stop = LENGTH.match(line, end).end()
                value = read_length(line[end:stop]) * self.current / self.target
                out.append(line[i:end] + write_length(value, self.lengths))
                i = stop
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def _set_unit(self, value: str) -> None:
        found = unit_value(value)
        if found is None:
            raise _Cannot
        self.current = found
