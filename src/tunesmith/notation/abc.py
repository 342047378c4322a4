"""ABC notation: split books into tunes, normalise headers, finish sampled tunes.

Every tune is brought to one canonical shape before training, so the model sees
one way to begin a tune and learns the header reliably:

    X:1                 (reference number: always 1 in training text; the
    T:title              writer numbers sampled tunes 1..n)
    ...other fields      (in their original order; `%` comment lines dropped)
    M:6/8
    L:1/8               (added from the ABC standard's rule when missing)
    K:G                 (always the last header line)
    body...

`X: 80` becomes `X:80` (no space after the field letter), trailing spaces and
blank lines go, and text after the first blank line following the body is not
part of the tune (ABC ends a tune at a blank line).
"""

from __future__ import annotations

import re
from fractions import Fraction

FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
# File-header fields a tune inherits when it does not set them itself.
INHERITED = set("MLRQCAOZNSG")
# The fields about the music, which reading keeps: title, rhythm (tune type), meter, unit length, tempo,
# key, parts. The rest (book, source, transcriber, notes, history, discography, area, origin, composer,
# file, words, …) name people and places, not music: left out unless asked for (`--keep-fields`).
MUSIC_FIELDS = "TRMLQKP"
# a rhythm's meters, where the tune type fixes them (other rhythms: the meters their corpus tunes had)
RHYTHM_METERS = {"jig": ("6/8",), "double jig": ("6/8",), "single jig": ("6/8", "12/8"),
                 "slip jig": ("9/8",), "slipjig": ("9/8",), "slide": ("12/8", "6/8"),
                 "reel": ("C|", "2/2", "4/4", "C", "2/4"), "hornpipe": ("2/4", "4/4", "C"),
                 "polka": ("2/4",), "waltz": ("3/4",), "mazurka": ("3/4",), "strathspey": ("C", "4/4", "C|"),
                 "clog": ("C|", "4/4", "2/4", "C")}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# a chord symbol with a space after its root, "D m": abc2midi plays D (major), music21 D minor
SPACED_CHORD = re.compile(r"\(?[A-G][#b]?[ \t]+\S")
QUOTED = re.compile(r'"([^"]*)"')


class TuneError(ValueError):
    """A tune that cannot be used, with a one-line reason."""


BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
BINARY = "binary data, not a text file"


