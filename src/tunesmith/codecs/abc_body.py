"""The body of an ABC tune, read one character at a time (the reader behind codecs/abc_grammar.py).

`body_step(grammar, state, ch)` is the state after `ch`, or None where `ch` would make the tune fail
`tunesmith check`. A state is a `Body` (codecs/abc_state.py, with the rules that need only the state:
bar lines, repeats, chord symbols; field lines are codecs/abc_fields.py's); `tok` is the token being read, a short tuple: a note's pitch and
length so far, a bar line's characters, a chord, a chord symbol, ... Lengths are the unit length times the
note's suffix, times a broken-rhythm (`>` `<`) and tuplet factor: the notes' durations music21 gives.
"""

from __future__ import annotations

from tunesmith.codecs.abc_fields import FIELD_LINE_LETTERS, INLINE_LETTERS, _in_field, _part_closes, may_label
from tunesmith.codecs.abc_state import (GAP, GAP_LIMIT, LEAD, SHORTEST, Body, _can_write, _close_bar, _commits,
                                        _decoration, _eff, _ending, _ending_within, _fillable, _in_bang, _in_quote,
                                        _note_fits, _tuplet_fits, _twin, replacer)
from tunesmith.codecs.abc_symbols import (BAR_PREFIXES, BARS, DECORATIONS, ENDING_BARS, LENGTHS, NOTES, RESTS,
                                          Fraction, length_value, reaches, read_note, shortest_length, tuplet)


_COMMITTED = replacer("pos", "filled", "notes", "tup", "brk", "tok", "last", "tie", "pair", "pmark", "barend", "ls",
                      "gap", "mark", "grace", "acc", "tacc", "roll", "swung", "wait", "fresh", "part")
ONE = Fraction(1)
# the reader's other hot copies (see `replacer`)
_BEGUN = replacer("tok", "last", "ls")
_ACCIDENTAL = replacer("tok", "last", "ls", "acc")
_SPACED = replacer("last", "ls", "lead")
_LINE_END = replacer("ls", "last")
_BAR_BEGUN = replacer("tok", "ls")
_OPENED = replacer("tok", "last", "ls", "barend")


def _commit(s: Body, units: Fraction, pitch: str | None) -> Body | None:
    """A note (pitch), rest (None) or chord of `units` unit lengths is written."""
    if not _commits(s, units, pitch):
        return None
    eff = _eff(s, units)
    tup = None if s.tup is None or s.tup[1] <= 1 else (s.tup[0], s.tup[1] - 1)
    swung = s.mark if s.swing and pitch not in (None, "[") and units == 1 and (
        s.tup is None and s.brk == 1 and (s.pos / (2 * s.unit)).denominator == 1) else None
    last = (eff, pitch, s.brk != 1 or "!" in s.mark, units, s.acc, s.mark)
    # (pos, filled, notes, tup, brk, tok, last, tie, pair, pmark, barend, ls, gap, mark, grace, acc, tacc,
    # roll, swung, wait, fresh, part)
    return _COMMITTED(s, s.pos + eff, True, s.notes or pitch is not None, tup, ONE, (), last, None, None, None,
                      False, False, 0, "", False, "", "", False, swung, (), False, False)


