"""Where ABC's two readers part: what music21 drops or abc2midi ignores in a tune that both read.

`tunesmith check` reads every tune with music21 (bars, notes, the rendered MIDI) and abc2midi (errors).
Some writing passes both and still does not sound as written, because one reader loses part of it
without a word. These are found in the text, or in abc2midi's warnings, and `check` reports them:

- no bar line at all in a tune with a meter: music21 reads the notes as one run, with no bars to
  check (`M:none`, free meter, is written so);
- `H`, the standard's fermata, before a note: music21 drops the note (`!fermata!` both read);
- an annotation placed to the right (`">text"`): music21 drops the note after it (a grace note, if one
  comes first);
- `Z`, a bar's rest, and `x`, an invisible rest: music21 drops them, and the time they take;
- a slur closed that never opened, or one left open: both readers go on as if it were not there;
- a letter that abc2midi calls a reserved character (`k`, `V`: decorations no `U:` field defines),
  which it ignores;
- a bar within one line that holds two or more whole bars of its meter (a bar line left out):
  music21 silently cuts it in two, abc2midi warns. (Across a line's end it is not one: music21 ends
  a full bar there, and the corpora write bars so.)

The ABC grammar (codecs/abc_grammar.py) forbids each of them, so `check` and the grammar agree.
"""

from __future__ import annotations

import re
from fractions import Fraction

from tunesmith.notation import abc

# what is not music in a body line: chord symbols and annotations, !decorations! and +decorations+,
# inline fields [K:D], and comments
_NOT_MUSIC = re.compile(r'"[^"]*"|![^!\n]*!|\+[^+\n]*\+|\[[A-Za-z]:[^\]\n]*\]|%.*')
_FIELD_LINE = re.compile(r"^[A-Za-z]:")
_RESERVED = re.compile(r"Ignoring reserved character (\S)")
_BAR_UNITS = re.compile(r"line-char (\d+)-(\d+) : .*Bar (\d+) has (\S+) time units while the time signature has (\S+)")


def _music_lines(text: str) -> list[tuple[bool, list[str]]]:
    """Each tune's body lines (field lines left out), and whether its header gives it a meter (an M:
    other than `none`)."""
    tunes = []
    for lines in abc.split_book(text)[1] or [text.split("\n")]:
        meter = abc.header_fields("\n".join(lines)).get("M", "").strip().lower()
        body = [line for line in lines[abc.header_end(lines):] if not _FIELD_LINE.match(line)]
        tunes.append((meter not in ("", "none"), body))
    return tunes


def _music(line: str) -> str:
    """A body line with what is not music blanked (the same length)."""
    return _NOT_MUSIC.sub(lambda m: " " * len(m.group()), line)


def _slur_problem(lines: list[str]) -> str | None:
    depth = 0
    for line in map(_music, lines):
        for i, ch in enumerate(line):
            if ch == "(" and not line[i + 1:i + 2].isdigit():    # ((3: a slur, then a tuplet
                depth += 1
            elif ch == ")":
                if not depth:
                    return "a slur closed that was never opened: ')' with no '(' before it"
                depth -= 1
    return "a slur left open at the end of the tune" if depth else None


def text_problem(text: str) -> str | None:
    """The first writing of the tune `text` that a reader drops (see the module's list), or None."""
    for metered, lines in _music_lines(text):
        music = [_music(line) for line in lines]
        if metered and not any("|" in line for line in music) and any(line.strip() for line in music):
            return "no bar line: music21 reads the notes as one run, with no bars"
        for written, line in zip(lines, music):
            if any(quoted.startswith(">") for quoted in abc.QUOTED.findall(written)):
                return "an annotation placed right (\">...\") makes music21 drop the note after it"
            if "H" in line:
                return "H (a fermata) marks a note that music21 drops: write !fermata! instead"
            if "Z" in line:
                return "Z (a bar's rest) is dropped by music21: write the rest out (z8, z6, ...)"
            if "x" in line:
                return "x (an invisible rest) is dropped by music21, and its time with it: write z"
        slur = _slur_problem(lines)
        if slur:
            return slur
    return None


def _value(text: str) -> Fraction | None:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _within_a_line(text: str, line: int, column: int) -> bool:
    """Whether the bar that ends at the bar line abc2midi places at `line`-`column` (1-based line, 0-based
    column of the tune `text`) began on that line: a bar line before it there."""
    lines = text.split("\n")
    if not 0 < line <= len(lines):
        return False
    before = _music(lines[line - 1])[:column]
    return "|" in before.rstrip("|:] ")


def abc2midi_problem(messages: list[str], text: str) -> str | None:
    """A warning of abc2midi's on the tune `text` that means the music is not as written (see the
    module's list), or None."""
    for message in messages:
        reserved = _RESERVED.search(message)
        if reserved:
            return (f"abc2midi ignores the reserved character {reserved.group(1)!r} "
                    "(a decoration no U: field defines)")
        bar = _BAR_UNITS.search(message)
        if bar:
            has, meter = _value(bar.group(4)), _value(bar.group(5))
            if has and meter and has > meter and (has / meter).denominator == 1 and _within_a_line(
                    text, int(bar.group(1)), int(bar.group(2))):
                return (f"abc2midi's bar {bar.group(3)} (from 0) holds {has / meter} bars of its meter: a bar line "
                        "is missing (music21 cuts it in two without a word)")
    return None
