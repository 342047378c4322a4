"""The **kern reader's data fields: notes, rests, chords and their durations against the bar"""

from __future__ import annotations

from tunesmith.codecs.kern_tokens import (DYNAMICS, MAX_DOTS, MAX_OCTAVE, MAX_PREFIX, MAX_SIGNIFIERS, MIDDLE, PITCHES, PREFIX, SUFFIX, State, dotted)


class KernFields:
    """The **kern reader's data fields (a part of KernConstraint)."""

    def _can_merge(self, s: State) -> bool:
        """A `*v` in field `s.field`: it continues a run of merges (same kind, same place in the bar) or
        starts one that the next field can join, one of the two from a split and neither a spine that
        never split (music21 cannot merge two spines that were never split, and runs a voice merged
        into a spine that never split over its bars). Voices of two spines of the first line (the left
        hand's and the right's) may merge, as the sonatas do before their last bar, but music21 then
        runs the other voice of the second spine over the bars after the next: that marker is the last
        (`State.cross`), and it loses its final barline, so not after a short bar that needs one."""
        i = s.field
        if s.kinds is None:
            return False
        if s.codes and s.codes[-1] in ("v", "v?"):
            j = i - 1
            return s.kinds[i] == s.kinds[j] and s.pos[i] == s.pos[j] and not self._late_cross(s, i, j)
        j = i + 1
        return (j < len(s.kinds) and s.kinds[i] == s.kinds[j] and s.pos[i] == s.pos[j]
                and (s.split[i] or s.split[j]) and (not s.ever or (s.ever[i] and s.ever[j]))
                and not self._late_cross(s, i, j))

    @staticmethod
    def _late_cross(s: State, i: int, j: int) -> bool:
        """Spines i and j come from two first-line spines while a short bar needs this bar's barline."""
        return s.owe and bool(s.root) and s.root[i] != s.root[j]

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
            elif kind in ("B", "BR", "C"):
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
        ("E", g, ticks, n)            n signifiers between its duration and its pitch (`q`: a grace note)
        ("B", letter, count, signs, ticks)    its pitch (letter repeated count times, or "r"; "BR" for a rest
                                      placed on a pitch) and `signs` signifiers after it; ticks: its
                                      duration (0: a grace note; -1: it must become one before the field
                                      ends)
        ("CP", n, ticks), ("CR", digits, ticks), ("CD", dots, ticks), ("CE", n, ticks), ("C", letter, count,
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
        if kind in ("B", "BR"):
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
        ticks, count = fs[2], fs[3]
        if ch in MIDDLE:      # (a run of them is bounded as the prefix is)
            return s._replace(fs=("E", grace, 0 if ch in "qQ" else ticks, count + 1)) if count < MAX_PREFIX else None
        return self._pitch(s, ch, ticks, chord=False)

    def _after_duration(self, s: State, grace: int, ticks: int, room: int, ch: str):
        if grace:
            ticks = -1                # a grace note it must be
        elif ticks > room or not self.fillable(room - ticks):
            return None               # it overflows the bar, or leaves a rest of it no note can fill
        if ch in MIDDLE:
            return s._replace(fs=("E", grace, 0 if ch in "qQ" else ticks, 1))
        return self._pitch(s, ch, ticks, chord=False)

    def _pitch(self, s: State, ch: str, ticks: int, chord: bool):
        if ch in PITCHES or (ch == "r" and not chord):
            return s._replace(fs=("C" if chord else "B", ch, 1, 0, ticks), note=True)
        return None

    def _body(self, s: State, fs: tuple, ch: str, chord: bool):
        _, letter, count, signs, ticks = fs
        tag = fs[0]      # "B", "C" (a further note of a chord), "BR" (a rest placed on a pitch)
        if ch in PITCHES or ch == "r":
            if signs:
                return None
            if letter == "r" and ch != "r" and count == 1:
                return s._replace(fs=("BR", ch, 1, 0, ticks))      # a rest placed on a pitch: 4rG
            if ch == letter and count < MAX_OCTAVE:
                return s._replace(fs=(tag, letter, count + 1, 0, ticks))
            return None
        if ch == " ":   # the next note of a chord (not after a rest: music21 drops the rest and times the
            # chord by the note after it, "8rA/q 4E" a quarter where the grammar counted a grace note)
            return s._replace(fs=("CP", 0, ticks)) if ticks >= 0 and letter != "r" and tag != "BR" else None
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
                return s._replace(fs=("CP", fs[1] + 1, ticks)) if fs[1] < MAX_PREFIX else None
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
            count = fs[1] if kind == "CE" else 0
            return s._replace(fs=("CE", count + 1, ticks)) if count < MAX_PREFIX else None
        return self._pitch(s, ch, ticks, chord=True)
