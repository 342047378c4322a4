"""An ABC tune moved to another key, exactly, as text: for `--augment` on the character codec.

Every note is moved by the same number of letters and semitones, so its pitch rises or falls by the
interval asked and it keeps its place in the scale:

- the key (header K: and inline `[K:..]` or body K: lines) moves to the spelling of the new tonic with
  the fewest sharps or flats for its mode (G up one semitone is Ab, not G#);
- a note without an accidental keeps it so: the new key signature (or the accidental carried
  from earlier in its bar, which moves the same way) gives its new pitch;
- a note with an accidental gets the one its new pitch needs (`=b` in F, B natural, up a tone in G
  is `^c`);
- chord symbols move their root and bass (`"D7/f#"` up a tone is `"E7/g#"`); annotations (`"^text"`),
  decorations, comments and every other field stay as they are.

A tune this cannot move exactly (a key without a tonic, such as K:none, or a note that would need a
triple sharp) gives None: augmentation leaves it out rather than write a wrong note.
"""

from __future__ import annotations

import re

from tunesmith.notation.abc import key_parts

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)           # semitones of C D E F G A B above C
FIFTHS = (0, 2, 4, -1, 1, 3, 5)            # sharps (+) or flats (-) of the major key on each letter
MODE_FIFTHS = {"major": 0, "lydian": 1, "mixolydian": -1, "dorian": -2, "minor": -3, "phrygian": -4,
               "locrian": -5}
ACCIDENTALS = {"__": -2, "_": -1, "=": 0, "^": 1, "^^": 2}
WRITTEN = {v: k for k, v in ACCIDENTALS.items()}
TONIC = re.compile(r"^(\s*)([A-G])([#b]?)")
CHORD_ROOT = re.compile(r"([A-Ga-g])([#b]?)")
FIELD_LINE = re.compile(r"^[A-Za-z+]:")


class _Cannot(Exception):
    """The tune cannot be moved exactly."""


def transpose(text: str, semitones: int) -> str | None:
    """`text` (one tune, header and body) moved by `semitones`; None where that cannot be exact."""
    lines = text.split("\n")
    key_at = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if key_at is None:
        return None
    try:
        steps = _key_steps(lines[key_at][2:], semitones)
        move = _Move(steps, semitones)
        out = [line if i < key_at else move.line(line) for i, line in enumerate(lines)]
    except _Cannot:
        return None
    return "\n".join(out)


def _key_steps(value: str, semitones: int) -> int:
    """The letters a key `value` moves by when its tonic rises `semitones`: the target tonic is the
    spelling with the fewest sharps or flats for the key's mode."""
    parts = key_parts(value)
    m = TONIC.match(value)
    if parts is None or m is None or parts[1] not in MODE_FIFTHS:
        raise _Cannot
    letter = LETTERS.index(m.group(2))
    pitch = NATURAL[letter] + (1 if m.group(3) == "#" else -1 if m.group(3) == "b" else 0)
    best = None
    for steps in range(-6, 7):
        if steps and (steps > 0) != (semitones > 0):
            continue                 # letters move the way the pitch does (G down a semitone: Gb or F#)
        target = (letter + steps) % 7
        accidental = _nearest(pitch + semitones - NATURAL[target])
        if abs(accidental) > 1:
            continue
        fifths = abs(FIFTHS[target] + 7 * accidental + MODE_FIFTHS[parts[1]])
        if best is None or fifths < best[0]:
            best = (fifths, steps)
    if best is None:
        raise _Cannot
    return best[1]


def _nearest(semitones: int) -> int:
    """A difference of pitch classes as the accidental nearest it (-6..5)."""
    return (semitones + 6) % 12 - 6