def _in_note(g, s: Body, ch: str) -> Body | None:
    """The main line's note or rest: its length must fit the bar; a tie waits for its pitch."""
    if not s.tok and s.pmark is not None and s.mark != s.pmark:
        return None       # (after `>` a note marked as the one before, a chord, or nothing marked: abc2midi)
    if not s.tok and ch in RESTS:
        ok = _note_fits(s) and s.tie is None and not s.wait
        return _BEGUN(s, ("n", ch, "", ""), None, False) if ok else None
    nxt = read_note(s.tok, ch)
    if nxt is None:
        return None
    if nxt[0] == "done":
        done = _commit(s, nxt[1], nxt[2])
        done = None if done is None else between(g, done, ch)
        if done is not None and ch == ":" and s.tok[1].isupper() and s.tok[2:] == ("", ""):
            # music21 reads "A::" as a field A: and drops the note: the bar line is marked, "::" refused
            done = done._replace(tok=(*done.tok, "bare"))
        return done
    if nxt[0] == "acc":     # after a tie only the tied note's own accidental (abc2midi ties one pitch)
        if not _note_fits(s) or (s.tie is not None and not s.tacc.startswith(nxt[1])) or (
                s.wait and (len(s.wait) > 1 or not s.wait[0].startswith(nxt[1]))):
            return None
        return _ACCIDENTAL(s, nxt, None, False, nxt[1])
    if nxt[0] == "n":
        if not _note_fits(s):
            return None
        if s.tie is not None and (not s.tie.startswith(nxt[1] + nxt[2]) or s.acc not in ("", s.tacc)
                                  or (nxt[3] and s.tie != nxt[1] + nxt[2])):
            return None
        pitch = s.acc + nxt[1] + nxt[2]      # a chord's tie: the same pitch, written the same way
        if s.wait and (len(s.wait) > 1 or not s.wait[0].startswith(pitch) or (nxt[3] and s.wait[0] != pitch)):
            return None
        if nxt[3] and not _can_write(s, nxt[3]):
            return None
        if s.pair is not None and not reaches(nxt[3], s.pair):
            return None
    return _BEGUN(s, nxt, None, False)


def _in_chord(g, s: Body, ch: str) -> Body | None:
    """[...]: up to four notes as long as the first (times the length after `]`), tied pitches (`wait`) among them."""
    _, first, sub, count = s.tok
    if sub == " ":        # a space came: not a second (the corpora's chords have single spaces)
        if ch == " ":
            return None
        sub = ()
        s = s._replace(tok=("chord", first, (), count))
    missing = [p for p in s.wait if p not in s.held]
    forced = bool(missing) and len(missing) >= 4 - count     # this note must be one of them
    nxt = read_note(sub, ch)
    if nxt is not None and nxt[0] != "done":
        if not sub and count >= 4:
            return None
        if first is None and nxt[0] == "n" and not _first_fits(s, nxt[3]):
            return None      # the first note's length is the chord's: some suffix must make it fit
        if first is not None and nxt[0] == "n" and nxt[3] and not _within(first, nxt[3]):
            return None      # every note as long as the first (see below)
        # (a pitch is held with its accidental as written: abc2midi ties =c to =c, not to c)
        pitch = nxt[1] if nxt[0] == "acc" else s.acc + nxt[1] + nxt[2]
        if forced and (not any(p.startswith(pitch) for p in missing)
                       or (nxt[0] == "n" and nxt[3] and pitch not in missing)):
            return None
        if nxt[0] == "n" and nxt[3] and (pitch in s.ctie or _twin(s, pitch)):
            return None      # its octave is settled: a pitch this chord ties already (see below)
        return s._replace(tok=("chord", first, nxt, count), acc=nxt[1] if nxt[0] == "acc" else s.acc)
    if nxt is None and sub:
        return None
    if nxt is not None:          # a note ended: keep the first's length, read ch again
        pitch = s.acc + nxt[2]
        if (forced and pitch not in missing) or pitch in s.ctie or _twin(s, pitch, ch == "-"):
            return None      # (a tied pitch twice in a chord: abc2midi cannot find which one the tie holds)
        if ch == "-" and first is not None and nxt[1] != first:
            return None      # abc2midi ties a chord's note only where it is as long as the chord
        if first is not None and nxt[1] != first:   # a longer one abc2midi sounds past the chord (at the end:
            return None      # "Sustained notes beyond end of track"); the corpora's chords have notes of one length
        first, sub, count = (nxt[1] if first is None else first), (), count + 1
        if not _can_write(s, "", first, chord=True):
            return None
        s = s._replace(held=(*s.held, pitch), acc="")
        missing = [p for p in s.wait if p not in s.held]
        if ch == "-":       # a tie inside a chord: the note or chord after it must hold the pitch
            return s._replace(tok=("chord", first, (), count), ctie=(*s.ctie, pitch))
    if ch == "]" and first is not None and not sub:
        ok = _can_write(s, "", first, chord=True) and not missing
        return s._replace(tok=("clen", first, "")) if ok else None
    if ch == " " and not sub:
        return s._replace(tok=("chord", first, " ", count)) if s.gap < 2 * GAP_LIMIT else None
    return _in_chord(g, s._replace(tok=("chord", first, (), count)), ch) if ch in NOTES or ch in "^_=" else None


