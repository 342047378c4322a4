"""Humdrum **kern: strip a score to its body for training, restore a full file from a body.

Stripping does what the Mozart char-rnn experiment did by hand: `!` comment and
reference lines go, the preamble (exclusive interpretations, staff, clef,
instrument, tempo lines before the music starts) goes, and every barline line
becomes one measure marker line: `@`, followed by the barline's kind where it
is one a bar may be short beside (`@:|!` end of a repeat, `@!|:` start of one,
`@:|!|:` both, `@||` double bar, `@=` final bar; see `STYLES`). The body starts
with the piece's meter line (`*M3/4`), then its key (`*F:`, `*G:mix`) and key
signature (`*k[b-]`) lines where the file has them, in that order: a model
writes them first, so a meter or key can be asked for (the meter is inferred
from the bar lengths when the file has none). The spines (tab-separated
columns) and the interpretations inside the music (spine splits `*^`, merges
`*v`, clef, key or meter changes) stay.

Restoring is the inverse: a header with exclusive interpretations, staff and
clef lines (learned from the corpus), the body's meter and key lines (for a
body without them, the key signature given and a meter inferred from the bar
lengths), numbered barlines, and `*-` terminators. Lines whose spine count
does not match the spines open at that point are repaired (data lines: padded
with `.` or cut) or dropped (interpretation lines), never passed through.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

MARKER = "@"
NULL = "."
_MANIPULATORS = {"*^", "*v", "*+", "*x", "*-"}
# the barline kinds a marker keeps: a bar beside one of them may be short (`tunesmith check`, music21)
STYLES = ("", ":|!", "!|:", ":|!|:", "||", "=")
METER = re.compile(r"^\*M(\d+)/(\d+)$")
KEY = re.compile(r"^\*([A-Ga-g?][#-]*):(\w*)$")
SIGNATURE = re.compile(r"^\*k\[[a-g#n-]*\]$")


class KernError(ValueError):
    """A **kern file that cannot be used, with a one-line reason."""


@dataclass
class KernHeader:
    """What a restored file starts with, for one number of spines."""

    spines: list[str]                       # e.g. ["**kern", "**kern", "**dynam"]
    staff: list[str] = field(default_factory=list)   # e.g. ["*staff2", "*staff1", "*staff1/2"]
    clef: list[str] = field(default_factory=list)    # e.g. ["*clefF4", "*clefG2", "*"]

    def to_json(self) -> dict:
        return {"spines": self.spines, "staff": self.staff, "clef": self.clef}

    @classmethod
    def from_json(cls, data: dict) -> "KernHeader":
        return cls(list(data["spines"]), list(data.get("staff", [])), list(data.get("clef", [])))


def _width(line: str) -> int:
    return line.count("\t") + 1


def _is_barline(line: str) -> bool:
    return line.startswith("=")


def _is_marker(line: str) -> bool:
    return line.startswith(MARKER)


def barline_style(barline: str) -> str:
    """The kind of a barline (its first field) that a marker keeps, one of STYLES."""
    rest = re.sub(r"[0-9a-z;,'`]", "", barline.split("\t")[0][1:])
    if rest.startswith("=") and ":" not in rest:
        return "="
    rest = rest.lstrip("=")
    end, begin = rest.startswith(":"), rest.endswith(":")
    if end or begin:
        return ":|!|:" if end and begin else ":|!" if end else "!|:"
    return "||" if "||" in rest else ""


def marker(style: str = "") -> str:
    return MARKER + style


def head_kind(line: str) -> str | None:
    """"meter", "key" or "signature" for an interpretation line of that kind (its first field that
    is not a bare `*` decides), else None."""
    named = [f for f in line.split("\t") if f != "*"]
    if not named or not line.startswith("*"):
        return None
    if METER.match(named[0]):
        return "meter"
    if KEY.match(named[0]):
        return "key"
    if SIGNATURE.match(named[0]):
        return "signature"
    return None


def head_values(body: str) -> dict[str, str]:
    """The meter ("3/4") and key ("F", "g", "G:mix": the key line's first field without `*` and a
    bare trailing `:`) that a body states before its music."""
    found: dict[str, str] = {}
    for line in body.split("\n"):
        kind = head_kind(line)
        if kind is None:
            break
        first = next(f for f in line.split("\t") if f != "*")
        if kind == "meter" and "meter" not in found:
            found["meter"] = first[2:]
        elif kind == "key" and "key" not in found:
            found["key"] = first[1:].rstrip(":")
    return found


def strip(text: str) -> tuple[str, KernHeader]:
    """A complete **kern file → (training body, the header it had).

    Raises KernError when the file has no **kern spine or no music.
    """
    lines = [ln.rstrip("\r") for ln in text.replace("\r\n", "\n").split("\n")]
    lines = [ln for ln in lines if ln.strip() and not ln.startswith("!")]
    if not lines or not lines[0].startswith("**"):
        raise KernError("no exclusive interpretation line (**kern) at the start")
    spines = lines[0].split("\t")
    if "**kern" not in spines:
        raise KernError(f"no **kern spine (spines: {' '.join(spines)})")
    header = KernHeader(spines)
    width = len(spines)
    head: dict[str, str] = {}
    body: list[str] = []
    started = ended = False
    for line in lines[1:]:
        if not started:
            if line.startswith("*") and not _has_manipulator(line):
                fields = line.split("\t")
                if len(fields) == width:
                    kind = head_kind(line)
                    if kind is not None:
                        head.setdefault(kind, line)
                    elif fields[0].startswith("*staff") or any(f.startswith("*staff") for f in fields):
                        header.staff = fields
                    elif any(f.startswith("*clef") for f in fields):
                        header.clef = fields
                continue
            started = True
        if _is_barline(line):
            style = barline_style(line)
            if body and _is_marker(body[-1]):
                if style:   # two barlines in a row make no measure; the kind of either is kept
                    body[-1] = marker(style)
                continue
            body.append(marker(style))
        elif line.startswith("*") and all(f == "*-" for f in line.split("\t")):
            ended = True
            break
        elif not line.startswith("*") and all(f == NULL for f in line.split("\t")):
            continue   # a line of nothing but nulls says nothing (restore drops them too)
        else:
            body.append(line)
    while body and _is_marker(body[0]):
        body.pop(0)
    if not any(not ln.startswith(("*", MARKER)) for ln in body):
        raise KernError("no music (no data lines) in the file")
    if ended:          # a whole piece (its spines end): it ends with its final barline, as restore writes it
        while body and body[-1].startswith("*"):
            body.pop()     # interpretations after the last barline change nothing
        if not _is_marker(body[-1]):
            body.append(marker("="))
    if "meter" not in head:
        meter = infer_meter("\n".join(body))
        if meter is None:
            raise KernError("no meter line (*M) and no meter the bars agree on")
        head["meter"] = "\t".join(meter if s == "**kern" else "*" for s in spines)
    lines_first = [head[k] for k in ("meter", "key", "signature") if k in head]
    return "\n".join(lines_first + body) + "\n", header


def _has_manipulator(line: str) -> bool:
    return any(f in _MANIPULATORS for f in line.split("\t"))


# ---- meter inference -----------------------------------------------------------------

_RECIP = re.compile(r"^(\d+)(%\d+)?(\.*)")


def token_duration(token: str) -> Fraction | None:
    """Duration in quarter notes of the first note or rest of a **kern token, None for
    null tokens and grace notes."""
    token = token.split(" ")[0].lstrip("([{&_")
    if not token or token == NULL or "q" in token.lower():
        return None
    m = _RECIP.match(token)
    if not m:
        return None
    n = int(m.group(1))
    if m.group(2):
        base = Fraction(4 * int(m.group(2)[1:]), n) if n else None
    else:
        base = Fraction(8) if n == 0 else Fraction(4, n)
    if base is None:
        return None
    dots = len(m.group(3))
    return base * (2 - Fraction(1, 2 ** dots))


def infer_meter(body: str) -> str | None:
    """The meter (`*M3/4`) that the body's complete bars most often fill, from the first spine."""
    sums: list[Fraction] = []
    current: Fraction | None = None
    for line in body.split("\n"):
        if _is_marker(line):
            if current is not None and current > 0:
                sums.append(current)
            current = Fraction(0)
        elif current is not None and line and not line.startswith(("*", "!", "=")):
            d = token_duration(line.split("\t")[0])
            if d is not None:
                current += d
    if not sums:
        return None
    bar = Counter(sums).most_common(1)[0][0]
    if bar.denominator == 1 and 1 <= bar <= 12:
        return f"*M{bar.numerator}/4"
    if (bar * 2).denominator == 1 and 1 <= bar * 2 <= 24:
        return f"*M{(bar * 2).numerator}/8"
    return None


