"""ABC text as music21 must be handed it to read the meters and unit lengths that abc2midi and the
standard read.

music21 (10.x) cuts a tune into bars by its tokens, and loses body fields on the way:

- a field line `M:3/4` between a bar line and the next note (the usual way to change the meter) is
  dropped where it stands alone: music21 takes a lone field before a note for the end of the bar before
  it. Two fields in a row make a bar of their own, which music21 joins to the next bar, except after a
  bar without notes (chord symbols only), where its time signature goes to the start of the tune;
- inline fields `[M:3/4]` and `[L:1/4]` are not applied at all.

A field line inside a bar is kept as the bar's own time signature. So before music21 reads a tune,
each body M: field moves to just before the bar line that ends the first bar in the new meter (the
bar it applies to, as before), and an inline L: field becomes a field line where it stands. The music
is unchanged: abc2midi reads both texts alike.
"""

from __future__ import annotations

import re

from tunesmith.notation.abc import with_default_length

METER_LINE = re.compile(r"^M:([^\n%]*)(?:%[^\n]*)?\n", re.M)
# (not where the line after it would begin like a field: "[L:1/4]e:|")
INLINE = re.compile(r"\[([ML]):([^\]\n]*)\](?!\s*[A-Za-z]:)")
# what the search for a bar line steps over: chord symbols and annotations, !decorations!, comments,
# field lines, inline fields, tuplet ratios (their colons are no repeat signs) and the numbers of
# endings (`[2`, `|1`: a bar that holds only an ending's number and a chord symbol has no music)
SKIP = re.compile(r'"[^"\n]*"|![^!\n]*!|%[^\n]*|^[A-Za-z]:[^\n]*|\[[A-Za-z]:[^\]\n]*\]|\(\d(?::\d*)*'
                  r'|\[\d[\d,-]*|(?<=\|)\d[\d,-]*', re.M)
BAR = re.compile(r"\[?:*\||::")


def for_music21(text: str) -> str:
    """`text` (one tune or a book) with the default unit length written out (`with_default_length`)
    and every body meter and unit length field where music21 applies it."""
    out: list[str] = []
    body: list[str] | None = None      # the lines of the tune body being read (None: in a header)
    for line in with_default_length(text).split("\n"):
        if body is not None:
            if not line.startswith("X:") and line.strip():
                body.append(line)
                continue
            out += _moved(body)
            body = None
        out.append(line)
        if line.startswith("K:"):
            body = []
    return "\n".join(out + (_moved(body) if body else []))


def _moved(lines: list[str]) -> list[str]:
    """A tune's body lines with its inline M: and L: fields as field lines, and each M: line moved to the
    bar line that ends its first bar (kept where it is when no bar line follows)."""
    if not any("M:" in line or "L:" in line for line in lines):
        return lines
    text = INLINE.sub(lambda f: f"\n{f.group(1)}:{f.group(2)}\n", "\n".join(lines) + "\n")
    text = re.sub(r"\n[ \t]*(?=\n)", "", text)        # (no blank line: it would end the tune)
    at = 0
    while (found := METER_LINE.search(text, at)) is not None:
        rest = text[found.end():]
        bar = _bar_at(rest)
        if bar is None:
            at = found.end()
            continue
        if METER_LINE.search(rest[:bar]):    # another meter before any bar in this one: it holds
            text = text[:found.start()] + rest
            at = found.start()
            continue
        before = rest[:bar].rstrip(" \t")
        field = f"M:{found.group(1)}\n"
        moved = before + field if before.endswith("\n") else f"{before}\n{field}"
        text = text[:found.start()] + moved + rest[bar:]
        at = found.start() + len(moved)
    return text[:-1].split("\n")


def _bar_at(text: str) -> int | None:
    """Where the bar line that ends the first bar of `text` begins (the first after some music), or None."""
    at, music = 0, False
    while at < len(text):
        skip = SKIP.match(text, at)
        if skip is not None and skip.end() > at:
            at = skip.end()
            continue
        bar = BAR.match(text, at)
        if bar is not None:
            if music:
                return at
            at = bar.end()
            continue
        music = music or not text[at].isspace()
        at += 1
    return None