def _within(first, prefix: str) -> bool:
    return any(length_value(x) == first for x in LENGTHS if x.startswith(prefix))


def _first_fits(s: Body, prefix: str) -> bool:
    return any(_can_write(s, "", length_value(x), chord=True) for x in LENGTHS if x.startswith(prefix))


def _chord_length(g, s: Body, ch: str) -> Body | None:
    _, first, lens = s.tok
    if (ch.isdigit() or ch == "/") and shortest_length(lens + ch) is not None:
        return s._replace(tok=("clen", first, lens + ch)) if _can_write(s, lens + ch, first, chord=True) else None
    if lens not in LENGTHS or s.tie is not None:
        return None
    done = _commit(s._replace(tok=(), wait=()), first * length_value(lens), "[")
    if done is not None:
        done = done._replace(wait=s.ctie, held=(), ctie=())
    return None if done is None else between(g, done._replace(last=None), ch)


def _in_grace(g, s: Body, ch: str) -> Body | None:
    """{...}: grace notes, which take no time."""
    _, count, sub = s.tok
    if ch == "/" and count == 0 and not sub:
        return s._replace(tok=("grace", 0, ("/",)))
    nxt = read_note(() if sub == ("/",) else sub, ch)
    if nxt is not None and nxt[0] != "done":
        return s._replace(tok=("grace", count, nxt))
    if nxt is None and sub and sub != ("/",):
        return None
    if nxt is not None:
        count, sub = count + 1, ()
    if ch == "}" and count and not sub:
        return s._replace(tok=(), grace=True, swung=None)     # (abc2midi pairs no notes around grace notes)
    nxt = read_note((), ch)
    return s._replace(tok=("grace", count, nxt)) if nxt is not None and count < 8 else None


def _in_bar(g, s: Body, ch: str) -> Body | None:
    text = s.tok[1]
    if (text == ":" and ch == ":" and s.tok[2:]) or (text == ":||" and ch == "|"):
        return None    # (`:|||:` abc2midi reads as `:|` and `||:`, which opens no repeat: not `:||`, `|:`)
    if text + ch in BAR_PREFIXES:
        closable = any(b.startswith(text + ch) and _close_bar(s, b) is not None for b in BARS)
        return s._replace(tok=("bar", text + ch)) if closable else None
    if text not in BARS or (ch == ":" and (text in ("[|", "|]") or text.endswith(":"))):
        return None       # (abc2midi reads "[|:" as one |:, and "||::" as || and ::, not as ||: and :)
    done = _close_bar(s, text)
    if done is None:
        return None
    if ch in "123456789" and text in ENDING_BARS:
        return _ending(done, ch)
    return between(g, done, ch)


def _in_bracket(g, s: Body, ch: str) -> Body | None:
    """After `[`: a chord, `[|`, an ending `[1`, or an inline field `[K:G]` (after a decoration: a chord)."""
    if s.tok[1:] == ("deco",):
        return _chord_start(s, ch)
    if ch == "|":
        return s._replace(tok=("bar", "[|")) if _close_bar(s, "[|") is not None else None
    if ch in "123456789":
        if not s.filled and s.barend:
            return _ending(s, ch)
        return _ending_within(s) if ch == "1" and s.filled else None
    if ch in INLINE_LETTERS and ch in g.letters and ch in g.inline:
        if (ch in "ML" and (s.filled or s.tup is not None)) or s.gap >= GAP_LIMIT or (
                ch == "P" and not may_label(s)) or (
                ch == "K" and (s.tie is not None or s.wait)):    # abc2midi loses a tie across a key change
            return None
        return s._replace(tok=("ifield", ch, None))
    return _chord_start(s, ch)