# ---- restoring -----------------------------------------------------------------------

def _default_header(width: int, known: dict[int, KernHeader]) -> KernHeader:
    if width in known:
        return known[width]
    return KernHeader(["**kern"] * width, [f"*staff{width - i}" for i in range(width)],
                      ["*clefG2"] * width)


def repair(body: str) -> tuple[list[str], int, int]:
    """Walk the body, keeping every line consistent with the spines open at that point.

    Returns (lines, initial width, number of lines repaired or dropped).
    """
    lines = [ln for ln in body.replace("\r", "").split("\n") if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("!") and not ln.startswith("**")]
    first = next((ln for ln in lines if not _is_marker(ln) and not _is_barline(ln)), None)
    if first is None:
        return [], 0, 0
    width = start = _width(first)
    out: list[str] = []
    fixed = 0
    for line in lines:
        if _is_marker(line) or _is_barline(line):
            style = barline_style(line) if _is_barline(line) else line[1:]
            style = style if style in STYLES else ""
            if out and _is_marker(out[-1]):
                if style:
                    out[-1] = marker(style)
            else:
                out.append(marker(style))
            continue
        fields = line.split("\t")
        if line.startswith("*"):
            new_width = _apply_manipulators(fields, width)
            if new_width is None:
                fixed += 1
                continue
            out.append(line)
            width = new_width
            continue
        fields = [f if f.strip() else NULL for f in fields]
        if len(fields) != width:
            fixed += 1
            fields = (fields + [NULL] * width)[:width]
        if all(f == NULL for f in fields):
            continue  # a line of nothing but nulls says nothing
        out.append("\t".join(fields))
    return out, start, fixed