class _Move:
    def __init__(self, steps: int, semitones: int):
        self.steps, self.semitones = steps, semitones

    def line(self, line: str) -> str:
        if FIELD_LINE.match(line):
            return "K:" + self.key(line[2:]) if line.startswith("K:") else line
        out, i, n = [], 0, len(line)
        while i < n:
            ch = line[i]
            if ch == "%":
                out.append(line[i:])
                break
            if ch == '"':
                end = line.find('"', i + 1)
                end = n if end < 0 else end
                out.append('"' + self.chord_symbol(line[i + 1:end]) + line[end:end + 1])
                i = end + 1
            elif ch in "!+" and line.find(ch, i + 1) >= 0:
                end = line.find(ch, i + 1)
                out.append(line[i:end + 1])
                i = end + 1
            elif ch == "[" and i + 2 < n and line[i + 1].isalpha() and line[i + 2] == ":":
                end = line.find("]", i)
                end = n if end < 0 else end
                field = line[i + 1:end]
                out.append("[" + ("K:" + self.key(field[2:]) if field.startswith("K:") else field)
                           + line[end:end + 1])
                i = end + 1
            elif ch in "^_=" or ch in "ABCDEFGabcdefg":
                i = self.note(line, i, out)
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def key(self, value: str) -> str:
        m = TONIC.match(value)
        if m is None:
            raise _Cannot
        return value[:m.start(2)] + self.root(m.group(2), m.group(3)) + value[m.end():]

    def root(self, letter: str, sign: str) -> str:
        """A tonic or chord root (letter in either case, then # or b) moved."""
        index = LETTERS.index(letter.upper())
        pitch = NATURAL[index] + (1 if sign == "#" else -1 if sign == "b" else 0)
        target = (index + self.steps) % 7
        accidental = _nearest(pitch + self.semitones - NATURAL[target])
        if abs(accidental) > 1:
            raise _Cannot
        name = LETTERS[target] if letter.isupper() else LETTERS[target].lower()
        return name + {1: "#", -1: "b", 0: ""}[accidental]

    def chord_symbol(self, text: str) -> str:
        """A chord symbol's root and bass moved, also one in parentheses ("(D7)", a chord to play or
        leave out); an annotation (`^..`, `_..`, `<..`, `>..`, `@..`) kept."""
        if text.startswith("(") and text[1:2] in tuple("ABCDEFG"):
            return "(" + self.chord_symbol(text[1:])
        if not text or text[0] not in "ABCDEFG":
            return text
        m = CHORD_ROOT.match(text)
        head = self.root(m.group(1), m.group(2))
        rest = text[m.end():]
        slash = rest.find("/")
        if slash >= 0:
            bass = CHORD_ROOT.match(rest, slash + 1)
            if bass:
                rest = rest[:slash + 1] + self.root(bass.group(1), bass.group(2)) + rest[bass.end():]
        return head + rest

    def note(self, line: str, i: int, out: list[str]) -> int:
        """The note at `i` (its accidental, letter and octave marks) moved; the index after it."""
        start = i
        while i < len(line) and line[i] in "^_=":
            i += 1
        sign = line[start:i]
        if i >= len(line) or line[i] not in "ABCDEFGabcdefg":
            out.append(line[start:i])      # an accidental with no note: left as it is
            return i
        letter = line[i]
        i += 1
        octave = 0 if letter.isupper() else 1
        while i < len(line) and line[i] in ",'":
            octave += 1 if line[i] == "'" else -1
            i += 1
        index = LETTERS.index(letter.upper())
        place = index + 7 * octave + self.steps
        target, target_octave = place % 7, place // 7
        if sign:
            if sign not in ACCIDENTALS:
                raise _Cannot
            pitch = 12 * octave + NATURAL[index] + ACCIDENTALS[sign] + self.semitones
            accidental = pitch - 12 * target_octave - NATURAL[target]
            if accidental not in WRITTEN:
                raise _Cannot
            out.append(WRITTEN[accidental])
        name = LETTERS[target] if target_octave <= 0 else LETTERS[target].lower()
        marks = "," * -target_octave if target_octave < 0 else "'" * (target_octave - 1)
        out.append(name + marks)
        return i