def _chord_start(s: Body, ch: str) -> Body | None:
    if s.tie is not None or not _note_fits(s) or s.pair is not None or s.roll or s.tup is not None:
        return None     # (a chord in a tuplet: music21 makes a bar of 1/12 of it; the corpora have none)
    nxt = read_note((), ch)
    return None if nxt is None else s._replace(tok=("chord", None, nxt, 0), barend=False,
                                               acc=nxt[1] if nxt[0] == "acc" else "")


def _in_tuplet(g, s: Body, ch: str) -> Body | None:
    text = s.tok[1]
    if text == "":
        if ch in "23456789":     # a tuplet: never inside another, nor after > (abc2midi); its notes must fit
            fits = s.meter is None or s.pos + int(ch) * SHORTEST * s.unit <= s.meter
            # (nor while a chord's tie waits: only a chord can hold it, and a tuplet holds none)
            return s._replace(tok=("tup", ch)) if s.tup is None and s.brk == 1 and fits and not s.wait else None
        if s.slurs >= 2:
            return None
        return between(g, s._replace(tok=(), slurs=s.slurs + 1, span=s.span if s.slurs else 0), ch)
    if (ch == ":" and text.count(":") < 2) or (ch in "123456789" and text[-1] == ":"):
        return s._replace(tok=("tup", text + ch)) if _tuplet_fits(s, text + ch) else None
    found = tuplet(text, s.compound)
    if found is None or s.tup is not None or s.brk != 1:
        return None
    if s.meter is not None and not _fillable((s.meter - s.pos) / (SHORTEST * s.unit), found):
        return None       # its notes must fit the bar
    return between(g, s._replace(tok=(), tup=found), ch)