def _apply_manipulators(fields: list[str], width: int) -> int | None:
    """Spine count after an interpretation line, or None when it does not fit `width`."""
    if len(fields) != width or any(not f.startswith("*") or f.startswith("**") for f in fields):
        return None
    if any(f in ("*+", "*x", "*-") for f in fields):
        return None  # adds, exchanges and ends are not something a sample may do mid-piece
    new = 0
    i = 0
    while i < len(fields):
        if fields[i] == "*v":
            j = i
            while j < len(fields) and fields[j] == "*v":
                j += 1
            if j - i < 2:
                return None  # a lone merge has nothing to merge with
            new += 1
            i = j
        else:
            new += 2 if fields[i] == "*^" else 1
            i += 1
    return new


def restore(body: str, headers: dict[int, KernHeader] | None = None, key: str = "*k[]",
            meter: str | None = None) -> tuple[str, int]:
    """A (sampled or stripped) body → (complete **kern file text, lines repaired or dropped).

    Raises KernError when nothing of the body can be kept.
    """
    lines, width, fixed = repair(body)
    if not lines or not any(not _is_marker(ln) and not ln.startswith("*") for ln in lines):
        raise KernError("the body has no music lines")
    header = _default_header(width, headers or {})
    stated = "meter" in head_values("\n".join(lines))   # a body of this version states its meter and key
    meter = meter or infer_meter("\n".join(lines)) or "*M4/4"

    def row(value: str, n: int) -> str:
        return "\t".join([value] * n)

    out = ["\t".join(header.spines)]
    if len(header.staff) == width:
        out.append("\t".join(header.staff))
    if len(header.clef) == width:
        out.append("\t".join(header.clef))
    if not stated:
        kern = [s == "**kern" for s in header.spines]
        out.append("\t".join(key if k else "*" for k in kern))
        out.append("\t".join(meter if k else "*" for k in kern))
    current = width
    bar = 1
    # the last marker closes the piece with a final double barline
    last = max((i for i, ln in enumerate(lines) if _is_marker(ln)), default=-1)
    if last != len(lines) - 1:
        lines.append(MARKER)
        last = len(lines) - 1
    for i, line in enumerate(lines):
        if _is_marker(line):
            out.append(row(_barline(line[1:], bar, i == last), current))
            bar += 1
            continue
        if line.startswith("*"):
            current = _apply_manipulators(line.split("\t"), current) or current
        out.append(line)
    out.append(row("*-", current))
    return "\n".join(out) + "\n", fixed


def _barline(style: str, number: int, last: bool) -> str:
    """The barline a marker of `style` restores to: the last one closes the piece (`==`) unless it is
    a repeat's."""
    if style in ("", "=", "||") and last:
        return "=="
    if style == "=":
        return "=="
    return f"={number}{style}"


def common_headers(headers: list[KernHeader]) -> dict[int, KernHeader]:
    """The most common header for each number of spines in a corpus."""
    by_width: dict[int, Counter] = {}
    keep: dict[tuple, KernHeader] = {}
    for h in headers:
        sig = (tuple(h.spines), tuple(h.staff), tuple(h.clef))
        keep[sig] = h
        by_width.setdefault(len(h.spines), Counter())[sig] += 1
    return {w: keep[c.most_common(1)[0][0]] for w, c in by_width.items()}


def prepare_primer(primer: str) -> str:
    """A user's primer in training shape: no comments, barlines as measure markers."""
    out = []
    for line in primer.split("\n"):
        if line.startswith("!"):
            continue
        out.append(marker(barline_style(line)) if _is_barline(line) else line)
    return "\n".join(out)