def decode(data: bytes, refuse_binary: bool = False) -> str:
    """A text file's bytes → text: by its byte-order mark (UTF-8, UTF-16 or UTF-32, either byte
    order), UTF-16 without one when every other byte is zero, else UTF-8 where it is valid and
    latin-1 otherwise (old ABC books are latin-1). Newlines become \\n.

    `refuse_binary`: raise ValueError("binary data, not a text file") for data with NUL characters
    (in its first 4096), instead of returning it as latin-1 text."""
    encoding = next((enc for bom, enc in BOMS if data.startswith(bom)), None)
    if encoding is not None:
        bom = next(bom for bom, enc in BOMS if enc == encoding)
        try:
            text = data[len(bom):].decode(encoding)
        except UnicodeDecodeError:
            if refuse_binary:
                raise ValueError(f"not {encoding.upper()} text, though it starts with that byte-order mark") from None
            text = data.decode("latin-1")
    elif _utf16_without_bom(data[:4096]):
        text = data.decode(_utf16_without_bom(data[:4096]), errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if refuse_binary and "\x00" in text[:4096]:
        raise ValueError(BINARY)
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")


def _utf16_without_bom(head: bytes) -> str | None:
    """"utf-16-le"/"-be" for text of one-byte characters with a zero byte beside each, else None."""
    if len(head) < 4:
        return None
    head = head[: len(head) // 2 * 2]
    even, odd = head[0::2], head[1::2]
    if not odd.strip(b"\x00") and b"\x00" not in even:
        return "utf-16-le"
    if not even.strip(b"\x00") and b"\x00" not in odd:
        return "utf-16-be"
    return None


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("%")


def split_book(text: str) -> tuple[list[str], list[list[str]]]:
    """Split a book into its file header lines and one list of lines per tune (at `X:`)."""
    header: list[str] = []
    tunes: list[list[str]] = []
    for line in text.split("\n"):
        if re.match(r"^X:", line):
            tunes.append([line])
        elif tunes:
            tunes[-1].append(line)
        else:
            header.append(line)
    return header, tunes


def default_unit_length(meter: str | None) -> str:
    """The ABC standard's default L: 1/16 when the meter is below 3/4, else 1/8."""
    if meter:
        m = re.match(r"^\s*(\d+)\s*/\s*(\d+)", meter)
        if m and int(m.group(2)) > 0 and Fraction(int(m.group(1)), int(m.group(2))) < Fraction(3, 4):
            return "1/16"
    return "1/8"


def _field(line: str) -> tuple[str, str] | None:
    m = FIELD.match(line)
    return (m.group(1), m.group(2)) if m else None


def kept_letters(keep: str = "") -> str:
    """The field letters reading keeps: the music's (MUSIC_FIELDS) and `keep` ("all": every letter)."""
    if keep == "all":
        return "".join(chr(c) for c in range(ord("A"), ord("Z") + 1)) + "".join(
            chr(c) for c in range(ord("a"), ord("z") + 1))
    return MUSIC_FIELDS + "".join(ch for ch in keep if ch not in MUSIC_FIELDS)


def _without_comment(line: str) -> str:
    """A music line without its trailing `% comment` (a `%` inside a quoted chord symbol stays)."""
    if "%" not in line:
        return line
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "%" and not quoted and (i == 0 or line[i - 1] != "\\"):
            return line[:i].rstrip()
    return line


def normalise_tune(lines: list[str], inherited: dict[str, str] | None = None,
                   number: int = 1, keep: str = "") -> str:
    """One tune's lines (starting at `X:`) → canonical text ending in a newline. Only the fields of
    `kept_letters(keep)` stay, in the header and in the body; comments go, and a tab is a space.

    Raises TuneError when the tune has no `K:` field or no music after it.
    """
    letters_kept = kept_letters(keep)
    lines = [_without_comment(ln.rstrip()).replace("\t", " ") for ln in lines if not _is_comment(ln)]
    header: list[tuple[str, str]] = []
    body: list[str] = []
    in_body = False
    for line in lines:
        if not in_body:
            if not line.strip():
                continue  # stray blank lines inside a header carry nothing
            parsed = _field(line)
            if parsed is None:
                if any((_field(ln) or ("",))[0] == "K" for ln in lines):
                    raise TuneError("music before the K: (key) field")
                raise TuneError("no K: (key) field")
            header.append(parsed)
            if parsed[0] == "K":
                in_body = True
        else:
            if not line.strip():
                break  # a blank line ends the tune; anything after it is free text
            parsed = _field(line)
            if parsed and parsed[0] in "ABCDEFGabcdefg" and parsed[1][:1] in ("|", ":"):
                parsed = None     # "A:|": a note before a repeat, not the A: (area) field
            if parsed and parsed[0] not in letters_kept:
                continue
            if parsed or line.strip():
                body.append(f"{parsed[0]}:{parsed[1]}" if parsed else line)
    if not in_body:
        raise TuneError("no K: (key) field")
    if not any(ln and _field(ln) is None for ln in body):
        raise TuneError("no music after the header")
    # an M: or L: line between K: and the music ("K:D\nM:6/8") is the header's meter or unit when the
    # header has none: the tune is read the same, and every tune states its meter before K:
    while body and (lifted := _field(body[0])) and lifted[0] in ("M", "L") and all(k != lifted[0] for k, _ in header):
        header.insert(-1, lifted)
        body.pop(0)

    letters = {k for k, _ in header}
    for k, v in (inherited or {}).items():
        if k not in letters:
            header.insert(-1, (k, v))
    titles = [v for k, v in header if k == "T"]
    meter = next((v for k, v in header if k == "M"), None)
    unit = next((v for k, v in header if k == "L"), None) or default_unit_length(meter)
    key = [v for k, v in header if k == "K"][-1]
    # (an empty field, `R:` with no tune type, says nothing: O'Neill's writes a few)
    others = [(k, v) for k, v in header if k not in "XTMLK" and k in letters_kept and v.strip()]
    if keep != "all":   # an address in a kept field (a title "for x@y.org") is a person's, not music
        titles = [t for t in titles if not EMAIL.search(t)]
        others = [(k, v) for k, v in others if not EMAIL.search(v)]
    out = [f"X:{number}"]
    out += [f"T:{t}" for t in titles]
    out += [f"{k}:{v}" for k, v in others]
    if meter is not None:
        out.append(f"M:{meter}")
    out.append(f"L:{unit}")
    out.append(f"K:{key}")
    out += body
    return "\n".join(out) + "\n"


def with_default_length(text: str) -> str:
    """ABC text with the standard's default unit note length written out (L:1/8; L:1/16 under a
    meter below 3/4) in every tune whose header (and the file header) sets none, so a reader that
    lacks the rule (music21: "no active default note length") reads the tune as the standard says.
    Tunes that set L: and text without a K: field are left as they are."""
    header, tunes = split_book(text)
    if not tunes:                         # a tune without X: is one tune
        header, tunes = [], [header]
    fields = [f for f in map(_field, (ln for ln in header if not _is_comment(ln))) if f]
    if any(k == "L" for k, _ in fields):  # the file header's L: holds for every tune
        return text
    file_meter = next((v for k, v in reversed(fields) if k == "M"), None)
    out = list(header)
    for lines in tunes:
        end = header_end(lines)
        head = [f for f in map(_field, lines[:end]) if f]
        if not head or head[-1][0] != "K" or any(k == "L" for k, _ in head):
            out += lines
            continue
        meter = next((v for k, v in reversed(head) if k == "M"), file_meter)
        out += lines[: end - 1] + [f"L:{default_unit_length(meter)}"] + lines[end - 1:]
    return "\n".join(out)


def read_book(text: str, name: str, keep: str = "") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A book's text → ([(piece name, canonical tune text)], [(piece name, reason skipped)]). `keep`:
    field letters kept besides the music's (see `kept_letters`)."""
    file_header, tunes = split_book(text)
    inherited: dict[str, str] = {}
    for line in file_header:
        parsed = _field(line) if not _is_comment(line) else None
        if parsed and parsed[0] in INHERITED:
            inherited[parsed[0]] = parsed[1]
    pieces, skipped = [], []
    for lines in tunes:
        number = lines[0][2:].strip() or "?"
        title = next((f[1] for f in map(_field, lines) if f and f[0] == "T"), "")
        piece_name = f"{name}#X{number}" + (f" {title}" if title else "")
        try:
            pieces.append((piece_name, normalise_tune(lines, inherited, keep=keep)))
        except TuneError as exc:
            skipped.append((piece_name, str(exc)))
    return pieces, skipped


def prepare_primer(primer: str) -> str:
    """Bring a user's primer into the training text's shape.

    Field lines lose the space after the letter and `X:` is numbered 1, so
    `X: 80` primes exactly like the training data; a primer that starts with a
    field other than `X:` gets `X:1` in front, because every training tune
    begins with it.
    """
    if not primer:
        return primer
    lines = primer.split("\n")
    out = []
    for line in lines:
        parsed = _field(line)
        if parsed and parsed[0] == "X":
            out.append("X:1")
        elif parsed and line[:1].isalpha():
            out.append(f"{parsed[0]}:{parsed[1]}")
        else:
            out.append(line)
    text = "\n".join(out)
    if _field(out[0]) and not text.startswith("X:"):
        text = "X:1\n" + text
    return text


def finish(text: str, number: int, title: str, keep: str = "") -> str:
    """A sampled tune → a standalone ABC tune numbered `number`, with a title and
    the M:/L:/K: header order of the training data. Falls back to the raw text
    with an `X:` line when the sample has no K: field (the validity check says why)."""
    lines = text.rstrip("\n").split("\n")
    if not lines or not lines[0].startswith("X:"):
        lines.insert(0, "X:1")
    if not any(_field(ln) and _field(ln)[0] == "T" for ln in lines[: header_end(lines)]):
        lines.insert(1, f"T:{title}")
    try:
        return normalise_tune(lines, number=number, keep=keep)
    except TuneError:
        lines[0] = f"X:{number}"
        return "\n".join(lines) + "\n"


def header_end(lines: list[str]) -> int:
    """Where a tune's body begins: the line after its K: field (or the end)."""
    for i, line in enumerate(lines):
        parsed = _field(line)
        if parsed and parsed[0] == "K":
            return i + 1
    return len(lines)


def header_fields(text: str) -> dict[str, str]:
    """A canonical tune's header: field letter → its (last) value, up to and including K:."""
    found = {}
    for line in text.split("\n"):
        parsed = _field(line)
        if parsed is None:
            break
        found[parsed[0]] = parsed[1]
        if parsed[0] == "K":
            break
    return found


MODES = {"": "major", "maj": "major", "major": "major", "ion": "major", "ionian": "major", "m": "minor",
         "min": "minor", "minor": "minor", "aeo": "minor", "aeolian": "minor", "dor": "dorian",
         "dorian": "dorian", "mix": "mixolydian", "mixolydian": "mixolydian", "phr": "phrygian",
         "phrygian": "phrygian", "lyd": "lydian", "lydian": "lydian", "loc": "locrian", "locrian": "locrian"}


KEY_VALUES = frozenset(t + a + m for t in "ABCDEFG" for a in ("", "#", "b")
                       for m in ("", "m", "min", "maj", "dor", "mix", "lyd", "phr", "loc", "aeo", "ion", "Dor", "Mix"))


def key_parts(value: str) -> tuple[str, str] | None:
    """A K: value → (tonic, mode name), e.g. "Ador" → ("A", "dorian"), "F#m" → ("F#", "minor");
    None for a value without a tonic (K:none, K:HP)."""
    m = re.match(r"^\s*([A-Ga-g][#b]?)\s*([A-Za-z]*)", value)
    if not m:
        return None
    mode = MODES.get(m.group(2).lower()[:3] if m.group(2).lower()[:3] in MODES else m.group(2).lower())
    return (m.group(1)[0].upper() + m.group(1)[1:], mode) if mode else None


INLINE_FIELD = re.compile(r"\[([A-Za-z]):")
BODY_METER = re.compile(r"(?:^M:|\[M:)([^\]\n%]*)", re.M)     # a change of meter in a body


def control_counts(texts: list[str]) -> dict[str, dict[str, int]]:
    """What the tunes' headers say, for sampling controls: meter (M:), key (K:), mode (from K:),
    rhythm (R:) and unit (L:) → {value: number of tunes}; and for the grammar, the letters of the
    inline fields (`[K:D]`) their bodies use (inline) → {letter: number of tunes}, the meters their
    bodies change to (body_meter) and the part orders of their headers (parts, P:) → {value: number of tunes}."""
    counts: dict[str, dict[str, int]] = {"meter": {}, "key": {}, "mode": {}, "rhythm": {}, "unit": {},
                                         "inline": {}, "body_meter": {}, "parts": {}}
    for text in texts:
        for letter in set(INLINE_FIELD.findall(text)):
            counts["inline"][letter] = counts["inline"].get(letter, 0) + 1
        lines = text.split("\n")
        body = "\n".join(lines[header_end(lines):])
        for value in {found.strip() for found in BODY_METER.findall(body)}:
            counts["body_meter"][value] = counts["body_meter"].get(value, 0) + 1
        head = header_fields(text)
        for name, letter in (("meter", "M"), ("key", "K"), ("rhythm", "R"), ("unit", "L"), ("parts", "P")):
            if head.get(letter):
                counts[name][head[letter]] = counts[name].get(head[letter], 0) + 1
        parts = key_parts(head.get("K", ""))
        if parts:
            counts["mode"][parts[1]] = counts["mode"].get(parts[1], 0) + 1
    return {name: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))) for name, values in counts.items()}


def rhythm_problem(text: str) -> str | None:
    """Why a tune's R: (tune type) disagrees with its M: (a jig in 2/4), or None. Only tune types whose
    meter is fixed are judged; each tune of a book by its own header."""
    for lines in split_book(text)[1] or [text.split("\n")]:
        head = header_fields("\n".join(lines))
        rhythm, meter = head.get("R", "").strip().lower(), head.get("M", "").strip()
        if rhythm in RHYTHM_METERS and meter and meter not in RHYTHM_METERS[rhythm]:
            return f"R:{head['R']} does not fit M:{meter} (a {rhythm} is in {' or '.join(RHYTHM_METERS[rhythm])})"
    return None


def chord_problem(text: str) -> str | None:
    """A chord symbol its readers read differently, or None: "D m" (a space after the root) is D minor
    to music21 and D major to abc2midi, which reads the chord to the space."""
    for line in text.split("\n"):
        if line.startswith("%") or line[:2] in ("T:", "W:", "w:"):
            continue
        for quoted in QUOTED.findall(line):    # (left to right, in pairs: never the text between two)
            if SPACED_CHORD.match(quoted):
                return f'chord symbol "{quoted}" has a space after its root (abc2midi plays its major chord)'
    return None