def between(g, s: Body, ch: str) -> Body | None:
    """A character that begins a token (or stands alone) after the last token ended. Past GAP_LIMIT
    characters without a note only a note, rest, chord, bar line or line end may begin."""
    if s.gap >= GAP_LIMIT and not (ch in NOTES or ch in RESTS or ch in "^_=[|:)\n"):
        return None
    if s.ls and ch.isalpha() and (ch in NOTES or ch in RESTS or ch in DECORATIONS or
                                  (ch in FIELD_LINE_LETTERS and ch in g.letters)):
        return s._replace(tok=("line", ch))     # a field line, if a colon follows
    if ch in NOTES or ch in RESTS or ch in "^_=":
        return _in_note(g, s._replace(tok=()) if s.tok else s, ch)   # (its callers have ended the token before)
    if ch in DECORATIONS:
        return _decoration(s, ch)
    if ch == " ":     # a tie may follow a space ("A -A"); a broken rhythm not
        return _SPACED(s, None if s.last is None else (*s.last[:2], True, *s.last[3:]), False, s.ls or s.lead)
    if ch == "\n":
        if s.ls or s.lead:     # an empty line, or one of spaces, ends an ABC tune
            return None
        if s.filled and s.meter is not None and s.pos == s.meter:   # music21 ends a full bar at a line's end,
            s = None if s.full else _close_bar(s, "|")   # but not twice with no bar line between (it runs on)
            if s is None:
                return None
            s = s._replace(full=True)
        return _LINE_END(s, True, None)
    if ch == "\\":
        return s._replace(tok=("esc",))
    if ch in "|:":
        if not any(b.startswith(ch) and _close_bar(s, b) is not None for b in BARS):
            return None
        return _BAR_BEGUN(s, ("bar", ch), False)
    if ch == "[":
        return s._replace(tok=("lbr",), last=None, ls=False)
    if ch == '"' and s.meter is not None and s.pos == s.meter and any(_close_bar(s, b) is not None for b in BARS):
        return s._replace(tok=("quote", "|"), last=None, ls=False, barend=False)   # `"^Segno"|`: see _in_quote
    if ch in '!{"(' and (not _note_fits(s) or (ch == "{" and (s.grace or s.tie is not None or s.wait
                                                                or s.tup is not None))):
        return None    # decorations, grace notes, chord symbols, slurs, tuplets: a note must fit after them
        # (no grace notes while a tie waits, a chord's too: abc2midi "Could not find note to be tied")
    simple = {'"': ("quote", ""), "!": ("bang", "!"), "{": ("grace", 0, ()), "(": ("tup", "")}
    if ch in simple:
        return _OPENED(s, simple[ch], None, False, False)
    if ch == ")":     # `(eg)>a`: a broken rhythm may follow (the note before is kept without its pitch: no tie)
        return s._replace(slurs=s.slurs - 1, last=None if s.last is None else (s.last[0], None, *s.last[2:])) \
            if s.slurs else None
    if ch == "-" and s.last is not None and s.last[1] not in (None, "[") and not s.last[5]:   # abc2midi: not staccato
        return s._replace(tie=s.last[1], tacc=s.last[4], last=None)
    # (not after a note of a tuplet: its pair would not add up to a whole length)
    if ch in "<>" and s.last is not None and not s.last[2] and s.tup is None and s.last[0] == s.last[3] * s.unit:
        # the pair takes twice the first note's length: the second note must fit the bar too
        if s.meter is not None and s.pos + s.last[0] > s.meter:
            return None
        # a hornpipe's unit-length notes abc2midi pairs from each two units: a pair across them it refuses
        if s.swing and s.last[3] == 1 and ((s.pos - s.last[0]) / (2 * s.unit)).denominator != 1:
            return None
        return s._replace(tok=("brk", ch, s.last[0], s.last[3], None if s.last[1] == "[" else s.last[5]), last=None)
    return None


def _in_broken(g, s: Body, ch: str) -> Body | None:
    """`a>b`: the note before takes 3/2 (>>: 7/4) of its length, the next 1/2 (1/4); `<` the other way."""
    _, marks, before, units, mark = s.tok
    if ch == marks[0] and len(marks) < 2:
        return s._replace(tok=("brk", marks + ch, before, units, mark))
    if ch == ")" and s.slurs and not marks.endswith(")"):    # `(Gc>)d`: a slur closed between the pair
        return s._replace(tok=("brk", marks + ch, before, units, mark), slurs=s.slurs - 1)
    marks = marks.rstrip(")")
    if mark == ".":       # the staccato that pairs comes first (as the corpora write `.B>.c`)
        if ch != ".":
            return None
    elif ch not in NOTES and ch not in RESTS and ch not in "^_=(\"{" and ch not in "~uvT":
        return None
    shrink = Fraction(1, 2 ** len(marks))
    left, right = (2 - shrink, shrink) if marks[0] == ">" else (shrink, 2 - shrink)
    pos = s.pos + before * (left - 1)
    if s.meter is not None and pos >= s.meter:
        return None
    return between(g, s._replace(tok=(), pos=pos, brk=right, pair=units, pmark=mark), ch)


def _decorated(g, s: Body, ch: str) -> Body | None:
    """After a decoration: a note, a chord or another decoration."""
    if ch == "[":
        return s._replace(tok=("lbr", "deco"), ls=False) if _note_fits(s) else None
    if ch in NOTES or ch in "^_=" or ch in DECORATIONS:
        return between(g, s._replace(tok=(), ls=False), ch)
    return None


def _line_letter(g, s: Body, ch: str) -> Body | None:
    """A line starting with a letter: a field line `K:D`, or music (a note, a decoration)."""
    letter = s.tok[1]
    if ch == ":":     # (music21 and abc2midi read any letter and colon that begin a line as a field)
        if (letter not in FIELD_LINE_LETTERS or letter not in g.letters or (letter == "P" and not may_label(s))
                or (letter in "ML" and (s.filled or s.tup is not None))
                or (letter == "K" and (s.tie is not None or s.wait))):
            return None
        s = _part_closes(s, continued=len(s.tok) == 3) if s.filled else s  # (3 items: a continued line)
        return None if s is None else s._replace(tok=("field", letter, ""), ls=False)
    if letter in DECORATIONS:
        marked = _decoration(s._replace(tok=()), letter)
        return None if marked is None else _decorated(g, marked, ch)
    if letter in NOTES or letter in RESTS:
        begun = _in_note(g, s._replace(tok=()), letter)
        return None if begun is None else _in_note(g, begun, ch)
    return None


def _in_ending(g, s: Body, ch: str) -> Body | None:
    """After an ending's number: one number (no corpus writes a range or list, `[1-3`, `[1,3`, and abc2midi
    refuses a later ending whose number one covered: "Cannot find :| || [| or |] to close variant ending")."""
    if s.filled and ch in "|:":
        return None           # an ending begun inside a bar holds a note before the bar line
    return between(g, s._replace(tok=()), ch)


READERS = {"n": _in_note, "acc": _in_note, "chord": _in_chord, "clen": _chord_length, "grace": _in_grace,
           "bar": _in_bar, "lbr": _in_bracket, "field": _in_field, "ifield": _in_field, "tup": _in_tuplet,
           "brk": _in_broken, "pre": _decorated, "line": _line_letter, "ending": _in_ending}


def body_step(g, s: Body, ch: str) -> Body | None:
    """The state after `ch`, or None where it is forbidden."""
    if (nxt := _read(g, s, ch)) is None:
        return None
    lead = nxt.lead and ch != " "
    if nxt.gap != s.gap:     # a note or rest ended
        return nxt._replace(lead=False) if lead else nxt
    # a token begun before the limit may end (a field value, a chord symbol, an annotation: each
    # is bounded); the count stops at three limits, where nothing is left to be read
    if s.gap >= 3 * GAP_LIMIT:
        return None
    values = list(nxt)       # (the fields set in place: this runs at almost every character)
    values[GAP] = s.gap + 1
    if lead:
        values[LEAD] = False
    return tuple.__new__(Body, values)


def _read(g, s: Body, ch: str) -> Body | None:
    if not s.tok:
        return between(g, s, ch)
    kind = s.tok[0]
    reader = READERS.get(kind)     # (a note's, mostly: looked up first)
    if reader is not None:
        return reader(g, s, ch)
    if kind in ("quote", "bang"):
        return (_in_quote if kind == "quote" else _in_bang)(s, ch)
    if kind == "esc":
        return s._replace(tok=("cont",)) if ch == "\n" else None
    if kind == "bar-next":     # an annotation after a full bar's last note: its bar line, after a space or
        # another annotation (Ryan's `dBB2 "^Segno" |`, `"^Segno""_D.S."|`) before the gap's first limit (an
        # annotation's words end before its second: see _in_quote)
        if ch in ' "' and s.gap < GAP_LIMIT:
            return s if ch == " " else s._replace(tok=("quote", "|"))
        return between(g, s._replace(tok=()), ch) if ch in "|:" else None
    if kind == "cont":
        # a continued line: not empty (that would end the tune); of fields only K: M: L: P: (the corpus's; abc2midi
        # reads T: there as music). Its spaces are a line begun's: `lead` refuses the line's end after them alone
        nxt = None if ch == "\n" else between(g, s._replace(tok=(), ls=ch in "KMLP", lead=True), ch)
        return nxt._replace(tok=(*nxt.tok, "cont")) if nxt is not None and nxt.tok[:1] == ("line",) else nxt
    raise AssertionError(f"no reader for the token {s.tok!r}")


